#!/usr/bin/env bash
# LL-HLS waiting-request benchmark for `rtmp_hls`: what a blocking playlist request costs while
# it waits, and how soon it is answered once the part it waits for is listed.
#
# One nginx worker serves `location /hls/ { rtmp_hls; }` on a playlist this script writes into
# hls_path (LL-HLS, 1 s parts, TARGETDURATION 8 so that no request times out during a round).
# Figures:
#   - worker RSS with 0 waiting requests, then with LLHLS_COUNTS (default "1000 5000") blocking
#     requests (`?_HLS_msn=<next>&_HLS_part=0`) held open, and the memory per waiting request
#     ((RSS_N - RSS_0) / N: nginx's connection and request plus our entry);
#   - wake-up latency: the playlist listing the awaited part is renamed into place and the time
#     from the rename to each waiting client's first response byte is measured (median, p99,
#     max), with 100 and with the largest count of waiting requests.
#
#   scripts/bench_llhls.sh                      # ~1 minute; run by scripts/bench.sh at its end
#   NGX_RTMP_MODULE=/path/libngx_rtmp.so LLHLS_COUNTS="1000" scripts/bench_llhls.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/target/bench/llhls"
COUNTS="${LLHLS_COUNTS:-1000 5000}"
log() { echo "bench_llhls.sh: $*" >&2; }

# shellcheck source=scripts/load_common.sh
. "$ROOT/scripts/load_common.sh"

mkdir -p "$OUT"
module_copy ngx_rtmp_rs.so
DIR="$(mktemp -d /dev/shm/bench-llhls.XXXXXX)"
mkdir -p "$DIR/logs" "$DIR/hls" "$DIR/tmp"
port_rtmp=$((20000 + RANDOM % 20000))
port_http=$((port_rtmp + 1))
{
    conf_main "$OUT/ngx_rtmp_rs.so" "$DIR" 20000
    cat <<CONF
rtmp { server { listen 127.0.0.1:$port_rtmp;
    application live { live on; hls on; hls_path $DIR/hls; } } }
http {
    access_log off;
    client_body_temp_path $DIR/tmp;
    proxy_temp_path $DIR/tmp; fastcgi_temp_path $DIR/tmp; uwsgi_temp_path $DIR/tmp; scgi_temp_path $DIR/tmp;
    server { listen 127.0.0.1:$port_http backlog=16384;
        location /hls/ { rtmp_hls; rtmp_hls_max_waiting 20000; } }
}
CONF
} >"$DIR/nginx.conf"
conf_check "$DIR"
read -r master worker < <(nginx_up "$DIR")
trap 'nginx_down "$master"; rm -rf "$DIR"' EXIT

python3 - "$DIR/hls/ll.m3u8" "$port_http" "$worker" $COUNTS <<'PY'
import os, resource, selectors, socket, statistics, sys, time

playlist, port, worker = sys.argv[1], int(sys.argv[2]), sys.argv[3]
counts = [int(c) for c in sys.argv[4:]]
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

def text(msn_open, parts):
    s = ["#EXTM3U", "#EXT-X-VERSION:9", "#EXT-X-TARGETDURATION:8", "#EXT-X-PART-INF:PART-TARGET=1.0",
         "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=3.0",
         "#EXT-X-MEDIA-SEQUENCE:%d" % (msn_open - 3)]
    for m in range(msn_open - 3, msn_open):
        s += ["#EXT-X-PART:DURATION=1.0,URI=\"ll-%d.%d.ts\"" % (m, p) for p in range(8)]
        s += ["#EXTINF:8.0,", "ll-%d.ts" % m]
    s += ["#EXT-X-PART:DURATION=1.0,URI=\"ll-%d.%d.ts\"" % (msn_open, p) for p in range(parts)]
    s += ["#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"ll-%d.%d.ts\"" % (msn_open, parts)]
    return "\n".join(s) + "\n"

def write(t):
    tmp = playlist + ".tmp"
    with open(tmp, "w") as f:
        f.write(t)
    os.rename(tmp, playlist)

def rss_kb():
    with open("/proc/%s/status" % worker) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])

def open_waiting(n, msn, part):
    socks = []
    req = ("GET /hls/ll.m3u8?_HLS_msn=%d&_HLS_part=%d HTTP/1.0\r\nHost: x\r\n\r\n" % (msn, part)).encode()
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(req)
        s.setblocking(False)
        socks.append(s)
    return socks

def answered_early(socks):
    early = 0
    for s in socks:
        try:
            if s.recv(1, socket.MSG_PEEK):
                early += 1
        except BlockingIOError:
            pass
    return early

def wake(socks, parts_now, msn):
    sel = selectors.DefaultSelector()
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
    write(text(msn, parts_now))
    t0 = time.monotonic()
    lat, left = [], len(socks)
    deadline = t0 + 30
    while left and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=1):
            lat.append((time.monotonic() - t0) * 1000)
            sel.unregister(key.fileobj)
            left -= 1
    for s in socks:
        s.close()
    return lat, left

msn = 100
write(text(msn, 0))
time.sleep(0.3)
# Warm the worker up (first requests allocate its caches) before the baseline.
for s in open_waiting(50, msn, 1):
    s.close()
time.sleep(1.0)
base = rss_kb()
print("LL-HLS waiting requests (rtmp_hls, 1 worker)")
print("  %-28s %10s %14s" % ("waiting requests", "RSS kB", "per request"))
print("  %-28s %10d %14s" % ("0", base, "-"))
for n in counts:
    socks = open_waiting(n, msn, 1)
    time.sleep(1.5 + n / 2000)
    rss = rss_kb()
    early = answered_early(socks)
    print("  %-28s %10d %11.2f kB%s" % (n, rss, (rss - base) / n,
          "" if early == 0 else "  (%d answered early!)" % early))
    for s in socks:
        s.close()
    time.sleep(1.0)

print("wake-up latency: rename of the playlist listing the part -> first response byte")
for n in [100, max(counts)]:
    socks = open_waiting(n, msn, 1)
    time.sleep(1.0 + n / 2000)
    lat, left = wake(socks, 2, msn)
    lat.sort()
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else float("nan")
    print("  %5d waiting: median %.1f ms, p99 %.1f ms, max %.1f ms%s" % (
        n, statistics.median(lat) if lat else float("nan"), p99, lat[-1] if lat else float("nan"),
        "" if left == 0 else ", %d unanswered" % left))
    write(text(msn, 0))
    time.sleep(0.5)
PY
