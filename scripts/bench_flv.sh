#!/usr/bin/env bash
# HTTP-FLV benchmark: HTTP-FLV players per core against our RTMP players per core, one
# publisher (the bench input: 720p30 H.264 2.5 Mb/s + AAC, looped by rtmp-load) and M players
# (FLV_PLAYERS, default 200) on one worker (worker_processes 1, no HLS: players only):
#   rtmp      — M RTMP players of rtmp-load (ours), each draining its socket as fast as it can
#   http-flv  — M curl processes reading /flv?app=live&stream=NAME to /dev/null (a client we
#               did not write, draining as fast as it can)
#   http-drain — one process (python asyncio, below) holding the M HTTP-FLV connections and
#               draining them as fast as it can: like rtmp-load, one reader process for all
#               players, so the kernel wakes one reader instead of M (with M curl processes
#               much of the worker's time is the kernel waking each reader: sock_def_readable)
# CPU per player = (worker CPU with M players - worker CPU with the publisher alone) / M, from
# /proc/PID/schedstat over FLV_WINDOW seconds after FLV_WARMUP; players per core = 1 / that.
# Each run checks that the players got the stream (bytes per player against the stream's
# bitrate over the run); medians of FLV_REPS rounds, configurations alternating in a round.
#
#   scripts/bench_flv.sh                 # ~4 minutes; run by scripts/bench.sh at its end
#   NGX_RTMP_MODULE=/path/libngx_rtmp.so FLV_REPS=1 FLV_PLAYERS=50 scripts/bench_flv.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/target/bench/flv"
REPS="${FLV_REPS:-3}"
M="${FLV_PLAYERS:-200}"
WARMUP="${FLV_WARMUP:-4}"
WINDOW="${FLV_WINDOW:-8}"
log() { echo "bench_flv.sh: $*" >&2; }

command -v curl >/dev/null || { log "curl is missing (apt-get install curl)"; exit 1; }
# shellcheck source=scripts/load_common.sh
. "$ROOT/scripts/load_common.sh"
mkdir -p "$OUT"
module_copy ngx_rtmp_rs.so
build_load
FLV="$ROOT/target/bench/in.flv"
make_flv "$FLV"

port=$((20000 + RANDOM % 20000))
http_port=$((port + 1))
p="$OUT/nginx"
rm -rf "$p"
mkdir -p "$p/logs" "$p/tmp"
{
    conf_main "$OUT/ngx_rtmp_rs.so" "$p" 8192
    cat <<EOF
rtmp {
    server {
        listen 127.0.0.1:$port;
        chunk_size 4096;
        application live { live on; }
    }
}
http {
    access_log off;
    client_body_temp_path $p/tmp;
    server {
        listen 127.0.0.1:$http_port;
        location /flv { flv_live on; }
    }
}
EOF
} >"$p/nginx.conf"
conf_check "$p"

# The drain reader: M connections in one process, each read as fast as it comes; prints the
# bytes each received, one line per connection.
cat >"$OUT/drain.py" <<'PY'
import asyncio, sys

port, path, m, secs = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])


async def one():
    got = 0
    try:
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        while True:
            b = await r.read(1 << 18)
            if not b:
                break
            got += len(b)
    except (OSError, asyncio.CancelledError):
        pass
    return got


async def main():
    tasks = [asyncio.ensure_future(one()) for _ in range(m)]
    await asyncio.wait(tasks, timeout=secs)
    for t in tasks:
        t.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    for r in results:
        print(r if isinstance(r, int) else 0)


asyncio.run(main())
PY

MASTER=""
WORKER=""
stop() {
    [[ -n $MASTER ]] && nginx_down "$MASTER"
    MASTER=""
}
trap stop EXIT

cpu_ns() { awk '{print $1}' "/proc/$1/schedstat"; }

RES="$OUT/results.tsv"
printf 'kind\tm\trep\tcpu_pct\tok\tmbit_per_player\n' >"$RES"

run_one() { # kind rep
    local kind=$1 rep=$2 name="s$2$1" lp dur t1 t2 ok=0 mbit=0 pids=()
    read -r MASTER WORKER < <(nginx_up "$p")
    dur=$((WARMUP + WINDOW + 1))
    local players=0
    [[ $kind == rtmp ]] && players=$M
    "$LOAD" --url "rtmp://127.0.0.1:$port/live" --flv "$FLV" --publishers 1 --players "$players" \
        --duration "$dur" --name "$name" --player-delay-ms 1500 --quiet >"$OUT/load-$kind-$rep.txt" 2>&1 &
    lp=$!
    local waited=0
    if [[ $kind == http-drain ]]; then
        sleep 1.5
        waited=1.5
        /usr/bin/python3 "$OUT/drain.py" "$http_port" "/flv?app=live&stream=${name}0" "$M" $((dur - 2)) \
            >"$OUT/drain-$rep.txt" 2>&1 &
        pids+=($!)
    fi
    if [[ $kind == http-flv ]]; then
        # The players join 1.5 s in, as rtmp-load's do.
        sleep 1.5
        waited=1.5
        rm -f "$OUT"/curl-*.txt
        for i in $(seq "$M"); do
            curl -s -o /dev/null -w '%{size_download}\n' --max-time $((dur - 1)) \
                "http://127.0.0.1:$http_port/flv?app=live&stream=${name}0" >"$OUT/curl-$i.txt" 2>/dev/null &
            pids+=($!)
        done
    fi
    sleep "$(awk -v w="$WARMUP" -v d="$waited" 'BEGIN {print w - d}')"
    t1=$(cpu_ns "$WORKER")
    sleep "$WINDOW"
    t2=$(cpu_ns "$WORKER")
    wait "$lp" || true
    for pid in "${pids[@]}"; do wait "$pid" || true; done
    stop
    local cpu
    cpu=$(awk -v a="$t1" -v b="$t2" -v w="$WINDOW" 'BEGIN {printf "%.3f", (b - a) / 1e9 / w * 100}')
    case $kind in
        rtmp)
            ok=$(grep '^SUMMARY' "$OUT/load-$kind-$rep.txt" | tr ' ' '\n' | awk -F= '$1 == "players_ok" {print $2}')
            mbit=-
            ;;
        http-flv)
            # A player got the stream when it received at least half of 2.6 Mb/s over its time.
            ok=$(cat "$OUT"/curl-*.txt | awk -v s=$((dur - 2)) '$1 * 8 / 1e6 / s >= 1.3 {n++} END {print n + 0}')
            mbit=$(cat "$OUT"/curl-*.txt | awk -v s=$((dur - 2)) '{t += $1} END {if (NR) printf "%.2f", t * 8 / 1e6 / s / NR}')
            ;;
        http-drain)
            ok=$(awk -v s=$((dur - 2)) '$1 * 8 / 1e6 / s >= 1.3 {n++} END {print n + 0}' "$OUT/drain-$rep.txt")
            mbit=$(awk -v s=$((dur - 2)) '{t += $1} END {if (NR) printf "%.2f", t * 8 / 1e6 / s / NR}' "$OUT/drain-$rep.txt")
            ;;
        *) ok=- mbit=- ;;
    esac
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$kind" "$M" "$rep" "$cpu" "${ok:-0}" "$mbit" >>"$RES"
    log "$kind m=$M rep=$rep cpu=${cpu}% players_ok=${ok:-0} Mbit/s per player=$mbit loadavg=$(cut -d' ' -f1 /proc/loadavg)"
}

log "machine: $(nproc) cores, loadavg $(cat /proc/loadavg); M=$M reps=$REPS"
for rep in $(seq "$REPS"); do
    for kind in alone rtmp http-flv http-drain; do run_one "$kind" "$rep"; done
done

/usr/bin/python3 - "$RES" "$M" <<'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
m = int(sys.argv[2])
def med(kind):
    v = [float(r["cpu_pct"]) for r in rows if r["kind"] == kind]
    return statistics.median(v) if v else float("nan")
alone = med("alone")
print(f"HTTP-FLV against RTMP players (1 worker, 1 publisher 720p30 2.6 Mb/s, M={m}; medians of {len([r for r in rows if r['kind'] == 'alone'])})")
print(f"  publisher alone: worker CPU {alone:.1f}%")
for kind, label in (("rtmp", "RTMP players (rtmp-load)"), ("http-flv", "HTTP-FLV players (curl)"),
                    ("http-drain", "HTTP-FLV players (1 drain)")):
    cpu = med(kind)
    per = (cpu - alone) / m
    ok = min(int(r["ok"]) for r in rows if r["kind"] == kind)
    cores = 100.0 / per if per > 0 else float("inf")
    print(f"  {label:26} worker CPU {cpu:6.1f}%  {per * 1000:6.1f} m%/player  "
          f"{cores:6.0f} players per core  (players ok, worst run: {ok}/{m})")
EOF
