#!/usr/bin/env bash
# Build the ngx-rtmp dynamic module for one nginx: by default the nginx installed on this
# machine (Debian/Ubuntu's, with nginx-dev), or another one given by its configured source tree.
#
#   scripts/build.sh                                   the installed /usr/sbin/nginx
#   NGINX_SOURCE_DIR=DIR NGINX_BINARY=BIN scripts/build.sh
#                                                      the nginx BIN, configured in DIR (same
#                                                      version, same configure flags or both
#                                                      --with-compat); scripts/build_nginx.sh
#                                                      makes such a pair for nginx.org's 1.28
#
# - installs missing build packages when run as root (Debian/Ubuntu),
# - configures a private copy of the installed nginx's source tree (nginx-dev), or uses
#   NGINX_SOURCE_DIR as it is (it must have been configured: objs/ngx_auto_config.h),
# - refuses before building when the source tree's version is not the binary's, or when one of
#   them is built --with-compat and the other not,
# - builds the release .so,
# - checks that its module signature equals the binary's (nginx refuses a module otherwise),
# - prints the absolute path of the module as the LAST line of stdout.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# NGINX_BIN: the name this script's callers used before NGINX_BINARY.
NGINX_BINARY="${NGINX_BINARY:-${NGINX_BIN:-/usr/sbin/nginx}}"
BUILD_PKGS=(libclang-dev libpcre2-dev libssl-dev zlib1g-dev binutils)
# The installed nginx's sources come from nginx-dev.
[[ -n "${NGINX_SOURCE_DIR:-}" ]] || BUILD_PKGS=(nginx nginx-dev "${BUILD_PKGS[@]}")

log() { echo "build.sh: $*" >&2; }

# shellcheck source=scripts/packages.sh
. "$ROOT/scripts/packages.sh"
ensure_packages build.sh "${BUILD_PKGS[@]}"

if ! command -v cargo >/dev/null 2>&1; then
    [[ -f "$HOME/.cargo/env" ]] && . "$HOME/.cargo/env"
fi
command -v cargo >/dev/null 2>&1 || { log "cargo not found: install Rust (https://rustup.rs or apt-get install cargo)"; exit 1; }

[[ -x "$NGINX_BINARY" ]] || { log "no nginx binary at $NGINX_BINARY"; exit 1; }
NGINX_BINARY="$(cd "$(dirname "$NGINX_BINARY")" && pwd)/$(basename "$NGINX_BINARY")"
BIN_VERSION="$("$NGINX_BINARY" -v 2>&1 | sed -n 's|.*nginx/\([0-9.]*\).*|\1|p')"
BIN_COMPAT=no
[[ "$("$NGINX_BINARY" -V 2>&1)" == *--with-compat* ]] && BIN_COMPAT=yes

if [[ -n "${NGINX_SOURCE_DIR:-}" ]]; then
    CONF_DIR="$(cd "$NGINX_SOURCE_DIR" && pwd)"
    [[ -f "$CONF_DIR/src/core/nginx.h" ]] || { log "NGINX_SOURCE_DIR=$NGINX_SOURCE_DIR is not an nginx source tree"; exit 1; }
    [[ -f "$CONF_DIR/objs/ngx_auto_config.h" ]] || {
        log "NGINX_SOURCE_DIR=$NGINX_SOURCE_DIR is not configured: run its configure with the flags of $NGINX_BINARY (nginx -V), --with-compat among them"
        exit 1
    }
else
    # nginx's configure needs to run on the exact source tree of the installed nginx.
    SRC=/usr/share/nginx/src
    # Fixed location: .cargo/config.toml points NGINX_BUILD_DIR at it, so plain cargo works too.
    CONF_DIR="$ROOT/target/nginx"
    DEB_VERSION="$(sed -n 's/^#define NGINX_VERSION *"\(.*\)"/\1/p' "$SRC/src/core/nginx.h")"
    if [[ ! -f "$CONF_DIR/objs/ngx_auto_config.h" || "$(cat "$CONF_DIR/.version" 2>/dev/null)" != "$DEB_VERSION" ||
        "$SRC/conf_flags" -nt "$CONF_DIR/objs/ngx_auto_config.h" ]]; then
        log "configuring nginx $DEB_VERSION sources in $CONF_DIR"
        rm -rf "$CONF_DIR"
        mkdir -p "$CONF_DIR"
        cp -a "$SRC/." "$CONF_DIR/"
        (
            cd "$CONF_DIR"
            # shellcheck disable=SC1091
            source ./conf_flags
            ./configure "${NGX_CONF_FLAGS[@]}" >configure.log 2>&1 || { tail -30 configure.log >&2; exit 1; }
        )
        echo "$DEB_VERSION" >"$CONF_DIR/.version"
    fi
fi

# What nginx checks when it loads a module, checked here before a build: the version first
# ("module ... version 1022001 instead of 1028003"), then the signature, which two builds
# share only when both are --with-compat (or have exactly the same configure flags).
SRC_VERSION="$(sed -n 's/^#define NGINX_VERSION *"\(.*\)"/\1/p' "$CONF_DIR/src/core/nginx.h")"
SRC_COMPAT=no
grep -q '^#define NGX_COMPAT  *1' "$CONF_DIR/objs/ngx_auto_config.h" && SRC_COMPAT=yes
if [[ "$SRC_VERSION" != "$BIN_VERSION" ]]; then
    log "refusing to build: the source tree $CONF_DIR is nginx $SRC_VERSION but $NGINX_BINARY is nginx $BIN_VERSION;
    nginx loads only modules built from its own version's sources. Build against that nginx's
    sources: NGINX_SOURCE_DIR=<nginx-$BIN_VERSION configured with its flags> NGINX_BINARY=$NGINX_BINARY $0
    (for nginx.org's 1.28: scripts/build_nginx.sh prints such a pair)"
    exit 1
fi
if [[ "$SRC_COMPAT" != "$BIN_COMPAT" ]]; then
    log "refusing to build: --with-compat is '$BIN_COMPAT' for $NGINX_BINARY but '$SRC_COMPAT' for the source tree $CONF_DIR;
    the module signatures cannot match. Configure the sources with the flags 'nginx -V' shows for $NGINX_BINARY"
    exit 1
fi

export NGINX_BUILD_DIR="$CONF_DIR/objs"
# nginx-sys reads both; relative paths would be taken from its own build directory.
[[ -z "${NGINX_SOURCE_DIR:-}" ]] || export NGINX_SOURCE_DIR="$CONF_DIR"
if [[ -n "${NGINX_SOURCE_DIR:-}" && -z "${CARGO_TARGET_DIR:-}" ]]; then
    # A target directory per nginx version: builds for two nginx do not rebuild each other.
    export CARGO_TARGET_DIR="$ROOT/target/module-nginx-$SRC_VERSION"
fi
log "cargo build --release (nginx $SRC_VERSION, $CONF_DIR)"
(cd "$ROOT" && cargo build --release --lib >&2)

# Where cargo put it: CARGO_TARGET_DIR if set (relative to the repository, as cargo reads it
# from there), else target/.
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
[[ $TARGET_DIR == /* ]] || TARGET_DIR="$ROOT/$TARGET_DIR"
SO="$TARGET_DIR/release/libngx_rtmp.so"
[[ -f "$SO" ]] || { log "no module at $SO"; exit 1; }

# The module signature (NGX_MODULE_SIGNATURE) must match the nginx binary, or nginx
# refuses the module with "is not binary compatible".
sig_re='^[0-9]+,[0-9]+,[0-9]+,[01]{30,}$'
ngx_sig="$(strings "$NGINX_BINARY" | grep -E "$sig_re" | head -1 || true)"
so_sig="$(strings "$SO" | grep -E "$sig_re" | head -1 || true)"
if [[ -z "$so_sig" || "$ngx_sig" != "$so_sig" ]]; then
    log "module signature mismatch: $NGINX_BINARY has '$ngx_sig', the module built from $CONF_DIR has '$so_sig';
    $NGINX_BINARY would refuse it (\"not binary compatible\"). Configure the sources with exactly the flags
    'nginx -V' shows for $NGINX_BINARY"
    exit 1
fi
log "module signature matches $NGINX_BINARY ($so_sig)"
echo "$SO"
