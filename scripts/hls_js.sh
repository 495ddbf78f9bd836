#!/usr/bin/env bash
# Prints the path of hls.min.js (the dashboard's player), the version tests/player pins:
# tests/player's copy when `npm ci` ran there (scripts/test.sh), else a one-time
# `npm install` under target/hls.js. The package and the container image vendor it at build
# time: nothing is downloaded when nginx runs.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VERSION="$(sed -n 's/.*"hls.js": *"\([^"]*\)".*/\1/p' "$ROOT/tests/player/package.json")"
for cand in "$ROOT/tests/player/node_modules/hls.js" "$ROOT/target/hls.js/node_modules/hls.js"; do
    if [[ -f "$cand/dist/hls.min.js" ]] &&
        [[ "$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$cand/package.json" | head -n 1)" == "$VERSION" ]]; then
        echo "$cand/dist/hls.min.js"
        exit 0
    fi
done
command -v npm >/dev/null 2>&1 || { echo "hls_js.sh: npm not found (apt-get install npm)" >&2; exit 1; }
echo "hls_js.sh: npm install hls.js@$VERSION" >&2
mkdir -p "$ROOT/target/hls.js"
npm install --prefix "$ROOT/target/hls.js" --no-audit --no-fund --loglevel=error "hls.js@$VERSION" >&2
echo "$ROOT/target/hls.js/node_modules/hls.js/dist/hls.min.js"
