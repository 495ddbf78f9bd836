#!/usr/bin/env bash
# Scale-out benchmark: what 400 RTMP players cost the origin when they play it directly,
# against when two RTMP edges (each pulling the stream once) carry 200 players each. One
# ffmpeg publisher (`-re -stream_loop -1 -i in.flv -c copy`, 720p30 2.6 Mb/s) on the origin;
# players of two kinds: rtmp-load (EDGE_PLAYERS=200 per edge, twice that directly) and ffmpeg
# (`ffmpeg -i rtmp://... -c copy -f null -`, EDGE_FFMPEG_PLAYERS=20 per edge: a client we did
# not write, fewer because each is a process). The origin listens on
# 127.0.0.1, the edges on 127.0.0.2 and 127.0.0.3, one worker each (worker_processes 1), all
# with the same module: ours, then Debian's libnginx-mod-rtmp (the C module, never loaded
# together with ours), alternating for EDGE_REPS rounds.
#
# Figures: medians of the origin worker's on-CPU time over EDGE_WINDOW seconds after
# EDGE_WARMUP, per scenario; the edges' workers beside them (what the edges pay instead); the
# players that got the stream and their video frames, as a check that every scenario delivered.
#
#   scripts/bench_edges.sh             # ~3 minutes
#   NGX_RTMP_MODULE=/path/libngx_rtmp.so EDGE_REPS=1 scripts/bench_edges.sh
#   EDGE_IMPLS=rs scripts/bench_edges.sh          # ours only
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/target/bench/edges"
REPS="${EDGE_REPS:-3}"
IMPLS="${EDGE_IMPLS:-rs c}"
PLAYERS="${EDGE_PLAYERS:-200}"
FF_PLAYERS="${EDGE_FFMPEG_PLAYERS:-20}"
KINDS="${EDGE_KINDS:-load ffmpeg}"
WARMUP="${EDGE_WARMUP:-4}"
WINDOW="${EDGE_WINDOW:-8}"
C_MODULE=/usr/lib/nginx/modules/ngx_rtmp_module.so
FFMPEG="$(command -v ffmpeg)"
log() { echo "bench_edges.sh: $*" >&2; }

# shellcheck source=scripts/load_common.sh
. "$ROOT/scripts/load_common.sh"
[[ " $IMPLS " == *" rs "* ]] && module_copy ngx_rtmp_rs.so
build_load
FLV="$ROOT/target/bench/in.flv"
mkdir -p "$(dirname "$FLV")"
make_flv "$FLV"
for a in 127.0.0.2 127.0.0.3; do
    ip -4 addr show dev lo | grep -q "inet $a/" || ip addr add "$a/8" dev lo 2>/dev/null || true
done

PORT=$((20000 + RANDOM % 20000))

write_conf() { # dir module addr [pull-from]
    local dir=$1 pull=""
    [[ -n ${4:-} ]] && pull="pull rtmp://$4:$PORT/live;"
    rm -rf "$dir"
    mkdir -p "$dir/logs"
    {
        conf_main "$2" "$dir" 4096
        cat <<EOC
rtmp {
    server {
        listen $3:$PORT;
        chunk_size 4096;
        application live {
            live on;
            $pull
        }
    }
}
EOC
    } >"$dir/nginx.conf"
    conf_check "$dir" || exit 1
}

PIDS=()
MASTERS=()
stop_all() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    for pid in "${MASTERS[@]}"; do nginx_down "$pid"; done
    PIDS=()
    MASTERS=()
}
trap stop_all EXIT

RES="$OUT/results.tsv"
mkdir -p "$OUT"
printf 'impl\tkind\tscenario\trep\torigin_cpu_pct\tedges_cpu_pct\tplayers_ok\tload1\n' >"$RES"

FF_PIDS=()
players() { # kind addr count log
    local i
    if [[ $1 == load ]]; then
        nice "$LOAD" --url "rtmp://$2:$PORT/live" --flv "$FLV" --publishers 0 --players "$3" \
            --play-stream bench --duration $((WARMUP + WINDOW + 2)) --quiet >"$4" 2>&1 &
        PIDS+=($!)
        return
    fi
    for i in $(seq "$3"); do
        nice "$FFMPEG" -hide_banner -nostdin -loglevel error -i "rtmp://$2:$PORT/live/bench" \
            -c copy -f null - </dev/null >/dev/null 2>&1 &
        FF_PIDS+=($!)
    done
}

# Players that got the stream: rtmp-load's count (and video frames each); for ffmpeg, those
# still running at the end of the window (ffmpeg exits when it cannot play).
players_ok() { # kind
    if [[ $1 == load ]]; then
        grep -h '^SUMMARY' "$OUT"/players-*.log | tr ' ' '\n' |
            awk -F= '$1 == "players_ok" {ok += $2} $1 == "video_frames_per_player" {f += $2; n++}
                     END {printf "%d (%.0f frames each)", ok, n ? f / n : 0}'
    else
        local pid alive=0
        for pid in "${FF_PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=$((alive + 1)); done
        echo "$alive"
    fi
}

run_one() { # impl kind scenario rep
    local impl=$1 kind=$2 scenario=$3 rep=$4 module up origin_w e1_w="" e2_w="" so eo w1 w2 e1 e2 b n
    [[ $impl == rs ]] && module="$OUT/ngx_rtmp_rs.so" || module=$C_MODULE
    write_conf "$OUT/$impl-origin" "$module" 127.0.0.1
    up=$(nginx_up "$OUT/$impl-origin")
    MASTERS+=("${up% *}")
    origin_w=${up#* }
    nice "$FFMPEG" -hide_banner -nostdin -loglevel error -re -stream_loop -1 -i "$FLV" -c copy \
        -f flv "rtmp://127.0.0.1:$PORT/live/bench" </dev/null >/dev/null 2>&1 &
    PIDS+=($!)
    sleep 1
    n=$PLAYERS
    [[ $kind == ffmpeg ]] && n=$FF_PLAYERS
    if [[ $scenario == direct ]]; then
        players "$kind" 127.0.0.1 $((2 * n)) "$OUT/players-1.log"
    else
        write_conf "$OUT/$impl-edge2" "$module" 127.0.0.2 127.0.0.1
        write_conf "$OUT/$impl-edge3" "$module" 127.0.0.3 127.0.0.1
        up=$(nginx_up "$OUT/$impl-edge2"); MASTERS+=("${up% *}"); e1_w=${up#* }
        up=$(nginx_up "$OUT/$impl-edge3"); MASTERS+=("${up% *}"); e2_w=${up#* }
        players "$kind" 127.0.0.2 "$n" "$OUT/players-1.log"
        players "$kind" 127.0.0.3 "$n" "$OUT/players-2.log"
    fi
    sleep "$WARMUP"
    w1=$(task_cpu_ns "$origin_w")
    e1=0
    [[ -n $e1_w ]] && e1=$(($(task_cpu_ns "$e1_w") + $(task_cpu_ns "$e2_w")))
    sleep "$WINDOW"
    w2=$(task_cpu_ns "$origin_w")
    e2=0
    [[ -n $e1_w ]] && e2=$(($(task_cpu_ns "$e1_w") + $(task_cpu_ns "$e2_w")))
    local load
    load=$(cut -d' ' -f1 /proc/loadavg)
    # rtmp-load players end by themselves (their --duration) and print their totals.
    [[ $kind == load ]] && for pid in "${PIDS[@]:1}"; do wait "$pid" 2>/dev/null || true; done
    b=$(players_ok "$kind")
    rm -f "$OUT"/players-*.log
    PIDS+=("${FF_PIDS[@]}")
    FF_PIDS=()
    stop_all
    so=$(awk -v a="$w1" -v b="$w2" -v w="$WINDOW" 'BEGIN {printf "%.2f", (b - a) / 1e9 / w * 100}')
    eo=$(awk -v a="$e1" -v b="$e2" -v w="$WINDOW" 'BEGIN {printf "%.2f", (b - a) / 1e9 / w * 100}')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$impl" "$kind" "$scenario" "$rep" "$so" "$eo" "$b" "$load" >>"$RES"
    log "$impl $kind $scenario rep=$rep origin worker=$so% edges=$eo% players ok: $b load=$load"
}

log "origin 127.0.0.1:$PORT, edges 127.0.0.2/.3; per edge $PLAYERS rtmp-load or $FF_PLAYERS ffmpeg players, twice that direct; reps=$REPS; $(nproc) cores"
for rep in $(seq "$REPS"); do
    for kind in $KINDS; do
        for impl in $IMPLS; do
            run_one "$impl" "$kind" direct "$rep"
            run_one "$impl" "$kind" edges "$rep"
        done
    done
done

/usr/bin/python3 - "$RES" "$PLAYERS" "$FF_PLAYERS" <<'EOP' | tee "$OUT/table.txt"
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter='\t'))
per_edge = {'load': int(sys.argv[2]), 'ffmpeg': int(sys.argv[3])}
def med(impl, kind, sc, k):
    v = [float(r[k]) for r in rows if (r['impl'], r['kind'], r['scenario']) == (impl, kind, sc)]
    return statistics.median(v) if v else float('nan')
def last(impl, kind, sc):
    v = [r['players_ok'] for r in rows if (r['impl'], r['kind'], r['scenario']) == (impl, kind, sc)]
    return v[-1] if v else '-'
for kind in sorted({r['kind'] for r in rows}, reverse=True):
    n = per_edge[kind]
    print(f"\none 720p30 2.6 Mb/s stream, {2 * n} {kind} players, medians (worker CPU % of a core)")
    print(f"{'':40}{'ours':>24}{'C module':>24}")
    for sc, k, label in [('direct', 'origin_cpu_pct', f'origin, {2 * n} players on it'),
                         ('edges', 'origin_cpu_pct', f'origin, 2 edges x {n} players'),
                         ('edges', 'edges_cpu_pct', 'the 2 edges together')]:
        print(f"{label:40}{med('rs', kind, sc, k):>24.2f}{med('c', kind, sc, k):>24.2f}")
    for sc in ['direct', 'edges']:
        print(f"{'players that got it, ' + sc:40}{last('rs', kind, sc):>24}{last('c', kind, sc):>24}")
EOP
