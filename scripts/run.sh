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
sed -e "s|@MODULE@|$MODULE|g" -e "s|@PREFIX@|$PREFIX|g" -e "s|@USER@|$user_line|g" \
    -e "s|@RTMP_PORT@|$RTMP_PORT|g" -e "s|@HTTP_PORT@|$HTTP_PORT|g" \
    "$ROOT/nginx-conf/ngx-rtmp.conf.in" >"$CONF"

"$NGINX" -t -q -p "$PREFIX" -c "$CONF"
if running; then
    "$NGINX" -p "$PREFIX" -c "$CONF" -s reload
    echo "reloaded nginx ($PREFIX)"
else
    "$NGINX" -p "$PREFIX" -c "$CONF"
    echo "started nginx ($PREFIX)"
fi

cat <<MSG

  publish:  ffmpeg -re -i input.mp4 -c:v libx264 -c:a aac -f flv rtmp://127.0.0.1:$RTMP_PORT/live/<key>
            (OBS: server rtmp://127.0.0.1:$RTMP_PORT/live, stream key <key>)
  HLS:      http://127.0.0.1:$HTTP_PORT/hls/<key>.m3u8   (e.g. ffplay, VLC, Safari, hls.js)
  logs:     $PREFIX/logs/error.log
  config:   $CONF
  stop:     $ROOT/scripts/run.sh stop
MSG
