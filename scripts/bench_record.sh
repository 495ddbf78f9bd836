#!/usr/bin/env bash
# Recording benchmark: worker CPU per stream with `record all` (and `hls on`, as deployed) for
# our module against Debian's libnginx-mod-rtmp (the C module), one nginx per module (never
# both in one nginx), run alternately, worker_processes 1. Publishers are ffmpeg
# `-re -stream_loop -1 -i in.flv -c copy -f flv`, N of them (RECORD_PUBS, default "1 5").
# Recordings and HLS go to a tmpfs (/dev/shm) so that the disk does not set the pace; they
# are deleted after each run.
#
# Figures: medians of RECORD_REPS alternating rounds of the worker's on-CPU time (all
# threads, /proc/PID/task/*/schedstat) over RECORD_WINDOW seconds after RECORD_WARMUP, per
# stream; beside them the bytes the recordings hold at the end of the window (a check that
# both recorded, counted against neither).
#
#   scripts/bench_record.sh            # ~2.5 minutes; run by scripts/bench.sh at its end
#   NGX_RTMP_MODULE=/path/libngx_rtmp.so RECORD_REPS=1 scripts/bench_record.sh
#   RECORD_IMPLS=c scripts/bench_record.sh        # the C module only
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/target/bench/record"
REPS="${RECORD_REPS:-3}"
IMPLS="${RECORD_IMPLS:-rs c}"
PUBS="${RECORD_PUBS:-1 5}"
WARMUP="${RECORD_WARMUP:-3}"
WINDOW="${RECORD_WINDOW:-8}"
C_MODULE=/usr/lib/nginx/modules/ngx_rtmp_module.so
NGINX=/usr/sbin/nginx
FFMPEG="$(command -v ffmpeg)"
log() { echo "bench_record.sh: $*" >&2; }

# shellcheck source=scripts/load_common.sh
. "$ROOT/scripts/load_common.sh"
[[ " $IMPLS " == *" rs "* ]] && module_copy ngx_rtmp_rs.so
FLV="$ROOT/target/bench/in.flv"
mkdir -p "$(dirname "$FLV")"
make_flv "$FLV"

SHM="$(mktemp -d /dev/shm/bench-record.XXXXXX)"
mkdir -p "$OUT"
port_rs=$((20000 + RANDOM % 20000))
port_c=$((port_rs + 1))

write_conf() { # impl module port
    local p="$OUT/$1"
    rm -rf "$p"
    mkdir -p "$p/logs" "$SHM/$1/hls" "$SHM/$1/rec"
    # Workers run as the config's user: let them write the tmpfs.
    chmod -R 777 "$SHM"
    {
        conf_main "$2" "$p" 1024
        cat <<EOF
rtmp {
    server {
        listen 127.0.0.1:$3;
        chunk_size 4096;
        application live {
            live on;
            hls on;
            hls_path $SHM/$1/hls;
            hls_fragment 2s;
            hls_playlist_length 20s;
            record all;
            record_path $SHM/$1/rec;
        }
    }
}
EOF
    } >"$p/nginx.conf"
    conf_check "$p" || exit 1
}

MASTER=""
WORKER=""
PUBS_PIDS=()
start_nginx() { # impl
    local p="$OUT/$1"
    rm -rf "${SHM:?}/$1/hls/"* "${SHM:?}/$1/rec/"* "$p/nginx.pid"
    setsid "$NGINX" -p "$p" -c "$p/nginx.conf" </dev/null >/dev/null 2>&1 &
    MASTER=$!
    WORKER=""
    for _ in $(seq 100); do
        WORKER="$(pgrep -P "$MASTER" | head -1 || true)"
        [[ -n $WORKER ]] && break
        sleep 0.05
    done
    [[ -n $WORKER ]] || { log "$1: nginx did not start"; tail "$p/logs/error.log" >&2; exit 1; }
    sleep 0.3
}
stop_all() {
    local pid
    for pid in "${PUBS_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PUBS_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    PUBS_PIDS=()
    [[ -n $MASTER ]] || return 0
    kill -QUIT "$MASTER" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$MASTER" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$MASTER" 2>/dev/null || true
    wait "$MASTER" 2>/dev/null || true
    [[ -n $WORKER ]] && kill -KILL "$WORKER" 2>/dev/null || true
    MASTER=""
}
cleanup() {
    stop_all
    rm -rf "$SHM"
}
trap cleanup EXIT

cpu_ns() { cat "/proc/$1/task/"*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%.0f", s}'; }

RES="$OUT/results.tsv"
printf 'impl\tn\trep\tworker_cpu_pct\tcpu_per_stream_pct\trecorded_kb\tfiles\tload1\n' >"$RES"

run_one() { # impl n rep
    local impl=$1 n=$2 rep=$3 port i
    [[ $impl == rs ]] && port=$port_rs || port=$port_c
    start_nginx "$impl"
    for i in $(seq "$n"); do
        nice "$FFMPEG" -hide_banner -nostdin -loglevel error -re -stream_loop -1 -i "$FLV" -c copy \
            -f flv "rtmp://127.0.0.1:$port/live/bench$i" </dev/null >/dev/null 2>&1 &
        PUBS_PIDS+=($!)
    done
    sleep "$WARMUP"
    local w1 w2 kb files load cpu per
    w1=$(cpu_ns "$WORKER")
    sleep "$WINDOW"
    w2=$(cpu_ns "$WORKER")
    kb=$(du -sk "$SHM/$impl/rec" | cut -f1)
    files=$(find "$SHM/$impl/rec" -type f | wc -l)
    load=$(cut -d' ' -f1 /proc/loadavg)
    stop_all
    rm -rf "${SHM:?}/$impl/rec/"* "${SHM:?}/$impl/hls/"*
    cpu=$(awk -v a="$w1" -v b="$w2" -v w="$WINDOW" 'BEGIN {printf "%.2f", (b - a) / 1e9 / w * 100}')
    per=$(awk -v c="$cpu" -v n="$n" 'BEGIN {printf "%.3f", c / n}')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$impl" "$n" "$rep" "$cpu" "$per" "$kb" "$files" "$load" >>"$RES"
    log "$impl n=$n rep=$rep worker=$cpu% per stream=$per% recorded=${kb}kB in $files file(s) load=$load"
}

[[ " $IMPLS " == *" rs "* ]] && write_conf rs "$OUT/ngx_rtmp_rs.so" "$port_rs"
[[ " $IMPLS " == *" c "* ]] && write_conf c "$C_MODULE" "$port_c"

log "record all + hls; ours on :$port_rs, C module on :$port_c; reps=$REPS pubs=($PUBS); $(nproc) cores"
for rep in $(seq "$REPS"); do
    for n in $PUBS; do
        for impl in $IMPLS; do run_one "$impl" "$n" "$rep"; done
    done
done

/usr/bin/python3 - "$RES" "$PUBS" <<'EOF' | tee "$OUT/table.txt"
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter='\t'))
def med(impl, n, k):
    v = [float(r[k]) for r in rows if r['impl'] == impl and r['n'] == n]
    return statistics.median(v) if v else float('nan')
print("record all + hls (720p30 2.6 Mb/s, ffmpeg -re -c copy publishers), medians")
print(f"{'':34}{'ours':>10}{'C module':>10}{'ratio':>8}")
for n in sys.argv[2].split():
    for k, label in [('cpu_per_stream_pct', f'worker CPU per stream, N={n} %'),
                     ('recorded_kb', f'recorded at window end, N={n} kB')]:
        a, b = med('rs', n, k), med('c', n, k)
        ratio = f"{a / b:.2f}x" if b == b and b and a == a else "-"
        print(f"{label:34}{a:>10.2f}{b:>10.2f}{ratio:>8}")
EOF
