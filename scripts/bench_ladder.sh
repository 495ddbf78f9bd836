#!/usr/bin/env bash
# Ladder benchmark: one 720p30 publish turned into three encoded renditions (480p, 360p, 240p)
# plus the source, HLS out, for our module (`hls_rendition`, encoders run and fed by the
# module through pipes) against Debian's libnginx-mod-rtmp running nginx-rtmp's own recipe
# (`exec ffmpeg` publishing `$name_480p/_360p/_240p/_src` back over RTMP into an application
# with `hls_variant` lines). Each rendition's encoder arguments are the same in both.
#
# Figures per run (medians of LADDER_REPS runs, alternating): the nginx worker's CPU and RSS,
# and, beside them and counted against neither, the encoders' CPU (all threads of every
# ffmpeg the worker started) and the publisher's. worker_processes 1.
#
#   scripts/bench_ladder.sh            # ~3 minutes; run by scripts/bench.sh at its end
#   NGX_RTMP_MODULE=/path/libngx_rtmp.so LADDER_REPS=1 scripts/bench_ladder.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/target/bench/ladder"
REPS="${LADDER_REPS:-3}"
IMPLS="${LADDER_IMPLS:-rs c}"
WARMUP="${LADDER_WARMUP:-8}" # encoders start and settle
WINDOW="${LADDER_WINDOW:-10}"
C_MODULE=/usr/lib/nginx/modules/ngx_rtmp_module.so
NGINX=/usr/sbin/nginx
FFMPEG="$(command -v ffmpeg)"
log() { echo "bench_ladder.sh: $*" >&2; }

# shellcheck source=scripts/load_common.sh
. "$ROOT/scripts/load_common.sh"
module_copy ngx_rtmp_rs.so
FLV="$OUT/in.flv"
make_flv "$FLV"

# The renditions: name height video-bitrate. The encoder arguments of one rendition are
# what our module passes to its ffmpeg (src/transcode/args.rs); the C module's recipe runs
# the same ones as outputs of its single exec'd ffmpeg.
RENDITIONS=("480p 480 1200k" "360p 360 700k" "240p 240 400k")
encoder_args() { # height bitrate
    local h=$1 b=$((${2%k} * 1000))
    echo "-map 0:v:0 -map 0:a:0? -c:v libx264 -preset veryfast -tune zerolatency -pix_fmt yuv420p" \
        "-vf scale=-2:$h -fps_mode passthrough -enc_time_base:v 1:1000 -force_key_frames source" \
        "-forced-idr 1 -sc_threshold 0 -g 1000000 -keyint_min 1000000 -b:v $b -maxrate $b" \
        "-bufsize $((b * 2)) -c:a aac -b:a 128000"
}

port_rs=$((20000 + RANDOM % 20000))
port_c=$((port_rs + 1))

write_conf() { # impl module port apps
    local p="$OUT/$1"
    rm -rf "$p"
    mkdir -p "$p/logs" "$p/hls" "$p/tmp"
    {
        conf_main "$2" "$p" 1024
        cat <<EOF
rtmp {
    server {
        listen 127.0.0.1:$3;
        chunk_size 4096;
$4
    }
}
EOF
    } >"$p/nginx.conf"
    conf_check "$p" || exit 1
}

rs_apps="        application live {
            live on;
            hls on;
            hls_path $OUT/rs/hls;
            hls_fragment 2s;
            transcode_ffmpeg $FFMPEG;"
for r in "${RENDITIONS[@]}"; do
    read -r name h b <<<"$r"
    rs_apps+="
            hls_rendition $name height=$h bitrate=$b;"
done
rs_apps+="
        }"

c_exec="exec $FFMPEG -hide_banner -loglevel warning -i rtmp://127.0.0.1:$port_c/live/\$name"
c_variants=""
for r in "${RENDITIONS[@]}"; do
    read -r name h b <<<"$r"
    c_exec+=" $(encoder_args "$h" "$b") -f flv rtmp://127.0.0.1:$port_c/hls/\$name_$name"
    c_variants+="
            hls_variant _$name BANDWIDTH=$((${b%k} * 1000 + 128000));"
done
c_exec+=" -map 0 -c copy -f flv rtmp://127.0.0.1:$port_c/hls/\$name_src"
c_apps="        application live {
            live on;
            $c_exec;
        }
        application hls {
            live on;
            hls on;
            hls_path $OUT/c/hls;
            hls_fragment 2s;
            hls_variant _src BANDWIDTH=2700000;$c_variants
        }"

[[ " $IMPLS " == *" rs "* ]] && write_conf rs "$OUT/ngx_rtmp_rs.so" "$port_rs" "$rs_apps"
[[ " $IMPLS " == *" c "* ]] && write_conf c "$C_MODULE" "$port_c" "$c_apps"

MASTER=""
WORKER=""
PUB=""
start_nginx() { # impl
    local p="$OUT/$1"
    rm -rf "$p/hls"/* "$p/nginx.pid"
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
    [[ -n $PUB ]] && kill "$PUB" 2>/dev/null && wait "$PUB" 2>/dev/null || true
    PUB=""
    [[ -n $MASTER ]] || return 0
    kill -QUIT "$MASTER" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$MASTER" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$MASTER" 2>/dev/null || true
    wait "$MASTER" 2>/dev/null || true
    [[ -n $WORKER ]] && kill -KILL "$WORKER" 2>/dev/null || true
    MASTER=""
}
trap 'stop_all' EXIT

# CPU time of a process, all its threads, ns.
cpu_ns() { cat "/proc/$1/task/"*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%.0f", s}'; }
# CPU time of every process the worker started (the encoders), ns.
children_cpu_ns() {
    local total=0 pid
    for pid in $(pgrep -P "$WORKER" || true); do total=$((total + $(cpu_ns "$pid"))); done
    echo "$total"
}
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
pct() { awk -v a="$1" -v b="$2" -v w="$WINDOW" 'BEGIN {printf "%.1f", (b - a) / 1e9 / w * 100}'; }

RES="$OUT/results.tsv"
printf 'impl\trep\tworker_cpu_pct\tworker_rss_kb\tencoders\tencoders_cpu_pct\tpublisher_cpu_pct\tplaylists\tload1\n' >"$RES"

run_one() { # impl rep
    local impl=$1 rep=$2 port
    [[ $impl == rs ]] && port=$port_rs || port=$port_c
    start_nginx "$impl"
    nice "$FFMPEG" -hide_banner -nostdin -loglevel error -re -stream_loop -1 -i "$FLV" -c copy -f flv \
        "rtmp://127.0.0.1:$port/live/bench" </dev/null >/dev/null 2>&1 &
    PUB=$!
    sleep "$WARMUP"
    local w1 c1 p1 w2 c2 p2 n rss playlists load
    w1=$(cpu_ns "$WORKER") c1=$(children_cpu_ns) p1=$(cpu_ns "$PUB")
    sleep "$WINDOW"
    w2=$(cpu_ns "$WORKER") c2=$(children_cpu_ns) p2=$(cpu_ns "$PUB")
    n=$(pgrep -c -P "$WORKER" || true)
    rss=$(rss_kb "$WORKER")
    # Media playlists with at least one segment listed: the source and each rendition.
    playlists=$(grep -l '^#EXTINF' "$OUT/$impl/hls/"bench_*.m3u8 2>/dev/null | wc -l)
    load=$(cut -d' ' -f1 /proc/loadavg)
    stop_all
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$impl" "$rep" "$(pct "$w1" "$w2")" "$rss" "$n" \
        "$(pct "$c1" "$c2")" "$(pct "$p1" "$p2")" "$playlists" "$load" >>"$RES"
    log "$impl rep=$rep worker=$(pct "$w1" "$w2")% rss=${rss}kB encoders=$n ($(pct "$c1" "$c2")%) playlists=$playlists load=$load"
}

log "3-rendition ladder; ours on :$port_rs, C module on :$port_c; reps=$REPS; $(nproc) cores"
for rep in $(seq "$REPS"); do
    for impl in $IMPLS; do run_one "$impl" "$rep"; done
done

/usr/bin/python3 - "$RES" <<'EOF' | tee "$OUT/table.txt"
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter='\t'))
def med(impl, k):
    v = [float(r[k]) for r in rows if r['impl'] == impl]
    return statistics.median(v) if v else float('nan')
print("3-rendition ladder (720p30 source -> 480p/360p/240p + source, HLS), medians")
print(f"{'':24}{'ours':>10}{'C module':>10}{'ratio':>8}")
for k, label, unit in [('worker_cpu_pct', 'nginx worker CPU', '%'),
                       ('worker_rss_kb', 'nginx worker RSS', 'kB'),
                       ('encoders_cpu_pct', 'encoders CPU (beside)', '%'),
                       ('encoders', 'encoder processes', ''),
                       ('publisher_cpu_pct', 'publisher CPU (beside)', '%'),
                       ('playlists', 'media playlists live', '')]:
    a, b = med('rs', k), med('c', k)
    ratio = f"{a / b:.2f}x" if b else "-"
    print(f"{label + (' ' + unit if unit else ''):24}{a:>10.1f}{b:>10.1f}{ratio:>8}")
EOF
