#!/usr/bin/env bash
# The runtime stage of docker/Dockerfile, run where no container engine runs: its setup script
# (docker/runtime-setup.sh) on a throwaway copy of this Debian 12 system (overlay.sh), then its
# CMD, `nginx -g 'daemon off;'`, in the foreground as the container's PID 1 would be, fed by an
# RTMP publisher, and stopped by its STOPSIGNAL (SIGQUIT) as `docker stop` does.
#
#   docker_runtime.sh DEB CONF_DIR RTMP_PORT HTTP_PORT SCRATCH_DIR
#
# What differs from the image: the base is this machine's Debian 12 rather than debian:12-slim,
# and the ports are moved to free ones after the setup.
set -euo pipefail

DEB="$1" CONF="$2" RTMP="$3" HTTP="$4" SCRATCH="$5"
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"

# shellcheck source=tests/package/overlay.sh
. "$(dirname "$0")/overlay.sh"
overlay_system "$SCRATCH"

step "runtime-setup.sh (the image's RUN)"
"$ROOT/docker/runtime-setup.sh" "$DEB" "$CONF" || fail "runtime-setup.sh failed"
[[ -L /etc/nginx/modules-enabled/50-mod-rtmp-rs.conf ]] || fail "the module is not enabled"
[[ -d /var/www/html/hls && "$(stat -c %U /var/www/html/hls)" == www-data ]] ||
    fail "hls_path (the VOLUME) is not there for www-data"
[[ "$(readlink /var/log/nginx/error.log)" == /dev/stderr ]] || fail "error.log is not the container's stderr"
sed -i -e "s/listen 1935;/listen 127.0.0.1:$RTMP;/" -e "s/listen \[::\]:1935 ipv6only=on;/listen [::1]:$RTMP ipv6only=on;/" /etc/nginx/rtmp.conf
sed -i -e "s/listen 8080;/listen 127.0.0.1:$HTTP;/" -e "s/listen \[::\]:8080;//" /etc/nginx/sites-enabled/rtmp

step "CMD nginx -g 'daemon off;' in the foreground"
nginx -g 'daemon off;' 2>"$SCRATCH/stderr" &
PID1=$!
trap 'kill -KILL $PID1 2>/dev/null || true' EXIT
wait_for 10 listening "$RTMP" || fail "no RTMP listener: $(cat "$SCRATCH/stderr")"
[[ "$(cat /run/nginx.pid)" == "$PID1" ]] || fail "the master is not the foreground process"
publish "$RTMP" docker 6 || fail "ffmpeg publish failed: $(cat "$SCRATCH/stderr")"
wait_for 10 grep -q '^docker-[0-9]*\.ts$' /var/www/html/hls/docker.m3u8 || fail "no HLS in the volume"
curl -fsS "http://127.0.0.1:$HTTP/hls/docker.m3u8" | grep -q '^#EXTM3U' || fail "no playlist over http"
curl -fsS "http://127.0.0.1:$HTTP/" | grep -q 'dashboard.js' || fail "no dashboard"
curl -fsS -o /dev/null "http://127.0.0.1:$HTTP/hls.min.js" || fail "no hls.min.js (vendored)"

step "docker stop: SIGQUIT, nginx quits gracefully"
workers="$(pgrep -P "$PID1" || true)"
[[ -n "$workers" ]] || fail "no workers"
kill -QUIT "$PID1"
wait_for 10 bash -c "! kill -0 $PID1 2>/dev/null" || fail "nginx did not quit within 10 s of SIGQUIT"
status=0
wait "$PID1" || status=$?
((status == 0)) || fail "nginx exited with status $status"
for w in $workers; do
    kill -0 "$w" 2>/dev/null && fail "worker $w outlived the master"
done
# Debian's nginx.conf logs at "error": nothing at all on a healthy run.
! grep -E '\[(emerg|alert|crit)\]|panicked' "$SCRATCH/stderr" || fail "errors on the container's stderr"
trap - EXIT

echo "docker runtime test: OK"
