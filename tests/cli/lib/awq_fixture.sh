#!/usr/bin/env bash
# awq_fixture.sh: the ctest fixture "awq_w4g64": SmolLM2 quantized with AWQ
# W4-g64 (calibrated on wikitext-2 valid), which the tests of real-model code
# generation share (tests/CMakeLists.txt). The search takes minutes, so its
# result is cached under ~/.cache/awqc/test-fixtures, keyed by a hash of every
# source that can change it: a changed quantizer, frontend, interpreter or
# model description makes a new one; the plain and sanitizer builds share it.
# Prints the folder's path as its last line. Exit 77 without the default model.
#   awq_fixture.sh          makes the folder unless the cache has it
#   awq_fixture.sh --path   only prints where it is (exit 1 when not made yet)
set -euo pipefail
src=${AWQC_SOURCE_DIR:-$(cd "$(dirname "$0")/../../.." && pwd)}
cache=${AWQC_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/awqc}   # as scripts/setup.sh
gguf="$cache/SmolLM2-135M-Instruct.Q4_1.gguf"
[ -f "$gguf" ] || { echo "SKIP: the default model is not cached (run scripts/setup.sh)"; exit 77; }
calib="$src/../shared/data/wikitext-2/valid.txt"
[ -f "$calib" ] || { echo "SKIP: no calibration text at $calib"; exit 77; }

key=$(cd "$src" && { find common ir frontend quantizer models -type f \
        \( -name '*.c' -o -name '*.h' -o -name '*.l' -o -name '*.y' -o -name '*.model' \) -print; \
      ls runtime/interp*.[ch] runtime/model.[ch]; } | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-16)
dir="$cache/test-fixtures/awq-w4g64-$key"
if [ -f "$dir/.complete" ]; then echo "$dir"; exit 0; fi
[ "${1:-}" = --path ] && { echo "awq_fixture: not made yet: $dir (ctest runs fixture_awq_w4g64 first)" >&2; exit 1; }

awqc=${AWQC_BIN:?}
mkdir -p "$cache/test-fixtures"
tmp=$(mktemp -d "$cache/test-fixtures/.awq.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo "awq_fixture: quantizing SmolLM2 (AWQ W4 g64) into $dir (a few minutes, once per source change)"
"$awqc" quantize -m "$gguf" --bits 4 --group 64 --calib "$calib" -o "$tmp/awq" >"$tmp/log" 2>&1 \
  || { cat "$tmp/log"; exit 1; }
tail -1 "$tmp/log"
touch "$tmp/awq/.complete"
rm -rf "$cache"/test-fixtures/awq-w4g64-*   # older sources' results
mv "$tmp/awq" "$dir"   # same filesystem: the folder appears complete or not at all
echo "$dir"
