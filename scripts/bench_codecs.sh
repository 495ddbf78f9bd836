#!/usr/bin/env bash
# Modern-codec ingest benchmark: worker CPU per published stream for HEVC, AV1 and VP9 (Enhanced
# RTMP, HLS in fMP4; HEVC also in MPEG-TS) against H.264 in MPEG-TS and fMP4 — ours — and the C
# module (Debian's libnginx-mod-rtmp) on H.264/TS, the only one of these streams it can take:
# it has no Enhanced RTMP, so it cannot segment HEVC, AV1 or VP9 at all.
#
# Same picture for every codec: 720p30 testsrc2, GOP 2 s, about 2.5 Mb/s, 20 s looped; AAC
# 128 kb/s with H.264/HEVC, Opus 128 kb/s with AV1/VP9; encoded once by FFmpeg 9 (the static
# build of the imageio-ffmpeg wheel in .venv, as scripts/test.sh installs it).
# Publishers of two kinds, N of each (CODEC_PUBS, default "1 5"):
#   ffmpeg  — FFmpeg 9 `-re -stream_loop -1 -i in.flv -c copy -f flv` (a client we did not write)
#   load    — our rtmp-load replaying the same FLV
# Figures: medians of CODEC_REPS rounds (all configurations alternate within a round) of the
# worker's on-CPU time over CODEC_WINDOW seconds after CODEC_WARMUP, per stream; beside them
# the segments written (a check that every configuration segmented, counted against none).
# HLS goes to a tmpfs (/dev/shm) so that the disk does not set the pace.
#
#   scripts/bench_codecs.sh                      # ~15 minutes; run by scripts/bench.sh at its end
#   NGX_RTMP_MODULE=/path/libngx_rtmp.so CODEC_REPS=1 CODEC_PUBS=1 scripts/bench_codecs.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/target/bench/codecs"
REPS="${CODEC_REPS:-3}"
PUBS="${CODEC_PUBS:-1 5}"
KINDS="${CODEC_KINDS:-ffmpeg load}"
WARMUP="${CODEC_WARMUP:-3}"
WINDOW="${CODEC_WINDOW:-8}"
C_MODULE=/usr/lib/nginx/modules/ngx_rtmp_module.so
log() { echo "bench_codecs.sh: $*" >&2; }

# shellcheck source=scripts/load_common.sh
. "$ROOT/scripts/load_common.sh"

# --- FFmpeg 9 and the C module ----------------------------------------------------------------
[[ -f $C_MODULE ]] || {
    log "installing libnginx-mod-rtmp"
    # shellcheck source=scripts/apt_peers.sh
    . "$ROOT/scripts/apt_peers.sh"
    apt_install_peers libnginx-mod-rtmp
}
VENV="$ROOT/.venv"
[[ -x "$VENV/bin/python" ]] || python3 -m venv "$VENV"
"$VENV/bin/python" -c 'import imageio_ffmpeg' 2>/dev/null ||
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check imageio-ffmpeg >&2
FFMPEG9="$("$VENV/bin/python" -c 'import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())')"

mkdir -p "$OUT"
module_copy ngx_rtmp_rs.so
build_load

# --- inputs -----------------------------------------------------------------------------------
# make_input NAME VIDEO_ARGS... -- AUDIO_ARGS...
make_input() {
    local name=$1 flv="$OUT/$1.flv"
    shift
    [[ -s $flv ]] && return 0
    local video=() audio=()
    while [[ $1 != -- ]]; do video+=("$1"); shift; done
    shift
    audio=("$@")
    log "encoding $flv"
    nice "$FFMPEG9" -hide_banner -nostdin -loglevel error -y \
        -f lavfi -i "testsrc2=size=1280x720:rate=30" -f lavfi -i sine=frequency=440:sample_rate=48000 \
        -t 20 -pix_fmt yuv420p "${video[@]}" -g 60 -keyint_min 60 "${audio[@]}" -f flv "$flv.tmp"
    mv "$flv.tmp" "$flv"
}
make_input h264 -c:v libx264 -preset veryfast -b:v 2500k -maxrate 2500k -bufsize 5000k -sc_threshold 0 \
    -- -c:a aac -b:a 128k
make_input hevc -c:v libx265 -preset ultrafast -b:v 2500k \
    -x265-params "keyint=60:min-keyint=60:scenecut=0:log-level=error" -- -c:a aac -b:a 128k
make_input av1 -c:v libsvtav1 -preset 12 -b:v 2500k -svtav1-params "keyint=60:scd=0" \
    -- -c:a libopus -b:a 128k
make_input vp9 -c:v libvpx-vp9 -deadline realtime -cpu-used 8 -b:v 2500k -- -c:a libopus -b:a 128k

# --- servers ----------------------------------------------------------------------------------
SHM="$(mktemp -d /dev/shm/bench-codecs.XXXXXX)"
port_rs=$((20000 + RANDOM % 20000))
port_c=$((port_rs + 1))

# write_conf IMPL MODULE PORT: application `ts` (MPEG-TS) and, for ours, `fmp4`.
write_conf() {
    local p="$OUT/$1" apps="ts"
    [[ $1 == rs ]] && apps="ts fmp4"
    rm -rf "$p"
    mkdir -p "$p/logs"
    {
        conf_main "$2" "$p" 1024
        echo "rtmp { server { listen 127.0.0.1:$3; chunk_size 4096;"
        for app in $apps; do
            mkdir -p "$SHM/$1/$app"
            echo "application $app { live on; hls on; hls_path $SHM/$1/$app; hls_fragment 2s;"
            echo "  hls_playlist_length 20s;"
            [[ $app == fmp4 ]] && echo "  hls_fragment_type fmp4;"
            echo "}"
        done
        echo "} }"
    } >"$p/nginx.conf"
    chmod -R 777 "$SHM"
    conf_check "$p" || exit 1
}
write_conf rs "$OUT/ngx_rtmp_rs.so" "$port_rs"
write_conf c "$C_MODULE" "$port_c"

MASTER=""
PIDS=()
stop_all() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    PIDS=()
    [[ -n $MASTER ]] && nginx_down "$MASTER"
    MASTER=""
}
trap 'stop_all; rm -rf "$SHM"' EXIT

RES="$OUT/results.tsv"
printf 'impl\tconfig\tkind\tn\trep\tworker_cpu_pct\tcpu_per_stream_pct\tsegments\tcodecs\tload1\n' >"$RES"

# run_one IMPL CONFIG(codec/app) KIND N REP
run_one() {
    local impl=$1 config=$2 kind=$3 n=$4 rep=$5 port codec app i pair master worker
    codec=${config%/*}
    app=${config#*/}
    [[ $impl == rs ]] && port=$port_rs || port=$port_c
    rm -rf "${SHM:?}/$impl/$app/"*
    pair=$(nginx_up "$OUT/$impl")
    master=${pair% *}
    worker=${pair#* }
    MASTER=$master
    sleep 0.3
    case $kind in
    ffmpeg)
        for i in $(seq "$n"); do
            nice "$FFMPEG9" -hide_banner -nostdin -loglevel error -re -stream_loop -1 -i "$OUT/$codec.flv" \
                -c copy -f flv "rtmp://127.0.0.1:$port/$app/b$i" </dev/null >/dev/null 2>&1 &
            PIDS+=($!)
        done
        ;;
    load)
        nice "$LOAD" --url "rtmp://127.0.0.1:$port/$app" --flv "$OUT/$codec.flv" --publishers "$n" \
            --players 0 --duration $((WARMUP + WINDOW + 5)) --name b --quiet >/dev/null 2>&1 &
        PIDS+=($!)
        ;;
    esac
    sleep "$WARMUP"
    local w1 w2 segs load cpu per playlist codecs
    w1=$(task_cpu_ns "$worker")
    sleep "$WINDOW"
    w2=$(task_cpu_ns "$worker")
    segs=$(find "$SHM/$impl/$app" -name '*.ts' -o -name '*.m4s' | wc -l)
    # What the first stream's HLS holds, as Debian's ffprobe reads it.
    playlist=$(find "$SHM/$impl/$app" -name '*.m3u8' | sort | head -1)
    codecs=$([[ -n $playlist ]] && ffprobe -v error -show_entries stream=codec_name -of csv=p=0 \
        "$playlist" 2>/dev/null | grep -v "^$" | sort -u | paste -sd+ || true)
    load=$(cut -d' ' -f1 /proc/loadavg)
    stop_all
    cpu=$(awk -v a="$w1" -v b="$w2" -v w="$WINDOW" 'BEGIN {printf "%.2f", (b - a) / 1e9 / w * 100}')
    per=$(awk -v c="$cpu" -v n="$n" 'BEGIN {printf "%.3f", c / n}')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$impl" "$config" "$kind" "$n" "$rep" "$cpu" \
        "$per" "$segs" "${codecs:--}" "$load" >>"$RES"
    log "$impl $config $kind n=$n rep=$rep worker=$cpu% per stream=$per% segments=$segs ($codecs) load=$load"
}

CONFIGS_RS="h264/ts h264/fmp4 hevc/ts hevc/fmp4 av1/fmp4 vp9/fmp4"
log "ours on :$port_rs, C module on :$port_c; reps=$REPS pubs=($PUBS) kinds=($KINDS); $(nproc) cores"
for rep in $(seq "$REPS"); do
    for n in $PUBS; do
        for kind in $KINDS; do
            run_one c h264/ts "$kind" "$n" "$rep"
            for config in $CONFIGS_RS; do run_one rs "$config" "$kind" "$n" "$rep"; done
        done
    done
done

/usr/bin/python3 - "$RES" "$PUBS" "$KINDS" "$CONFIGS_RS" <<'EOF' | tee "$OUT/table.txt"
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter='\t'))
pubs, kinds, configs = sys.argv[2].split(), sys.argv[3].split(), sys.argv[4].split()
def med(impl, config, kind, n, key):
    v = [float(r[key]) for r in rows
         if (r['impl'], r['config'], r['kind'], r['n']) == (impl, config, kind, n)]
    return statistics.median(v) if v else None
print("Worker CPU per published stream, % of a core (medians), 720p30 ~2.5 Mb/s, HLS 2 s")
print("publishers: ffmpeg = FFmpeg 9 -re -c copy; load = our rtmp-load; segments written in ()")
print("codecs in the HLS (ffprobe of the first stream's playlist):")
for impl, config in sorted({(r['impl'], r['config']) for r in rows}):
    seen = sorted({r['codecs'] for r in rows if (r['impl'], r['config']) == (impl, config)})
    print(f"  {impl} {config}: {', '.join(seen)}")
head = f"{'stream → HLS':24}" + "".join(f"{k + ' N=' + n:>18}" for k in kinds for n in pubs)
print(head)
def line(label, impl, config):
    cells = []
    for k in kinds:
        for n in pubs:
            c, s = med(impl, config, k, n, 'cpu_per_stream_pct'), med(impl, config, k, n, 'segments')
            cells.append(f"{'-' if c is None else f'{c:.3f} ({s:.0f})':>18}")
    print(f"{label:24}" + "".join(cells))
line("C module H.264 → TS", 'c', 'h264/ts')
for config in configs:
    codec, app = config.split('/')
    line(f"ours {codec} → {'TS' if app == 'ts' else 'fMP4'}", 'rs', config)
print("C module HEVC/AV1/VP9: cannot ingest them (no Enhanced RTMP); no figure exists")
EOF
