#!/usr/bin/env bash
# Builds the Debian package libnginx-mod-rtmp-rs for the nginx installed on this machine
# (Debian/Ubuntu's, which provides the nginx-abi-* virtual package the module depends on):
#
#   scripts/package.sh        prints the path of the .deb as the LAST line of stdout
#   apt install ./target/deb/libnginx-mod-rtmp-rs_*.deb
#
# - the module from scripts/build.sh (its signature checked against /usr/sbin/nginx),
#   stripped, in /usr/lib/nginx/modules/ngx_rtmp_rs.so,
# - /usr/share/nginx/modules-available/mod-rtmp-rs.conf, which the maintainer scripts link
#   from /etc/nginx/modules-enabled/ as Debian's module packages do (packaging/deb/),
# - the dashboard with hls.js (vendored now, never fetched when nginx runs) and stat.xsl in
#   /usr/share/libnginx-mod-rtmp-rs/www/, example configurations in
#   /usr/share/doc/libnginx-mod-rtmp-rs/examples/.
# Environment: DEB_OUT_DIR (default target/deb), DEB_REVISION (default 1), DEB_MAINTAINER.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PKG=libnginx-mod-rtmp-rs
OUT="${DEB_OUT_DIR:-$ROOT/target/deb}"
log() { echo "package.sh: $*" >&2; }

# The package is for the distribution's nginx: its ABI is what the package depends on.
if [[ -n "${NGINX_SOURCE_DIR:-}" || "${NGINX_BINARY:-/usr/sbin/nginx}" != /usr/sbin/nginx ]]; then
    log "the package is built for the installed /usr/sbin/nginx only (unset NGINX_SOURCE_DIR/NGINX_BINARY);
    for another nginx, install the module from scripts/build.sh by hand (README: Install)"
    exit 1
fi
for tool in dpkg-deb dpkg-shlibdeps strip; do
    command -v "$tool" >/dev/null 2>&1 || { log "$tool not found (apt-get install dpkg-dev binutils)"; exit 1; }
done

MODULE="$(NGINX_BINARY=/usr/sbin/nginx "$ROOT/scripts/build.sh" | tail -n 1)"
HLS_JS="$("$ROOT/scripts/hls_js.sh" | tail -n 1)"

# Debian's nginx provides exactly one nginx-abi-<version>-<n>: the ABI the module was built for.
ABI="$(dpkg-query -W -f='${Provides}' nginx 2>/dev/null | tr ',' '\n' | sed -n 's/^ *\(nginx-abi-[^ ]*\).*/\1/p' | head -n 1)"
[[ -n "$ABI" ]] || { log "the installed nginx package provides no nginx-abi-* (not Debian's nginx?)"; exit 1; }
NGINX_DEB_VERSION="$(dpkg-query -W -f='${Version}' nginx)"
UPSTREAM="$(sed -n 's/^version *= *"\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -n 1)"
VERSION="$UPSTREAM-${DEB_REVISION:-1}"
ARCH="$(dpkg --print-architecture)"
# Reproducible: file times and the changelog date from the last commit when there is one.
MAINTAINER="${DEB_MAINTAINER:-ngx-rtmp developers <ngx-rtmp@example.org>}"
EPOCH="${SOURCE_DATE_EPOCH:-$(git -C "$ROOT" log -1 --format=%ct 2>/dev/null || date +%s)}"

STAGE="$OUT/stage"
rm -rf "$STAGE"
umask 022
mkdir -p "$STAGE/DEBIAN"
DOC="$STAGE/usr/share/doc/$PKG"
SHARE="$STAGE/usr/share/$PKG"

install -d "$STAGE/usr/lib/nginx/modules" "$STAGE/usr/share/nginx/modules-available" \
    "$SHARE/www" "$DOC/examples"
strip --strip-unneeded --remove-section=.comment --remove-section=.note \
    -o "$STAGE/usr/lib/nginx/modules/ngx_rtmp_rs.so" "$MODULE"
chmod 0644 "$STAGE/usr/lib/nginx/modules/ngx_rtmp_rs.so"
# Relative to nginx's prefix (/usr/share/nginx, whose modules/ points at /usr/lib/nginx/modules),
# as Debian's module packages write it.
echo "load_module modules/ngx_rtmp_rs.so;" >"$STAGE/usr/share/nginx/modules-available/mod-rtmp-rs.conf"
install -m 0644 "$ROOT/nginx-conf/www/index.html" "$ROOT/nginx-conf/www/dashboard.js" \
    "$ROOT/nginx-conf/stat.xsl" "$SHARE/www/"
install -m 0644 "$HLS_JS" "$SHARE/www/hls.min.js"
install -m 0644 "$ROOT/nginx-conf/package/rtmp.conf" "$ROOT/nginx-conf/package/rtmp-site.conf" \
    "$ROOT"/nginx-conf/examples/*.conf "$DOC/examples/"
FIRST_YEAR="$(git -C "$ROOT" log --reverse --format=%cd --date=format:%Y 2>/dev/null | sed -n 1p || true)"
YEAR="$(date -u -d "@$EPOCH" +%Y)"
YEARS="${FIRST_YEAR:-$YEAR}"
[[ "$YEARS" == "$YEAR" ]] || YEARS="$YEARS-$YEAR"
sed "s/@YEARS@/$YEARS/" "$ROOT/packaging/deb/copyright" >"$DOC/copyright"
chmod 0644 "$DOC/copyright"
# Tags that do not apply to a package built outside the Debian archive (README: Install).
install -d "$STAGE/usr/share/lintian/overrides"
install -m 0644 "$ROOT/packaging/deb/lintian-overrides" "$STAGE/usr/share/lintian/overrides/$PKG"
printf '%s (%s) unstable; urgency=medium\n\n  * Built from ngx-rtmp %s (%s)\n    for nginx %s (%s).\n\n -- %s  %s\n' \
    "$PKG" "$VERSION" "$UPSTREAM" "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
    "$NGINX_DEB_VERSION" "$ABI" "$MAINTAINER" \
    "$(LC_ALL=C date -u -R -d "@$EPOCH")" | gzip -9n >"$DOC/changelog.Debian.gz"
chmod 0644 "$DOC/changelog.Debian.gz"

# Maintainer scripts, with the shared helpers inlined.
for script in postinst prerm postrm; do
    awk -v common="$ROOT/packaging/deb/common.sh" '
        $0 == "#COMMON#" { while ((getline line < common) > 0) print line; next } { print }
    ' "$ROOT/packaging/deb/$script" >"$STAGE/DEBIAN/$script"
    chmod 0755 "$STAGE/DEBIAN/$script"
done

# libc6 and libgcc-s1 as dpkg-shlibdeps computes them (it wants a debian/control to stand in).
SHL="$OUT/shlibdeps"
rm -rf "$SHL" && mkdir -p "$SHL/debian"
printf 'Source: %s\n\nPackage: %s\nArchitecture: any\n' "$PKG" "$PKG" >"$SHL/debian/control"
SHLIBS="$(cd "$SHL" && dpkg-shlibdeps -O -e"$STAGE/usr/lib/nginx/modules/ngx_rtmp_rs.so" 2>/dev/null |
    sed -n 's/^shlibs:Depends=//p')"
[[ -n "$SHLIBS" ]] || { log "dpkg-shlibdeps found no dependencies"; exit 1; }

INSTALLED_SIZE="$(du -s -k --apparent-size "$STAGE" --exclude=DEBIAN | cut -f1)"
cat >"$STAGE/DEBIAN/control" <<EOF
Package: $PKG
Version: $VERSION
Architecture: $ARCH
Maintainer: $MAINTAINER
Installed-Size: $INSTALLED_SIZE
Depends: $ABI, $SHLIBS
Recommends: nginx
Conflicts: libnginx-mod-rtmp
Section: httpd
Priority: optional
Description: RTMP, HLS and DASH live streaming for nginx (Rust module)
 ngx-rtmp turns the distribution's nginx into a live media server:
 broadcasters publish RTMP (OBS, ffmpeg, GStreamer, Enhanced RTMP with HEVC,
 AV1, VP9 and Opus), the module fans streams out to RTMP players on every
 worker and writes HLS (MPEG-TS or fMP4) and DASH that nginx serves.
 .
 It reads the rtmp {} configuration of nginx-rtmp-module (libnginx-mod-rtmp),
 which it replaces: both provide rtmp {}, so they cannot be installed
 together. The package enables the module in /etc/nginx/modules-enabled and
 reloads nginx; example configurations are in
 /usr/share/doc/$PKG/examples.
EOF

(cd "$STAGE" && find usr -type f -print0 | LC_ALL=C sort -z | xargs -0 md5sum >DEBIAN/md5sums)
chmod 0644 "$STAGE/DEBIAN/control" "$STAGE/DEBIAN/md5sums"
find "$STAGE" -exec touch -h -d "@$EPOCH" {} +

mkdir -p "$OUT"
DEB="$OUT/${PKG}_${VERSION}_${ARCH}.deb"
SOURCE_DATE_EPOCH="$EPOCH" dpkg-deb --root-owner-group -Zxz --build "$STAGE" "$DEB" >&2
log "built $DEB (Depends: $ABI, $SHLIBS)"
echo "$DEB"
