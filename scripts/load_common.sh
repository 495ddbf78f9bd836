# Shared by the bench scripts and scripts/soak.sh (sourced, not run): the module under test,
# the load generator and the input FLV. The caller sets ROOT, OUT and defines log().

# Copies the module (NGX_RTMP_MODULE, else a fresh scripts/build.sh) to $OUT/$1: a private
# copy, so that a rebuild during the run does not change the module under test.
module_copy() {
    local so
    mkdir -p "$OUT"
    if [[ -n "${NGX_RTMP_MODULE:-}" ]]; then
        so="$NGX_RTMP_MODULE"
    else
        so="$(nice "$ROOT/scripts/build.sh" | tail -1)"
    fi
    cp "$so" "$OUT/$1"
}

# Builds src/bin/rtmp-load/; sets LOAD to the binary.
build_load() {
    log "building rtmp-load"
    (cd "$ROOT" && nice cargo build --release --no-default-features --bin rtmp-load >&2)
    LOAD="${CARGO_TARGET_DIR:-$ROOT/target}/release/rtmp-load"
    [[ -x $LOAD ]] || { log "no $LOAD"; exit 1; }
}

# make_flv FILE [SIZE VIDEO_BITRATE VBV_BUFSIZE AUDIO_BITRATE]: 20 s of H.264 (30 fps, GOP 2 s)
# and AAC test pattern, made once. Without the rest, the benchmarks' standard input: 720p at
# 2.5 Mbit/s, AAC 128k.
make_flv() {
    local flv=$1 size=${2:-1280x720} vrate=${3:-2500k} bufsize=${4:-5000k} arate=${5:-128k}
    [[ -s $flv ]] && return 0
    log "generating $flv (H.264 $size 30 fps $vrate, GOP 2 s, AAC $arate, 20 s)"
    nice ffmpeg -hide_banner -nostdin -loglevel error -y \
        -f lavfi -i "testsrc2=size=$size:rate=30" -f lavfi -i sine=frequency=440:sample_rate=44100 \
        -t 20 -c:v libx264 -preset veryfast -pix_fmt yuv420p -b:v "$vrate" -maxrate "$vrate" \
        -bufsize "$bufsize" -g 60 -keyint_min 60 -sc_threshold 0 -c:a aac -b:a "$arate" -f flv "$flv"
}

# nginx_up DIR: starts nginx on DIR/nginx.conf (prefix DIR) in its own session; prints
# "MASTER WORKER" (the first worker) once the worker runs.
nginx_up() {
    local dir=$1 master worker=""
    rm -f "$dir/nginx.pid"
    setsid /usr/sbin/nginx -p "$dir" -c "$dir/nginx.conf" </dev/null >/dev/null 2>&1 &
    master=$!
    for _ in $(seq 100); do
        worker="$(pgrep -P "$master" | head -1 || true)"
        [[ -n $worker ]] && break
        sleep 0.05
    done
    [[ -n $worker ]] || { log "nginx in $dir did not start"; tail "$dir/logs/error.log" >&2; return 1; }
    echo "$master $worker"
}

# nginx_down MASTER [WORKER]: graceful stop, then kill what is left (a worker outliving a
# killed master too).
nginx_down() {
    local master=$1 worker=${2:-}
    kill -QUIT "$master" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$master" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$master" 2>/dev/null || true
    wait "$master" 2>/dev/null || true
    [[ -z $worker ]] || kill -KILL "$worker" 2>/dev/null || true
}

# task_cpu_ns PID: on-CPU time of all the process's threads, ns.
task_cpu_ns() { cat "/proc/$1/task/"*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%.0f", s}'; }

# conf_main MODULE PREFIX CONNECTIONS: the main context of a benchmark's nginx.conf on stdout —
# one worker (as root when run as root, so that it writes where the script does), in the
# foreground, pid and error log under PREFIX, CONNECTIONS per worker.
conf_main() {
    echo "load_module $1;"
    [[ $(id -u) -ne 0 ]] || echo "user root;"
    cat <<CONF
worker_processes 1;
worker_rlimit_nofile $(($3 * 2));
daemon off;
pid $2/nginx.pid;
error_log $2/logs/error.log warn;
events { worker_connections $3; }
CONF
}

# conf_check PREFIX: nginx -t of PREFIX/nginx.conf; prints nginx's complaint and fails if bad.
conf_check() {
    /usr/sbin/nginx -p "$1" -c "$1/nginx.conf" -t >/dev/null 2>&1 || {
        /usr/sbin/nginx -p "$1" -c "$1/nginx.conf" -t
        return 1
    }
}

# bench_conf DIR MODULE PORT [EXTRA]: the benchmarks' nginx in DIR (prefix, logs, hls/): one
# worker, one RTMP server on 127.0.0.1:PORT, application `live` with HLS (2 s fragments); EXTRA
# goes into rtmp{} (our module's settings). Checked with nginx -t.
bench_conf() {
    local p=$1
    rm -rf "$p"
    mkdir -p "$p/logs" "$p/hls" "$p/tmp"
    {
        conf_main "$2" "$p" 8192
        cat <<CONF
rtmp {
    ${4:-}
    server {
        listen 127.0.0.1:$3;
        chunk_size 4096;
        application live {
            live on;
            hls on;
            hls_path $p/hls;
            hls_fragment 2s;
            hls_playlist_length 20s;
        }
    }
}
CONF
    } >"$p/nginx.conf"
    conf_check "$p" || exit 1
}

# summary_field FILE KEY: KEY's value on rtmp-load's SUMMARY line in FILE.
summary_field() {
    grep '^SUMMARY' "$1" | tr ' ' '\n' | awk -F= -v k="$2" '$1 == k {print $2}'
}
