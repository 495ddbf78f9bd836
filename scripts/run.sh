#!/usr/bin/env bash
# Start (or reload) nginx with the ngx-rtmp module under a local prefix.
#
#   scripts/run.sh          build if needed, start or reload, print URLs
#   scripts/run.sh stop     stop it
#
# Environment: RTMP_PORT (1935), HTTP_PORT (8080), NGX_RTMP_PREFIX (<repo>/run).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RTMP_PORT="${RTMP_PORT:-1935}"
HTTP_PORT="${HTTP_PORT:-8080}"
PREFIX="${NGX_RTMP_PREFIX:-$ROOT/run}"
NGINX="${NGINX_BIN:-/usr/sbin/nginx}"
CONF="$PREFIX/nginx.conf"

running() { [[ -f "$PREFIX/nginx.pid" ]] && kill -0 "$(cat "$PREFIX/nginx.pid")" 2>/dev/null; }

if [[ "${1:-}" == stop ]]; then
    if running; then
        "$NGINX" -p "$PREFIX" -c "$CONF" -s quit
        echo "stopped nginx ($PREFIX)"
    else
        echo "not running ($PREFIX)"
    fi
    exit 0
fi

MODULE="$("$ROOT/scripts/build.sh" | tail -n 1)"

mkdir -p "$PREFIX/logs" "$PREFIX/tmp" "$PREFIX/www"
user_line=""
if [[ $(id -u) -eq 0 ]]; then
    # Workers drop root; they must be able to write the prefix's output directories.
    worker_user=www-data
    id "$worker_user" >/dev/null 2>&1 || worker_user=nobody
    user_line="user $worker_user;"
    chown -R "$worker_user" "$PREFIX/tmp" "$PREFIX/www"
fi
# The dashboard and the stat stylesheet, with hls.js (scripts/hls_js.sh: tests/player's copy
# when the test suite installed it, else a one-time `npm install` under target/).
cp "$ROOT/nginx-conf/www/index.html" "$ROOT/nginx-conf/www/dashboard.js" "$ROOT/nginx-conf/stat.xsl" "$PREFIX/www/"
hls_js="$("$ROOT/scripts/hls_js.sh" | tail -n 1)" || hls_js=""
if [[ -n "$hls_js" ]]; then
    cp "$hls_js" "$PREFIX/www/hls.min.js"
else
    echo "run.sh: npm not found: the dashboard lists streams but cannot play them (apt-get install npm)" >&2
fi
if [[ $(id -u) -eq 0 ]]; then
    chown -R "$worker_user" "$PREFIX/www"
fi

sed -e "s|@MODULE@|$MODULE|g" -e "s|@PREFIX@|$PREFIX|g" -e "s|@USER@|$user_line|g" \
    -e "s|@RTMP_PORT@|$RTMP_PORT|g" -e "s|@HTTP_PORT@|$HTTP_PORT|g" \
    "$ROOT/nginx-conf/ngx-rtmp.conf.in" >"$CONF"

"$NGINX" -t -q -p "$PREFIX" -c "$CONF"
if running && [[ "$MODULE" -nt "$PREFIX/nginx.pid" ]]; then
    # A reload re-reads the configuration but keeps the loaded module's code: restart.
    echo "module rebuilt: restarting nginx ($PREFIX)"
    "$NGINX" -p "$PREFIX" -c "$CONF" -s quit
    for _ in $(seq 50); do running || break; sleep 0.2; done
fi
if running; then
    "$NGINX" -p "$PREFIX" -c "$CONF" -s reload
    echo "reloaded nginx ($PREFIX)"
else
    "$NGINX" -p "$PREFIX" -c "$CONF"
    echo "started nginx ($PREFIX)"
fi

cat <<MSG

  publish:  a test pattern with ffmpeg (not installed by run.sh: apt-get install -y ffmpeg):
            ffmpeg -re -f lavfi -i testsrc=size=1280x720:rate=30 -f lavfi -i sine \\
              -c:v libx264 -pix_fmt yuv420p -g 60 -c:a aac -f flv rtmp://127.0.0.1:$RTMP_PORT/live/<key>
            (OBS: server rtmp://127.0.0.1:$RTMP_PORT/live, stream key <key>)
  HLS:      http://127.0.0.1:$HTTP_PORT/hls/<key>.m3u8   (e.g. ffplay, VLC, Safari, hls.js)
  HTTP-FLV: http://127.0.0.1:$HTTP_PORT/flv?app=live&stream=<key>   (mpegts.js, flv.js, ffplay)
  dashboard: http://127.0.0.1:$HTTP_PORT/   (live streams, player)
  stat:     http://127.0.0.1:$HTTP_PORT/stat   (?format=json, /metrics for Prometheus)
  control:  curl 'http://127.0.0.1:$HTTP_PORT/control/drop/publisher?app=live&name=<key>'
  logs:     $PREFIX/logs/error.log
  config:   $CONF
  stop:     $ROOT/scripts/run.sh stop
MSG
