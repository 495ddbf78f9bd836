# Shared by the maintainer scripts of libnginx-mod-rtmp-rs (package.sh inlines it where
# #COMMON# stands: maintainer scripts cannot source files of their own package reliably).
AVAILABLE=/usr/share/nginx/modules-available/mod-rtmp-rs.conf
LINK=/etc/nginx/modules-enabled/50-mod-rtmp-rs.conf

# The running master's pid, if nginx runs: its pid file is the one nginx.conf names
# (Debian's: /run/nginx.pid).
nginx_running() {
    pidfile=$(sed -n 's/^[[:space:]]*pid[[:space:]]\{1,\}\([^;[:space:]]*\).*/\1/p' /etc/nginx/nginx.conf 2>/dev/null | head -n 1)
    [ -n "$pidfile" ] || pidfile=/run/nginx.pid
    [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

# What `systemctl reload nginx` runs: a new configuration, the old workers finish gracefully.
reload_nginx() {
    if nginx_running; then
        echo "libnginx-mod-rtmp-rs: reloading nginx"
        nginx -s reload || echo "libnginx-mod-rtmp-rs: nginx -s reload failed; nginx goes on with its previous configuration" >&2
    fi
}
