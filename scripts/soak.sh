#!/usr/bin/env bash
# Soak run (a script, not CI): SOAK_PUBLISHERS publishers (default 50) and
# SOAK_PLAYERS players (default 200) against one nginx worker with our module and HLS on, for
# SOAK_MINUTES (default 30). Every SOAK_INTERVAL seconds (default 10) the worker's RSS, anonymous
# RSS, CPU, open descriptors and the number of files under hls_path go to target/soak/rss.tsv.
# At the end it prints whether memory stayed flat (least-squares slope of RSS over the last
# 10 minutes, or over the second half of a shorter run, against SOAK_MAX_SLOPE_KB_MIN), the
# load generator's summary and any alert in the error log; exits non-zero if memory grew, a
# worker crashed or nginx logged an alert.
#
#   scripts/soak.sh                        # 30 minutes
#   SOAK_MINUTES=3 scripts/soak.sh         # quick check
#   NGX_RTMP_MODULE=/path/libngx_rtmp.so scripts/soak.sh   # skip the module build
#
# The input is light on purpose (640x360, 600 kbit/s, SOAK_SIZE / SOAK_BITRATE): the soak is
# about memory over time, not throughput, and the machine stays usable (nginx and the load
# generator run under nice).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/target/soak"
MINUTES="${SOAK_MINUTES:-30}"
PUBS="${SOAK_PUBLISHERS:-50}"
PLAYERS="${SOAK_PLAYERS:-200}"
INTERVAL="${SOAK_INTERVAL:-10}"
SIZE="${SOAK_SIZE:-640x360}"
BITRATE="${SOAK_BITRATE:-600k}"
MAX_SLOPE="${SOAK_MAX_SLOPE_KB_MIN:-64}"
NGINX=/usr/sbin/nginx
log() { echo "soak.sh: $*" >&2; }

command -v ffmpeg >/dev/null || { log "ffmpeg is missing (apt-get install ffmpeg)"; exit 1; }

# --- builds -----------------------------------------------------------------------------------
# shellcheck source=scripts/load_common.sh
. "$ROOT/scripts/load_common.sh"
module_copy ngx_rtmp.so
build_load
FLV="$OUT/in-$SIZE-$BITRATE.flv"
make_flv "$FLV" "$SIZE" "$BITRATE" 2M 64k

# --- nginx ------------------------------------------------------------------------------------
P="$OUT/nginx"
PORT=$((20000 + RANDOM % 20000))
bench_conf "$P" "$OUT/ngx_rtmp.so" "$PORT"

MASTER=""
WORKER=""
LOADPID=""
cleanup() {
    [[ -n $LOADPID ]] && kill "$LOADPID" 2>/dev/null || true
    if [[ -n $MASTER ]]; then
        kill -QUIT "$MASTER" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$MASTER" 2>/dev/null || break; sleep 0.05; done
        kill -KILL "$MASTER" 2>/dev/null || true
        wait "$MASTER" 2>/dev/null || true
        [[ -n $WORKER ]] && kill -KILL "$WORKER" 2>/dev/null || true
    fi
}
trap cleanup EXIT

setsid nice "$NGINX" -p "$P" -c "$P/nginx.conf" </dev/null >/dev/null 2>&1 &
MASTER=$!
for _ in $(seq 100); do
    WORKER="$(pgrep -P "$MASTER" | head -1 || true)"
    [[ -n $WORKER ]] && break
    sleep 0.05
done
[[ -n $WORKER ]] || { log "nginx did not start"; tail "$P/logs/error.log" >&2; exit 1; }
sleep 0.3

# --- load and sampling ------------------------------------------------------------------------
DURATION=$((MINUTES * 60))
log "nginx worker $WORKER on :$PORT; $PUBS publishers + $PLAYERS players for $MINUTES min; samples every ${INTERVAL}s -> $OUT/rss.tsv"
log "machine: $(nproc) cores, loadavg $(cut -d' ' -f1-3 /proc/loadavg)"
nice "$LOAD" --url "rtmp://127.0.0.1:$PORT/live" --flv "$FLV" --publishers "$PUBS" \
    --players "$PLAYERS" --duration "$DURATION" --name soak --hls-dir "$P/hls" \
    --player-delay-ms 3000 >"$OUT/load.txt" 2>&1 &
LOADPID=$!

HZ=$(getconf CLK_TCK)
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
field_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
TSV="$OUT/rss.tsv"
printf 't_s\trss_kb\tanon_kb\tcpu_pct\tfds\thls_files\tload1\n' >"$TSV"
start=$(date +%s.%N)
prev_t=$start
prev_ticks=$(ticks "$WORKER")
while kill -0 "$LOADPID" 2>/dev/null; do
    sleep "$INTERVAL"
    kill -0 "$WORKER" 2>/dev/null || { log "worker $WORKER is gone"; break; }
    now=$(date +%s.%N)
    t=$(ticks "$WORKER")
    cpu=$(awk -v a="$prev_ticks" -v b="$t" -v hz="$HZ" -v d="$(awk -v x="$now" -v y="$prev_t" 'BEGIN{print x-y}')" \
        'BEGIN {printf "%.1f", (b - a) / hz / d * 100}')
    prev_t=$now
    prev_ticks=$t
    printf '%.0f\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(awk -v x="$now" -v y="$start" 'BEGIN{print x-y}')" \
        "$(field_kb "$WORKER" VmRSS)" "$(field_kb "$WORKER" RssAnon)" "$cpu" \
        "$(find "/proc/$WORKER/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)" \
        "$(find "$P/hls" -type f | wc -l)" "$(cut -d' ' -f1 /proc/loadavg)" >>"$TSV"
    tail -1 "$TSV" | awk -F'\t' '{printf "soak.sh: t=%5ss rss=%s kB anon=%s kB cpu=%s%% fds=%s hls_files=%s load=%s\n", $1, $2, $3, $4, $5, $6, $7}' >&2
done
wait "$LOADPID" || true
LOADPID=""

# --- verdict ----------------------------------------------------------------------------------
status=0
echo "== rtmp-load"
grep -E '^(SUMMARY|errors)' "$OUT/load.txt" || tail -5 "$OUT/load.txt"
# Window: the last 10 minutes, or the second half of a shorter run.
window=$((DURATION >= 1200 ? 600 : DURATION / 2))
echo "== memory (window: last ${window}s of ${DURATION}s)"
awk -F'\t' -v w="$window" -v end="$DURATION" -v max="$MAX_SLOPE" '
    NR == 1 { next }
    { t[NR] = $1; r[NR] = $2; a[NR] = $3; c[NR] = $4; last = NR }
    END {
        n = 0; sx = sy = sxx = sxy = 0; sa = saa = 0; cpu = 0; scx = 0
        for (i = 2; i <= last; i++) {
            if (t[i] < t[last] - w) continue
            x = t[i] / 60; n++; sx += x; sy += r[i]; sxx += x * x; sxy += x * r[i]
            sa += a[i]; saa += x * a[i]; cpu += c[i]; scx += x * c[i]
            if (n == 1) { first = r[i] }
        }
        if (n < 3) { print "too few samples"; exit 2 }
        d = n * sxx - sx * sx
        slope = (n * sxy - sx * sy) / d
        aslope = (n * saa - sx * sa) / d
        cslope = (n * scx - sx * cpu) / d
        printf "samples=%d rss first=%d kB last=%d kB slope=%.1f kB/min (anon %.1f kB/min) mean cpu=%.1f%% (slope %.2f points/min)\n", n, first, r[last], slope, aslope, cpu / n, cslope
        if (slope > max) { printf "memory NOT flat: RSS grows %.1f kB/min (limit %s)\n", slope, max; exit 1 }
        printf "memory flat: slope %.1f kB/min <= %s kB/min\n", slope, max
    }' "$TSV" || status=1
echo "== error log ($P/logs/error.log)"
alerts=$(grep -cE '\[(alert|emerg|crit)\]|exited on signal|panicked' "$P/logs/error.log" || true)
errors=$(grep -c '\[error\]' "$P/logs/error.log" || true)
warns=$(grep -c '\[warn\]' "$P/logs/error.log" || true)
echo "alerts/crashes=$alerts errors=$errors warnings=$warns"
grep -E '\[(alert|emerg|crit|error)\]|exited on signal|panicked' "$P/logs/error.log" | head -20 || true
grep '\[warn\]' "$P/logs/error.log" | sed -E 's/^[0-9/]+ [0-9:]+ \[warn\] [0-9#]+: //; s/client [0-9]+/client N/' |
    sort | uniq -c | sort -rn | head -10 || true
[[ $alerts -eq 0 ]] || status=1
kill -0 "$WORKER" 2>/dev/null || { echo "worker $WORKER died"; status=1; }
echo "== $( ((status == 0)) && echo PASS || echo FAIL ) (samples in $TSV)"
exit $status
