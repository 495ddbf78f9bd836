# Sourced by the package and container tests: overlays on /etc, /usr, /var and /run whose
# upper layers live in a tmpfs at SCRATCH, private to the caller's mount namespace (run under
# `unshare --mount --propagation private`), so dpkg, apt and nginx run for real while the
# machine stays as it was.

fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "step: $*"; }

# overlay_system SCRATCH
overlay_system() {
    [[ "$(readlink /proc/self/ns/mnt)" != "$(readlink /proc/1/ns/mnt)" ]] || fail "not in a mount namespace of its own"
    mkdir -p "$1"
    mount -t tmpfs tmpfs "$1"
    local d
    for d in etc usr var run; do
        mkdir -p "$1/$d/upper" "$1/$d/work"
        mount -t overlay overlay -o "lowerdir=/$d,upperdir=$1/$d/upper,workdir=$1/$d/work" "/$d"
    done
}

# wait_for SECONDS COMMAND...: until COMMAND succeeds
wait_for() {
    local until=$((SECONDS + $1))
    shift
    until "$@"; do
        ((SECONDS < until)) || return 1
        sleep 0.2
    done
}

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# publish PORT KEY SECONDS: a real-time test pattern (H.264 with 1 s GOPs + AAC) over RTMP
publish() {
    ffmpeg -hide_banner -nostdin -loglevel error -re -f lavfi -i testsrc=size=320x240:rate=30 \
        -f lavfi -i sine=frequency=440:sample_rate=44100 -t "$3" -c:v libx264 -preset ultrafast \
        -g 30 -pix_fmt yuv420p -c:a aac -f flv "rtmp://127.0.0.1:$1/live/$2"
}
