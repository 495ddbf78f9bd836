#!/usr/bin/env bash
# The life of the libnginx-mod-rtmp-rs package on this machine's nginx, in a throwaway copy of
# the system: run by tests/e2e_package.rs under `unshare --mount`, it lays overlays on /etc,
# /usr, /var and /run (writes go to a tmpfs that dies with the mount namespace), so dpkg,
# nginx and the maintainer scripts run for real while the machine's package database,
# /etc/nginx and Debian's libnginx-mod-rtmp (which other tests load) stay as they are.
#
#   in_overlay.sh DEB RTMP_PORT HTTP_PORT WEB_PORT SCRATCH_DIR
#
# Prints "step: ..." as it goes and "package test: OK" at the end; exits non-zero at the
# first check that fails.
set -euo pipefail

DEB="$1" RTMP="$2" HTTP="$3" WEB="$4" SCRATCH="$5"
PKG=libnginx-mod-rtmp-rs
LINK=/etc/nginx/modules-enabled/50-mod-rtmp-rs.conf
SO=/usr/lib/nginx/modules/ngx_rtmp_rs.so

# shellcheck source=tests/package/overlay.sh
. "$(dirname "$0")/overlay.sh"
overlay_system "$SCRATCH"
export DEBIAN_FRONTEND=noninteractive

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
nginx_pid() { cat /run/nginx.pid 2>/dev/null || true; }
# The pids of the running master's workers whose memory maps the module (0 or more).
workers_with_module() {
    local master
    master="$(nginx_pid)"
    for p in $(pgrep -P "$master" 2>/dev/null || true); do
        grep -q "$SO" "/proc/$p/maps" 2>/dev/null && echo "$p"
    done
    return 0
}
has_module_workers() { [[ -n "$(workers_with_module)" ]]; }
no_module_workers() { [[ -z "$(workers_with_module)" ]] && [[ -n "$(pgrep -P "$(nginx_pid)" || true)" ]]; }
stop_nginx() {
    local pid
    pid="$(nginx_pid)"
    [[ -n "$pid" ]] && kill -QUIT "$pid" 2>/dev/null || return 0
    wait_for 10 bash -c "! kill -0 $pid 2>/dev/null" || kill -KILL "$pid" 2>/dev/null || true
}
trap stop_nginx EXIT

step "Conflicts: dpkg -i fails while libnginx-mod-rtmp is installed, and removes nothing"
if installed libnginx-mod-rtmp; then
    if out="$(dpkg -i "$DEB" 2>&1)"; then fail "dpkg -i installed next to libnginx-mod-rtmp: $out"; fi
    grep -q "conflicts with libnginx-mod-rtmp" <<<"$out" || fail "no conflict reported: $out"
    installed libnginx-mod-rtmp || fail "libnginx-mod-rtmp was removed"
    installed "$PKG" && fail "$PKG was installed"

    step "forced in beside an enabled C module: postinst fails and leaves the module disabled"
    ln -s /usr/share/nginx/modules-available/mod-rtmp.conf /etc/nginx/modules-enabled/50-mod-rtmp.conf
    if out="$(dpkg -i --force-conflicts "$DEB" 2>&1)"; then fail "postinst accepted the C module beside it: $out"; fi
    grep -q "nginx loads the C nginx-rtmp-module too" <<<"$out" || fail "postinst does not say why: $out"
    [[ ! -e "$LINK" ]] || fail "$LINK left enabled beside the C module"
    nginx -t -q
    dpkg -P "$PKG" >/dev/null
    rm /etc/nginx/modules-enabled/50-mod-rtmp.conf

    # Gone from the overlay only: the machine keeps it.
    dpkg -P libnginx-mod-rtmp >/dev/null
else
    echo "(libnginx-mod-rtmp is not installed here)"
fi
BEFORE="$(ls -A /etc/nginx/modules-enabled)"

step "the system nginx runs (its default site moved to port $WEB)"
sed -i -e "s/listen 80 /listen $WEB /" -e "s/listen \[::\]:80 /listen [::]:$WEB /" /etc/nginx/sites-enabled/default
nginx -t -q
nginx
wait_for 10 listening "$WEB" || fail "nginx does not listen on $WEB"
has_module_workers && fail "the module is loaded before the package is installed"

step "dpkg -i: the module is enabled, nginx -t passes, nginx reloads with it"
out="$(dpkg -i "$DEB" 2>&1)" || fail "dpkg -i failed: $out"
echo "$out"
installed "$PKG" || fail "$PKG is not installed"
[[ "$(readlink "$LINK")" == /usr/share/nginx/modules-available/mod-rtmp-rs.conf ]] || fail "no $LINK"
grep -q "reloading nginx" <<<"$out" || fail "postinst did not reload nginx"
nginx -t -q
wait_for 10 has_module_workers || fail "no nginx worker loaded $SO after the reload"
[[ -f /usr/share/$PKG/www/hls.min.js && -f /usr/share/$PKG/www/stat.xsl ]] || fail "dashboard files missing"

step "the packaged example configuration: nginx -s reload, an ffmpeg publish yields HLS"
sed -e "s/listen 1935;/listen 127.0.0.1:$RTMP;/" -e "s/listen \[::\]:1935 ipv6only=on;/listen [::1]:$RTMP ipv6only=on;/" \
    "/usr/share/doc/$PKG/examples/rtmp.conf" >/etc/nginx/rtmp.conf
echo "include /etc/nginx/rtmp.conf;" >>/etc/nginx/nginx.conf
sed -e "s/listen 8080;/listen 127.0.0.1:$HTTP;/" -e "s/listen \[::\]:8080;//" \
    "/usr/share/doc/$PKG/examples/rtmp-site.conf" >/etc/nginx/sites-enabled/rtmp
nginx -t -q
nginx -s reload
wait_for 10 listening "$RTMP" || fail "no RTMP listener on $RTMP: $(tail -5 /var/log/nginx/error.log)"
publish "$RTMP" pkg 8 ||
    fail "ffmpeg publish failed: $(tail -5 /var/log/nginx/error.log)"
playlist=/var/www/html/hls/pkg.m3u8
wait_for 10 grep -q '^pkg-[0-9]*\.ts$' "$playlist" || fail "no HLS playlist with segments at $playlist"
segments="$(grep -c '^pkg-[0-9]*\.ts$' "$playlist")"
((segments >= 2)) || fail "$segments segment(s) for 8 s of 1 s GOPs and 3 s fragments"
curl -fsS "http://127.0.0.1:$HTTP/hls/pkg.m3u8" | grep -q '^#EXTM3U' || fail "the site does not serve the playlist"
curl -fsS "http://127.0.0.1:$HTTP/stat" | grep -q '<rtmp>' || fail "no stat XML"
curl -fsS "http://127.0.0.1:$HTTP/" | grep -q 'dashboard.js' || fail "no dashboard"
curl -fsS -o /dev/null "http://127.0.0.1:$HTTP/hls.min.js" || fail "no hls.min.js"
echo "HLS: $segments segments"

step "dpkg -i again (an upgrade): the link stays, nginx reloads, a restart is advised"
out="$(dpkg -i "$DEB" 2>&1)" || fail "the upgrade failed: $out"
[[ -L "$LINK" ]] || fail "the upgrade lost $LINK"
grep -q "reloading nginx" <<<"$out" || fail "no reload on upgrade: $out"
grep -q "systemctl restart nginx" <<<"$out" || fail "no restart advice on upgrade: $out"
wait_for 10 listening "$RTMP" || fail "no RTMP listener after the upgrade"

step "dpkg -r while the configuration uses the module: refused, nginx unchanged"
if out="$(dpkg -r "$PKG" 2>&1)"; then fail "dpkg -r removed a module the configuration uses: $out"; fi
grep -q "not removed" <<<"$out" || fail "the refusal does not say why: $out"
installed "$PKG" || fail "$PKG was half removed"
[[ -L "$LINK" ]] || fail "$LINK is gone"
nginx -t -q
kill -0 "$(nginx_pid)" || fail "nginx is not running"

step "dpkg -r after the configuration dropped rtmp {}: nginx -t passes, nginx reloads without it"
rm /etc/nginx/rtmp.conf /etc/nginx/sites-enabled/rtmp
sed -i '\|^include /etc/nginx/rtmp.conf;$|d' /etc/nginx/nginx.conf
nginx -s reload
out="$(dpkg -r "$PKG" 2>&1)" || fail "dpkg -r failed: $out"
echo "$out"
[[ ! -e $SO ]] || fail "$SO is still there"
[[ -L "$LINK.removed" && ! -e "$LINK" ]] || fail "the link is not kept as .removed"
nginx -t -q
kill -0 "$(nginx_pid)" || fail "nginx is not running"
grep -q "reloading nginx" <<<"$out" || fail "postrm did not reload nginx"
wait_for 15 no_module_workers || fail "workers still map $SO after the removal"

step "dpkg -P: modules-enabled as it was"
dpkg -P "$PKG" >/dev/null
[[ "$(ls -A /etc/nginx/modules-enabled)" == "$BEFORE" ]] ||
    fail "modules-enabled: '$(ls -A /etc/nginx/modules-enabled)' instead of '$BEFORE'"
nginx -t -q
nginx -s reload

echo "package test: OK"
