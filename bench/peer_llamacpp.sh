#!/usr/bin/env bash
# peer_llamacpp.sh: the llama.cpp peer for awqc's end-to-end speed comparison.
# Builds llama.cpp (the copy vendored in PyPI's llama-cpp-python source
# distribution, pinned below) and prepares the peer models from the default
# model; everything lives in the cache, nothing in the repository.
#
#   bench/peer_llamacpp.sh               build once, prepare models; the last
#                                        stdout line is the bin dir
#   bench/peer_llamacpp.sh --print-bin   just the bin dir (exit 1 if not built)
#   bench/peer_llamacpp.sh --print-models  just the models dir (exit 1 if absent)
#   bench/peer_llamacpp.sh --version     the pinned llama-cpp-python version
#
# Layout under ~/.cache/awqc/peers/llama-cpp-python-$VERSION/ ($AWQC_CACHE_DIR
# or $XDG_CACHE_HOME/awqc replace ~/.cache/awqc, as in scripts/setup.sh):
#   src/     the unpacked sdist (llama.cpp is src/vendor/llama.cpp)
#   build/   Release, GGML_NATIVE=ON, LLAMA_CURL=OFF, static; bin/ holds
#            llama-bench, llama-quantize, llama-simple; build.log
#   models/  smollm2-135m-q4_1.gguf   the default model as is (a symlink)
#            smollm2-135m-q4_0.gguf   llama-quantize --allow-requantize ... Q4_0
#            *.types.txt              tensor types (bench/gguf_weights.py)
#
# Tensor types (recorded 0.3.16, SmolLM2-135M-Instruct; 30 blocks of 9 tensors,
# the output projection tied to token_embd in both files):
#   q4_1: 210 Q4_1 (every block matrix), 61 F32 (norms), token_embd Q8_0;
#         92.1 MiB, 92.10 MiB read per decoded token
#   q4_0: 210 Q4_0, 61 F32, token_embd Q8_0 (llama-quantize wants Q6_K for the
#         tied output but 576 columns are not a multiple of 256: Q8_0 fallback);
#         85.8 MiB, 85.77 MiB read per decoded token
set -euo pipefail

VERSION=0.3.16
TARGETS=(llama-bench llama-quantize llama-simple)
JOBS=2
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

cache_dir() {
  if [ -n "${AWQC_CACHE_DIR:-}" ]; then echo "$AWQC_CACHE_DIR"
  elif [ -n "${XDG_CACHE_HOME:-}" ]; then echo "$XDG_CACHE_HOME/awqc"
  else echo "$HOME/.cache/awqc"; fi
}

CACHE="$(cache_dir)"
PEER="$CACHE/peers/llama-cpp-python-$VERSION"
SRC="$PEER/src"
BUILD="$PEER/build"
BIN="$BUILD/bin"
MODELS="$PEER/models"
DEFAULT_MODEL="$CACHE/SmolLM2-135M-Instruct.Q4_1.gguf"
CMAKE_FLAGS=(-DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_CURL=OFF -DBUILD_SHARED_LIBS=OFF
             -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_EXAMPLES=ON
             -DLLAMA_BUILD_TOOLS=ON)

log() { echo "peer_llamacpp: $*" >&2; }
die() { log "$*"; exit 1; }

# ----------------------------------------------------------------------------
# Source: the sdist, unpacked once into a temporary folder and moved into
# place, so an interrupted run never leaves a half-unpacked src/. A subshell,
# so its EXIT trap removes the download folder on every path.

fetch_source() (
  [ -f "$SRC/vendor/llama.cpp/CMakeLists.txt" ] && exit 0
  mkdir -p "$PEER"
  tmp=$(mktemp -d "$PEER/fetch.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  log "downloading llama-cpp-python==$VERSION (source distribution) from PyPI"
  python3 -m pip download --quiet --no-binary :all: --no-deps --no-cache-dir \
    "llama-cpp-python==$VERSION" -d "$tmp" >&2
  tar -xzf "$tmp/llama_cpp_python-$VERSION.tar.gz" -C "$tmp"
  [ -f "$tmp/llama_cpp_python-$VERSION/vendor/llama.cpp/CMakeLists.txt" ] \
    || die "the sdist has no vendor/llama.cpp"
  rm -rf "$SRC"
  mv "$tmp/llama_cpp_python-$VERSION" "$SRC"
)

# ----------------------------------------------------------------------------
# Build: only the tools the benchmark needs. A stamp holding the flags and
# targets makes a second run a no-op; changing either rebuilds.

build_stamp() { printf '%s\n' "$VERSION" "${CMAKE_FLAGS[@]}" "${TARGETS[@]}"; }

build_tools() {
  if [ -f "$BUILD/.awqc-stamp" ] && [ "$(cat "$BUILD/.awqc-stamp")" = "$(build_stamp)" ]; then
    all_built && return
  fi
  log "building ${TARGETS[*]} with -j$JOBS (several minutes; log in $BUILD/build.log)"
  mkdir -p "$BUILD"
  if ! { cmake -S "$SRC/vendor/llama.cpp" -B "$BUILD" "${CMAKE_FLAGS[@]}" &&
         cmake --build "$BUILD" --target "${TARGETS[@]}" -j"$JOBS"; } >"$BUILD/build.log" 2>&1; then
    tail -n 30 "$BUILD/build.log" >&2
    die "build failed (full log: $BUILD/build.log)"
  fi
  all_built || die "build finished but a tool is missing from $BIN"
  build_stamp >"$BUILD/.awqc-stamp"
}

all_built() {
  local t
  for t in "${TARGETS[@]}"; do [ -x "$BIN/$t" ] || return 1; done
}

# ----------------------------------------------------------------------------
# Models: the default Q4_1 GGUF as is, and a Q4_0 requantization of it.

prepare_models() {
  [ -f "$DEFAULT_MODEL" ] || die "no default model at $DEFAULT_MODEL (run scripts/setup.sh --model)"
  mkdir -p "$MODELS"
  ln -sfn "$DEFAULT_MODEL" "$MODELS/smollm2-135m-q4_1.gguf"
  local q4_0="$MODELS/smollm2-135m-q4_0.gguf"
  if [ ! -s "$q4_0" ]; then
    log "requantizing to Q4_0: $q4_0"
    "$BIN/llama-quantize" --allow-requantize "$DEFAULT_MODEL" "$q4_0.tmp" Q4_0 "$JOBS" \
      >"$MODELS/quantize-q4_0.log" 2>&1 || { tail -n 20 "$MODELS/quantize-q4_0.log" >&2; die "llama-quantize failed"; }
    mv "$q4_0.tmp" "$q4_0"
    rm -f "$MODELS/smollm2-135m-q4_0.types.txt"
  fi
  local m
  for m in q4_1 q4_0; do
    local f="$MODELS/smollm2-135m-$m.gguf"
    [ -s "$MODELS/smollm2-135m-$m.types.txt" ] ||
      python3 "$HERE/gguf_weights.py" "$f" >"$MODELS/smollm2-135m-$m.types.txt"
    cat "$MODELS/smollm2-135m-$m.types.txt" >&2
  done
}

# ----------------------------------------------------------------------------

case "${1:-}" in
  --print-bin) all_built || die "not built yet: run bench/peer_llamacpp.sh"; echo "$BIN"; exit 0 ;;
  --print-models) [ -s "$MODELS/smollm2-135m-q4_0.gguf" ] || die "models not prepared yet"; echo "$MODELS"; exit 0 ;;
  --version) echo "$VERSION"; exit 0 ;;
  -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { print }' "$0"; exit 0 ;;
  "") ;;
  *) die "unknown option $1 (see --help)" ;;
esac

fetch_source
build_tools
prepare_models
echo "$BIN"
