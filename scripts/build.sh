#!/usr/bin/env bash
# Build the ngx-rtmp dynamic module against the nginx installed on this machine.
#
# - installs missing build packages when run as root (Debian/Ubuntu),
# - configures a private copy of the installed nginx's source tree (nginx-dev),
# - builds the release .so,
# - checks that its module signature equals /usr/sbin/nginx's,
# - prints the absolute path of the module as the LAST line of stdout.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NGINX_BIN="${NGINX_BIN:-/usr/sbin/nginx}"
BUILD_PKGS=(nginx nginx-dev libclang-dev libpcre2-dev libssl-dev zlib1g-dev binutils)

log() { echo "build.sh: $*" >&2; }

missing=()
for p in "${BUILD_PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    if [[ $(id -u) -eq 0 ]]; then
        log "installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >&2
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
    else
        log "missing packages: ${missing[*]} (run: sudo apt-get install ${missing[*]})"
        exit 1
    fi
fi

if ! command -v cargo >/dev/null 2>&1; then
    [[ -f "$HOME/.cargo/env" ]] && . "$HOME/.cargo/env"
fi
command -v cargo >/dev/null 2>&1 || { log "cargo not found: install Rust (https://rustup.rs or apt-get install cargo)"; exit 1; }

# nginx's configure needs to run on the exact source tree of the installed nginx.
SRC=/usr/share/nginx/src
NGX_VERSION="$("$NGINX_BIN" -v 2>&1 | sed -n 's|.*nginx/\([0-9.]*\).*|\1|p')"
# Fixed location: .cargo/config.toml points NGINX_BUILD_DIR at it, so plain cargo works too.
CONF_DIR="$ROOT/target/nginx"
if [[ ! -f "$CONF_DIR/objs/ngx_auto_config.h" || "$(cat "$CONF_DIR/.version" 2>/dev/null)" != "$NGX_VERSION" ||
    "$SRC/conf_flags" -nt "$CONF_DIR/objs/ngx_auto_config.h" ]]; then
    log "configuring nginx $NGX_VERSION sources in $CONF_DIR"
    rm -rf "$CONF_DIR"
    mkdir -p "$CONF_DIR"
    cp -a "$SRC/." "$CONF_DIR/"
    (
        cd "$CONF_DIR"
        # shellcheck disable=SC1091
        source ./conf_flags
        ./configure "${NGX_CONF_FLAGS[@]}" >configure.log 2>&1 || { tail -30 configure.log >&2; exit 1; }
    )
    echo "$NGX_VERSION" >"$CONF_DIR/.version"
fi

export NGINX_BUILD_DIR="$CONF_DIR/objs"
log "cargo build --release"
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
ngx_sig="$(strings "$NGINX_BIN" | grep -E "$sig_re" | head -1 || true)"
so_sig="$(strings "$SO" | grep -E "$sig_re" | head -1 || true)"
if [[ -z "$so_sig" || "$ngx_sig" != "$so_sig" ]]; then
    log "module signature mismatch: nginx '$ngx_sig' module '$so_sig'"
    exit 1
fi
log "module signature matches $NGINX_BIN ($so_sig)"
echo "$SO"
