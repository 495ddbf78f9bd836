#!/usr/bin/env bash
# Benchmark: our module against Debian's libnginx-mod-rtmp (the C nginx-rtmp-module), side by
# side in ONE run, same input, same config (HLS on in both), one nginx per module (separate
# prefixes and ports, never both modules in one nginx), worker_processes 1.
#
# Figures (medians of BENCH_REPS runs; the machine's /proc/loadavg is printed per run; CPU is
# the worker's on-CPU time from /proc/PID/schedstat, in nanoseconds, not 10 ms clock ticks):
#   - worker CPU per publisher stream at N publishers (BENCH_PUBS, default "1 5 20 40")
#   - worker RSS per stream: (RSS under load - RSS idle) / N, and per added stream (the slope
#     between the smallest and largest N, free of one-off costs); also for our module with
#     `gop_cache off` (the C module keeps no GOP: that row compares like with like)
#   - players per core: 1 publisher + M players (BENCH_PLAYERS, default "50 200 500");
#     CPU per player = (CPU(M players) - CPU(1 publisher alone)) / M
#   - publish -> segment listed: time from sending the keyframe that closes a segment to the
#     playlist listing it (rtmp-load watches hls_path with inotify)
#   - join -> first frame (TCP connect to first coded video frame) and to first keyframe
#   - a 3-rendition ladder (scripts/bench_ladder.sh): worker CPU and RSS of ours
#     (hls_rendition) against the C module's exec + hls_variant recipe, encoders' CPU beside
#   - recording (scripts/bench_record.sh): worker CPU per stream with `record all` + HLS, ours
#     against the C module, 1 and 5 publishers
#   - scale-out (scripts/bench_edges.sh): origin worker CPU with 400 players on it against 2
#     pull edges with 200 each (and ffmpeg players), ours against the C module
#   - modern codecs (scripts/bench_codecs.sh): worker CPU per HEVC, AV1 and VP9 stream (HLS in
#     fMP4) against H.264, FFmpeg 9 and rtmp-load publishers
#   - HTTP-FLV (scripts/bench_flv.sh): HTTP-FLV players (curl) per core against our RTMP
#     players per core, M=200
#   - clients of other kinds (scripts/bench_clients.sh): worker CPU per stream with ffmpeg and
#     stdlib-Python publishers, players per core with ffmpeg, GStreamer and draining players,
#     beside rtmp-load, ours against the C module
# Output: a table on stdout and target/bench/{results.tsv,table.txt,bench.png}.
#
#   scripts/bench.sh                  # full run, ~90 minutes (main table ~16, clients ~40)
#   BENCH_REPS=1 BENCH_PUBS=1 BENCH_PLAYERS=50 scripts/bench.sh   # quick look
#   NGX_RTMP_MODULE=/path/libngx_rtmp.so scripts/bench.sh        # skip the module build
#
# Needs root for apt-get (libnginx-mod-rtmp ffmpeg python3-matplotlib) when they are missing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/target/bench"
REPS="${BENCH_REPS:-3}"
WARMUP="${BENCH_WARMUP:-4}"   # seconds before the CPU window (players join at 1.5 s)
WINDOW="${BENCH_WINDOW:-8}"   # CPU measurement window, seconds
PUBS="${BENCH_PUBS:-1 5 20 40}"
PLAYERS="${BENCH_PLAYERS:-50 200 500}"
# Extra rtmp{}-level directives for our module only, e.g. "play_flush_interval 40ms;".
OURS_EXTRA="${BENCH_OURS_EXTRA:-}"
C_MODULE=/usr/lib/nginx/modules/ngx_rtmp_module.so
NGINX=/usr/sbin/nginx
log() { echo "bench.sh: $*" >&2; }

# --- packages ---------------------------------------------------------------------------------
need=()
[[ -f $C_MODULE ]] || need+=(libnginx-mod-rtmp)
command -v ffmpeg >/dev/null || need+=(ffmpeg)
/usr/bin/python3 -c "import matplotlib" 2>/dev/null || need+=(python3-matplotlib)
if ((${#need[@]})); then
    if [[ $(id -u) -eq 0 ]]; then
        log "installing ${need[*]}"
        # shellcheck source=scripts/apt_peers.sh
        . "$ROOT/scripts/apt_peers.sh"
        apt_install_peers "${need[@]}"
    else
        log "missing: ${need[*]} (sudo apt-get install ${need[*]})"
        exit 1
    fi
fi
# Debian enables the C module for the system nginx via modules-enabled; our configs load
# modules explicitly and include nothing, so that does not matter here.

# --- builds -----------------------------------------------------------------------------------
# shellcheck source=scripts/load_common.sh
. "$ROOT/scripts/load_common.sh"
module_copy ngx_rtmp_rs.so
build_load
FLV="$OUT/in.flv"
make_flv "$FLV"

# --- nginx instances --------------------------------------------------------------------------
port_rs=$((20000 + RANDOM % 20000))
port_c=$((port_rs + 1))

MASTER=""
start_nginx() { # impl
    local p="$OUT/$1"
    rm -rf "$p/hls"/* "$p/nginx.pid"
    setsid "$NGINX" -p "$p" -c "$p/nginx.conf" </dev/null >/dev/null 2>&1 &
    MASTER=$!
    for _ in $(seq 100); do
        WORKER="$(pgrep -P "$MASTER" | head -1 || true)"
        [[ -n $WORKER ]] && break
        sleep 0.05
    done
    [[ -n $WORKER ]] || { log "$1: nginx did not start"; tail "$p/logs/error.log" >&2; exit 1; }
    sleep 0.3
}
stop_nginx() {
    [[ -n $MASTER ]] || return 0
    kill -QUIT "$MASTER" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$MASTER" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$MASTER" 2>/dev/null || true
    wait "$MASTER" 2>/dev/null || true
    # Our module's master may die of SIGSEGV when reaping its worker (see the report), so
    # make sure the worker it started is gone too.
    [[ -n ${WORKER:-} ]] && kill -KILL "$WORKER" 2>/dev/null || true
    MASTER=""
}
trap 'stop_nginx' EXIT

cpu_ns() { awk '{print $1}' "/proc/$1/schedstat"; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
anon_kb() { awk '/^RssAnon:/ {print $2}' "/proc/$1/status"; }

bench_conf "$OUT/rs" "$OUT/ngx_rtmp_rs.so" "$port_rs" "$OURS_EXTRA"
bench_conf "$OUT/c" "$C_MODULE" "$port_c"
port_ng=$((port_rs + 2))
bench_conf "$OUT/rsng" "$OUT/ngx_rtmp_rs.so" "$port_ng" "$OURS_EXTRA gop_cache off;"
RES="$OUT/results.tsv"
printf 'impl\tkind\tn\trep\tcpu_pct\trss_delta_kb\tanon_delta_kb\tseg_lat_ms\tseg_lat_p95_ms\tsegments\tfirst_frame_ms\tfirst_key_ms\tpubs_ok\tplayers_ok\tvideo_per_player\tload1\n' >"$RES"

run_one() { # impl kind n rep
    local impl=$1 kind=$2 n=$3 rep=$4 port pubs players
    case $impl in rs) port=$port_rs ;; rsng) port=$port_ng ;; *) port=$port_c ;; esac
    if [[ $kind == publish ]]; then pubs=$n; players=0; else pubs=1; players=$n; fi
    start_nginx "$impl"
    local rss0 t1 t2 rss1 anon0 anon1 load out
    rss0=$(rss_kb "$WORKER")
    anon0=$(anon_kb "$WORKER")
    out="$OUT/$impl/run-$kind-$n-$rep.txt"
    "$LOAD" --url "rtmp://127.0.0.1:$port/live" --flv "$FLV" --publishers "$pubs" --players "$players" \
        --duration $((WARMUP + WINDOW + 1)) --name "s${rep}x" --hls-dir "$OUT/$impl/hls" \
        --player-delay-ms 1500 >"$out" 2>&1 &
    local lp=$!
    sleep "$WARMUP"
    t1=$(cpu_ns "$WORKER")
    sleep "$WINDOW"
    t2=$(cpu_ns "$WORKER")
    rss1=$(rss_kb "$WORKER")
    anon1=$(anon_kb "$WORKER")
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    wait "$lp" || true
    stop_nginx
    local cpu
    cpu=$(awk -v a="$t1" -v b="$t2" -v w="$WINDOW" 'BEGIN {printf "%.3f", (b - a) / 1e9 / w * 100}')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$impl" "$kind" "$n" "$rep" "$cpu" \
        $((rss1 - rss0)) $((anon1 - anon0)) "$(summary_field "$out" seg_latency_ms_median)" "$(summary_field "$out" seg_latency_ms_p95)" \
        "$(summary_field "$out" segments)" "$(summary_field "$out" first_frame_ms_median)" \
        "$(summary_field "$out" first_key_ms_median)" "$(summary_field "$out" publishers_ok)" \
        "$(summary_field "$out" players_ok)" "$(summary_field "$out" video_frames_per_player)" "${load%% *}" >>"$RES"
    printf 'bench.sh: %-3s %-7s n=%-3s rep=%s cpu=%6s%% rssΔ=%6s kB anonΔ=%6s kB  seg=%sms first=%sms ok=%s/%s  loadavg=%s\n' \
        "$impl" "$kind" "$n" "$rep" "$cpu" $((rss1 - rss0)) $((anon1 - anon0)) "$(summary_field "$out" seg_latency_ms_median)" \
        "$(summary_field "$out" first_frame_ms_median)" "$(summary_field "$out" publishers_ok)" \
        "$(summary_field "$out" players_ok)" "$load" >&2
}

log "our module on :$port_rs, C module on :$port_c; reps=$REPS warmup=${WARMUP}s window=${WINDOW}s"
log "machine: $(nproc) cores, loadavg $(cat /proc/loadavg)"
for rep in $(seq "$REPS"); do
    for n in $PUBS; do
        for impl in rs c rsng; do run_one "$impl" publish "$n" "$rep"; done
    done
    for m in $PLAYERS; do
        for impl in rs c; do run_one "$impl" play "$m" "$rep"; done
    done
done

/usr/bin/python3 "$ROOT/scripts/bench_report.py" "$RES" "$OUT" | tee "$OUT/table.txt"

# The 3-rendition ladder row (scripts/bench_ladder.sh): ours against the C module's exec +
# hls_variant recipe, same module copy. BENCH_LADDER=0 skips it.
if [[ ${BENCH_LADDER:-1} != 0 ]]; then
    stop_nginx
    NGX_RTMP_MODULE="$OUT/ngx_rtmp_rs.so" LADDER_REPS="$REPS" "$ROOT/scripts/bench_ladder.sh" | tee -a "$OUT/table.txt"
fi

# The recording row (scripts/bench_record.sh): worker CPU per stream with `record all` (and
# HLS) for ours against the C module, same module copy. BENCH_RECORD=0 skips it.
if [[ ${BENCH_RECORD:-1} != 0 ]]; then
    stop_nginx
    NGX_RTMP_MODULE="$OUT/ngx_rtmp_rs.so" RECORD_REPS="$REPS" "$ROOT/scripts/bench_record.sh" | tee -a "$OUT/table.txt"
fi

# The scale-out rows (scripts/bench_edges.sh): the origin's CPU with players on it against
# with 2 pull edges, ours against the C module, same module copy. BENCH_EDGES=0 skips it.
if [[ ${BENCH_EDGES:-1} != 0 ]]; then
    stop_nginx
    NGX_RTMP_MODULE="$OUT/ngx_rtmp_rs.so" EDGE_REPS="$REPS" "$ROOT/scripts/bench_edges.sh" | tee -a "$OUT/table.txt"
fi

# The modern-codec rows (scripts/bench_codecs.sh): worker CPU per HEVC, AV1 and VP9 stream with
# HLS in fMP4 against H.264 (ours, and the C module on H.264, the only one it can take).
# BENCH_CODECS=0 skips it.
if [[ ${BENCH_CODECS:-1} != 0 ]]; then
    stop_nginx
    NGX_RTMP_MODULE="$OUT/ngx_rtmp_rs.so" CODEC_REPS="$REPS" "$ROOT/scripts/bench_codecs.sh" | tee -a "$OUT/table.txt"
fi

# The HTTP-FLV row (scripts/bench_flv.sh): HTTP-FLV players (curl) per core against our RTMP
# players per core, M=200, same module copy. BENCH_FLV=0 skips it.
if [[ ${BENCH_FLV:-1} != 0 ]]; then
    stop_nginx
    NGX_RTMP_MODULE="$OUT/ngx_rtmp_rs.so" FLV_REPS="$REPS" "$ROOT/scripts/bench_flv.sh" | tee -a "$OUT/table.txt"
fi

# Clients we did not write (scripts/bench_clients.sh): ingest and players per core with ffmpeg,
# GStreamer and stdlib-Python clients beside rtmp-load, same module copy. BENCH_CLIENTS=0
# skips it.
if [[ ${BENCH_CLIENTS:-1} != 0 ]]; then
    stop_nginx
    NGX_RTMP_MODULE="$OUT/ngx_rtmp_rs.so" CLIENT_REPS="$REPS" "$ROOT/scripts/bench_clients.sh" | tee -a "$OUT/table.txt"
fi

# The LL-HLS rows (scripts/bench_llhls.sh): memory per waiting blocking-reload request of
# `rtmp_hls` (worker RSS with 0, 1000 and 5000 waiting) and the wake-up latency once the part
# is listed. BENCH_LLHLS=0 skips it.
if [[ ${BENCH_LLHLS:-1} != 0 ]]; then
    stop_nginx
    NGX_RTMP_MODULE="$OUT/ngx_rtmp_rs.so" "$ROOT/scripts/bench_llhls.sh" | tee -a "$OUT/table.txt"
fi
