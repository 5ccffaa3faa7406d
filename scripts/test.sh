#!/usr/bin/env bash
# test.sh: the project's test command (README, CI): set up, build, run ctest.
#   scripts/test.sh             release build in build/, all tests
#   scripts/test.sh --sanitize  also an ASan+UBSan build in build-asan/ and its tests
#   scripts/test.sh --sanitize --fuzz   and a 30 s libFuzzer smoke run per harness (CI)
set -euo pipefail
cd "$(dirname "$0")/.."
sanitize=0; fuzz=0
for arg in "$@"; do
  case "$arg" in
    --sanitize) sanitize=1 ;;
    --fuzz) fuzz=1 ;;
    *) echo "test.sh: unknown argument '$arg'" >&2; exit 2 ;;
  esac
done
./scripts/setup.sh
jobs=$(nproc)
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAWQC_WERROR=ON >/dev/null
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs"
if [ "$sanitize" = 1 ]; then
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DAWQC_SANITIZE=ON -DAWQC_WERROR=ON >/dev/null
  cmake --build build-asan -j"$jobs"
  ctest --test-dir build-asan --output-on-failure -j"$jobs"
fi
if [ "$fuzz" = 1 ]; then
  ./scripts/fuzz.sh --seconds 30
fi
