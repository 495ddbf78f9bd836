#!/usr/bin/env bash
# Install the module into the system nginx (Debian/Ubuntu layout) and reload it.
#
#   sudo scripts/install.sh
#
# Copies the module to the modules dir, writes modules-available/modules-enabled snippets,
# refuses when Debian's libnginx-mod-rtmp is enabled (both register the `rtmp` directive),
# checks the configuration with `nginx -t`, then reloads nginx.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NGINX="${NGINX_BIN:-/usr/sbin/nginx}"
MODULES_DIR="${NGX_MODULES_DIR:-/usr/lib/nginx/modules}"
ETC="${NGX_ETC:-/etc/nginx}"
NAME=ngx_rtmp_rs

die() { echo "install.sh: $*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "run as root (it writes $MODULES_DIR and $ETC)"

# The package owns the same module file and link: upgrade it as a package.
if dpkg-query -W -f='${Status}' libnginx-mod-rtmp-rs 2>/dev/null | grep -q "install ok installed"; then
    die "the libnginx-mod-rtmp-rs package is installed and owns $MODULES_DIR/$NAME.so.
Upgrade it with: scripts/package.sh && apt install ./target/deb/libnginx-mod-rtmp-rs_*.deb"
fi

# Both modules register `rtmp {}`: nginx would refuse to start with the two loaded.
# -R: modules-enabled holds symlinks.
if grep -Rqs "ngx_rtmp_module" "$ETC/modules-enabled/" "$ETC/nginx.conf"; then
    die "Debian's libnginx-mod-rtmp is enabled ($(grep -Rls ngx_rtmp_module "$ETC/modules-enabled/" "$ETC/nginx.conf" | tr '\n' ' ')).
Both modules provide the 'rtmp' block and cannot be loaded together. Disable it first:
    rm $ETC/modules-enabled/50-mod-rtmp.conf   (or: apt-get remove libnginx-mod-rtmp)
then run this script again; your existing rtmp {} block works unchanged with ngx-rtmp."
fi

MODULE="$("$ROOT/scripts/build.sh" | tail -n 1)"
install -D -m 0644 "$MODULE" "$MODULES_DIR/$NAME.so"
mkdir -p "$ETC/modules-available" "$ETC/modules-enabled"
echo "load_module $MODULES_DIR/$NAME.so;" >"$ETC/modules-available/mod-rtmp-rs.conf"
ln -sf "$ETC/modules-available/mod-rtmp-rs.conf" "$ETC/modules-enabled/50-mod-rtmp-rs.conf"
echo "installed $MODULES_DIR/$NAME.so and $ETC/modules-enabled/50-mod-rtmp-rs.conf"

if ! grep -q "modules-enabled" "$ETC/nginx.conf" 2>/dev/null; then
    echo "note: $ETC/nginx.conf does not include modules-enabled/*.conf; add at its top:"
    echo "    include $ETC/modules-enabled/*.conf;"
fi

"$NGINX" -t
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet nginx 2>/dev/null; then
    # A reload re-reads the config; an already loaded module's code is replaced only by a restart.
    systemctl reload nginx
    echo "reloaded nginx (systemctl). To load a NEW build of the module: systemctl restart nginx"
elif [[ -f /run/nginx.pid ]] && kill -0 "$(cat /run/nginx.pid)" 2>/dev/null; then
    "$NGINX" -s reload
    echo "reloaded nginx. To load a NEW build of the module: restart nginx"
else
    echo "nginx is not running; start it with: systemctl start nginx (or: $NGINX)"
fi
