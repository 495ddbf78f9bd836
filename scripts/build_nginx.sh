#!/usr/bin/env bash
# Build an nginx.org-style nginx (1.28 stable, `--with-compat`, the modules nginx.org's packages
# enable) from the source the `nginx-src` crate carries, into a private prefix, to build and test
# the module for the nginx most production sites run.
#
#   scripts/build_nginx.sh          prints two lines: the configured source tree, the binary
#   NGINX_SOURCE_DIR="$(scripts/build_nginx.sh | head -n 1)" \
#   NGINX_BINARY="$(scripts/build_nginx.sh | tail -n 1)" scripts/build.sh
#
# The result is cached under target/nginx-<version>/ and rebuilt only when the version or the
# configure flags change (a build takes a few minutes on 2 cores).
# Environment: NGINX_SRC_VERSION (the nginx-src crate's version, default below),
#              NGINX_ORG_DIR (default <repo>/target/nginx-<nginx version>).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# nginx-src 1.28.5 carries nginx 1.28.3 (the crate's version is its own; the nginx version
# follows the '+').
CRATE_VERSION="${NGINX_SRC_VERSION:-1.28.5}"
BUILD_PKGS=(build-essential libpcre2-dev libssl-dev zlib1g-dev python3)

log() { echo "build_nginx.sh: $*" >&2; }

# shellcheck source=scripts/packages.sh
. "$ROOT/scripts/packages.sh"
ensure_packages build_nginx.sh "${BUILD_PKGS[@]}"
if ! command -v cargo >/dev/null 2>&1; then
    [[ -f "$HOME/.cargo/env" ]] && . "$HOME/.cargo/env"
fi

# The crate's source through cargo itself: a throwaway manifest that depends on it, fetched
# into cargo's registry cache; `cargo metadata` says where it was unpacked.
FETCH="$ROOT/target/nginx-src-fetch"
mkdir -p "$FETCH/src"
cat >"$FETCH/Cargo.toml.new" <<EOF
[package]
name = "nginx-src-fetch"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
nginx-src = "=$CRATE_VERSION"

[workspace]
EOF
cmp -s "$FETCH/Cargo.toml.new" "$FETCH/Cargo.toml" || mv "$FETCH/Cargo.toml.new" "$FETCH/Cargo.toml"
rm -f "$FETCH/Cargo.toml.new"
: >"$FETCH/src/lib.rs"
CRATE_DIR="$(cd "$FETCH" && cargo metadata --format-version 1 2>/dev/null | python3 -c '
import json, sys, os
for p in json.load(sys.stdin)["packages"]:
    if p["name"] == "nginx-src":
        print(os.path.dirname(p["manifest_path"]))
')"
[[ -n "$CRATE_DIR" && -f "$CRATE_DIR/nginx/src/core/nginx.h" ]] ||
    { log "could not fetch the nginx-src crate $CRATE_VERSION"; exit 1; }
VERSION="$(sed -n 's/^#define NGINX_VERSION *"\(.*\)"/\1/p' "$CRATE_DIR/nginx/src/core/nginx.h")"

DIR="${NGINX_ORG_DIR:-$ROOT/target/nginx-$VERSION}"
SRC="$DIR/src"
PREFIX="$DIR/prefix"

# nginx.org's packages (`nginx -V` of nginx.org's 1.28 for Debian), with paths under a private
# prefix. --with-compat fixes the module signature whatever the module list is, which is what
# lets modules built elsewhere load into it.
FLAGS=(
    --prefix="$PREFIX" --modules-path="$PREFIX/modules"
    --with-compat --with-file-aio --with-threads
    --with-http_addition_module --with-http_auth_request_module --with-http_dav_module
    --with-http_flv_module --with-http_gunzip_module --with-http_gzip_static_module
    --with-http_mp4_module --with-http_random_index_module --with-http_realip_module
    --with-http_secure_link_module --with-http_slice_module --with-http_ssl_module
    --with-http_stub_status_module --with-http_sub_module --with-http_v2_module
    --with-http_v3_module --with-mail --with-mail_ssl_module --with-stream
    --with-stream_realip_module --with-stream_ssl_module --with-stream_ssl_preread_module
    --with-cc-opt="-O2 -fstack-protector-strong -Wformat -Werror=format-security -fPIC"
    --with-ld-opt="-Wl,-z,relro -Wl,-z,now -Wl,--as-needed -pie"
)
STAMP="$VERSION ${FLAGS[*]}"

if [[ ! -x "$PREFIX/sbin/nginx" || "$(cat "$DIR/.stamp" 2>/dev/null)" != "$STAMP" ]]; then
    log "building nginx $VERSION (nginx-src $CRATE_VERSION) into $PREFIX"
    rm -rf "$DIR"
    mkdir -p "$SRC"
    cp -a "$CRATE_DIR/nginx/." "$SRC/"
    (
        cd "$SRC"
        # The repository layout: configure lives in auto/ and runs from the top directory.
        auto/configure "${FLAGS[@]}" >configure.log 2>&1 || { tail -30 configure.log >&2; exit 1; }
        make -j"$(nproc)" >make.log 2>&1 || { tail -30 make.log >&2; exit 1; }
        make install >>make.log 2>&1 || { tail -30 make.log >&2; exit 1; }
    )
    echo "$STAMP" >"$DIR/.stamp"
fi
log "nginx $VERSION: $PREFIX/sbin/nginx (source tree $SRC)"
echo "$SRC"
echo "$PREFIX/sbin/nginx"
