#!/usr/bin/env bash
# test.sh: the project's test command (README, CI): set up, build, run ctest.
#   scripts/test.sh             release build in build/, all tests
#   scripts/test.sh --sanitize  also an ASan+UBSan build in build-asan/ and its tests
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
jobs=$(nproc)
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAWQC_WERROR=ON >/dev/null
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs"
if [ "${1:-}" = "--sanitize" ]; then
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DAWQC_SANITIZE=ON -DAWQC_WERROR=ON >/dev/null
  cmake --build build-asan -j"$jobs"
  ASAN_OPTIONS=detect_leaks=1 ctest --test-dir build-asan --output-on-failure -j"$jobs"
fi
