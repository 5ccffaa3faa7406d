#!/usr/bin/env bash
# fuzz.sh: builds the libFuzzer harnesses (tests/fuzz) with clang in build-fuzz/
# and runs each for a while from its seed corpus; prints one markdown table
# row per harness and exits non-zero when any crash, leak, timeout, OOM or
# sanitizer report happened (the inputs land in build-fuzz/crashes/<harness>/).
#   scripts/fuzz.sh                    every harness, 30 s each
#   scripts/fuzz.sh --seconds 600      long runs
#   scripts/fuzz.sh --only fuzz_ir --only fuzz_lang   (or --only fuzz_ir,fuzz_lang)
#   scripts/fuzz.sh --no-build --jobs 2
# Needs clang (libFuzzer ships with it). New corpus entries grow in
# build-fuzz/corpus/<harness>/; the checked-in seeds are only read.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=$ROOT/build-fuzz
ALL=(fuzz_ckpt fuzz_hf_folder fuzz_ir fuzz_lang fuzz_tokenizer_json fuzz_tokenize fuzz_artifact)

seconds=30
jobs=$(nproc)
build=1
only=()

usage() { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=${2:?--seconds needs a value}; shift 2 ;;
    --only) IFS=, read -r -a names <<<"${2:?--only needs a harness name}"; only+=("${names[@]}"); shift 2 ;;
    --jobs) jobs=${2:?--jobs needs a value}; shift 2 ;;
    --no-build) build=0; shift ;;
    -h|--help) usage 0 ;;
    *) echo "fuzz.sh: unknown argument '$1'" >&2; usage 2 ;;
  esac
done
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
  echo "fuzz.sh: --seconds wants a positive whole number, got '$seconds'" >&2; exit 2
fi
harnesses=("${ALL[@]}")
if [ ${#only[@]} -gt 0 ]; then
  for h in "${only[@]}"; do
    [[ " ${ALL[*]} " == *" $h "* ]] || { echo "fuzz.sh: no harness '$h' (have: ${ALL[*]})" >&2; exit 2; }
  done
  harnesses=("${only[@]}")
fi

# ----------------------------------------------------------------------------
# build

if [ "$build" = 1 ]; then
  command -v clang >/dev/null || { echo "fuzz.sh: clang not found (apt-get install clang)" >&2; exit 2; }
  CC=clang cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Debug -DAWQC_FUZZ=ON -DAWQC_NATIVE=OFF >/dev/null
  cmake --build "$BUILD" -j"$jobs" --target "${harnesses[@]}" >/dev/null
fi

# ----------------------------------------------------------------------------
# running one harness

# Read-only seed folders, one a line: tests/fuzz/corpus/<harness> and real inputs already in the tree.
seed_dirs() {
  echo "$ROOT/tests/fuzz/corpus/$1"
  case "$1" in
    fuzz_ir) echo "$ROOT/tests/fixtures/ir" ;;
    fuzz_lang) printf '%s\n' "$ROOT/models" "$ROOT/tests/fixtures/lang" ;;
  esac
}

# The value after "key:" in libFuzzer's last status line (cov, ft, corp) or its final stats.
last_status() { grep -E "^#[0-9]+[[:space:]].* $2: " "$1" | tail -n 1 | sed -E "s/.* $2: ([^ ]+).*/\1/"; }
final_stat() { grep -E "^stat::$2:" "$1" | tail -n 1 | awk '{print $2}'; }

failures=0
reports=()

run_harness() {
  local name=$1 exe=$BUILD/tests/fuzz/$1 log=$BUILD/logs/$1.log crashes=$BUILD/crashes/$1
  [ -x "$exe" ] || { echo "fuzz.sh: $exe is not built (drop --no-build)" >&2; exit 2; }
  mkdir -p "$BUILD/corpus/$name" "$crashes" "$BUILD/logs"
  local seeds=() d
  while IFS= read -r d; do
    if [ -d "$d" ]; then seeds+=("$d"); fi
  done < <(seed_dirs "$name")
  local opts=(-max_total_time="$seconds" -rss_limit_mb=2048 -timeout=30 -print_final_stats=1
              -artifact_prefix="$crashes/")
  if [ -f "$ROOT/tests/fuzz/$name.dict" ]; then opts+=(-dict="$ROOT/tests/fuzz/$name.dict"); fi
  local rc=0
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
    "$exe" "${opts[@]}" "$BUILD/corpus/$name" ${seeds[@]+"${seeds[@]}"} >"$log" 2>&1 || rc=$?
  local after; after=$(find "$crashes" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' \
    -o -name 'oom-*' \) -newer "$log.start" 2>/dev/null | wc -l)
  local result=ok
  if [ "$rc" != 0 ] || [ "$after" != 0 ] || grep -qE "ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:" "$log"; then
    result="**FAILED** (exit $rc, see $log)"
    failures=$((failures + 1))
    reports+=("$name: $(grep -m1 -E '^SUMMARY: ' "$log" || echo 'no SUMMARY line'); log $log; inputs in $crashes/")
  fi
  local execs rate
  execs=$(final_stat "$log" number_of_executed_units)
  rate=$(final_stat "$log" average_exec_per_sec)
  printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$name" "$seconds" "${execs:-?}" "${rate:-?}" \
    "$(last_status "$log" cov)" "$(last_status "$log" ft)" "$(last_status "$log" corp)" \
    "$(final_stat "$log" peak_rss_mb)" "$result"
}

echo "| harness | seconds | execs | execs/s | cov | ft | corpus | peak RSS MB | result |"
echo "|---|---|---|---|---|---|---|---|---|"
for h in "${harnesses[@]}"; do
  mkdir -p "$BUILD/logs"
  touch "$BUILD/logs/$h.log.start"
  run_harness "$h"
done

if [ "$failures" -gt 0 ]; then
  echo
  echo "fuzz.sh: $failures harness(es) reported a problem:"
  for r in "${reports[@]}"; do echo "  $r"; done
  echo "reproduce: build-fuzz/tests/fuzz/<harness> <input file>"
  exit 1
fi
