#!/usr/bin/env bash
# Run the cargo-fuzz targets (fuzz/) one after the other, niced, each for a bounded time, and
# print a summary line per target (executions, coverage, crashes).
#
#   scripts/fuzz.sh                 # every target, FUZZ_SECS (default 300) seconds each
#   scripts/fuzz.sh session demux   # only these
#   FUZZ_SECS=60 scripts/fuzz.sh
#
# New interesting inputs go to fuzz/corpus/<target>/ (not committed); crashes to
# fuzz/artifacts/<target>/. Seeds are read from tests/corpus/<target>/ (committed; replayed by
# `cargo test --test corpus_replay`). A crash input belongs in tests/corpus/regressions/.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT/fuzz"
SECS="${FUZZ_SECS:-300}"
# Toolchain: nightly if rustup has it, else stable with RUSTC_BOOTSTRAP=1 (see fuzz/README.md).
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    TC=(+nightly)
else
    TC=(+stable); export RUSTC_BOOTSTRAP=1
fi
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz
ALL=(chunk_decoder amf0_decode flv_tag avc_config aac_config ex_header hevc_config av1_config vp_config opus_head demux demux_ex pipeline_ex hls_stream session session_handshake)
TARGETS=("$@"); ((${#TARGETS[@]})) || TARGETS=("${ALL[@]}")
nice -n 19 cargo "${TC[@]}" fuzz build -O >&2 || exit 1
mkdir -p logs
for t in "${TARGETS[@]}"; do
    mkdir -p "corpus/$t"
    log="logs/$t.log"
    nice -n 19 cargo "${TC[@]}" fuzz run -O "$t" "corpus/$t" "$ROOT/tests/corpus/$t" -- \
        -max_total_time="$SECS" -max_len=65536 -timeout=10 -rss_limit_mb=1024 -print_final_stats=1 >"$log" 2>&1
    rc=$?
    runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
    cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1)
    crashes=$(ls "artifacts/$t" 2>/dev/null | wc -l)
    echo "fuzz: $t: rc=$rc secs=$SECS execs=${runs:-?} ${cov:-cov: ?} corpus=$(ls "corpus/$t" | wc -l) artifacts=$crashes"
done
