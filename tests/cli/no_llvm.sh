#!/usr/bin/env bash
# no_llvm.sh: the build without the CPU code generator (-DAWQC_CPU_CODEGEN=OFF
# -DAWQC_SERVE=OFF), which scripts/gpu_bundle.sh makes for a GPU machine that
# has no LLVM: it links no LLVM and no libmicrohttpd, says so in --version,
# refuses a CPU target before loading anything, and still compiles SmolLM2 for
# cuda:sm_87 into an artifact whose sm_87 code inspect --gpu finds. NVRTC is
# not linked: without it compile refuses CUDA targets, and artifacts still run.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib/expect.sh"
src=${AWQC_SOURCE_DIR:?}
model=$(default_model)
[ -f "$model" ] || { echo "SKIP: the default model is not cached (run scripts/setup.sh)"; exit 77; }
command -v nvcc >/dev/null || [ -d /usr/local/cuda ] || { echo "SKIP: no CUDA toolkit (NVRTC)"; exit 77; }

# Built once per build tree (incremental afterwards).
build=${AWQC_BUILD_DIR:?}/no-llvm
log=$(mktemp)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp" "$log"' EXIT
if ! { cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DAWQC_CPU_CODEGEN=OFF -DAWQC_SERVE=OFF \
         -DAWQC_WERROR=ON && cmake --build "$build" -j"$(nproc)" --target awqc; } >"$log" 2>&1; then
  echo "FAIL: building without the CPU code generator:"; tail -30 "$log"; exit 1
fi
awqc=$build/cli/awqc
libs=$(ldd "$awqc")
same links-no-llvm-or-microhttpd "" "$(grep -E 'LLVM|microhttpd' <<<"$libs")"
# NVRTC is loaded at first use, not linked: awqc starts where it is missing.
same links-no-nvrtc "" "$(grep nvrtc <<<"$libs")"
expect loads-nvrtc 0 'CUDA compiler: NVRTC [0-9]+\.[0-9]+: .*sm_87' "$awqc" --version
expect version 0 'code generation targets: cuda:sm_80, cuda:sm_87, cuda:sm_90 \(no CPU code generator' "$awqc" --version
expect cpu-target-refused 1 'compile: --target x86-64-vnni needs the CPU code generator, and this awqc was built without it' \
  "$awqc" compile -m /nonexistent.gguf --target x86-64-vnni -o "$tmp/x.awqx"
expect orin-refused 1 'compile: --target orin needs the CPU code generator' \
  "$awqc" compile -m /nonexistent.gguf --target orin -o "$tmp/x.awqx"
expect emit-dot-allowed 0 'digraph' "$awqc" compile -m "$model" --target host --emit=dot --filter layer.0
expect serve-absent 1 'built without libmicrohttpd' "$awqc" serve
expect cuda-compile 0 'wrote .*sm87.awqx \(target cuda:sm_87\)' "$awqc" compile -m "$model" --target cuda:sm_87 -c 64 -o "$tmp/sm87.awqx"
expect cuda-inspect 0 'on sm_87 +runs code.cuda.sm_87' "$awqc" inspect --gpu 8.7 "$tmp/sm87.awqx"
# Without NVRTC: a CUDA target is refused before the model loads, nothing is
# written; the artifact still runs (its code needs no NVRTC).
no_nvrtc() { env AWQC_NVRTC="$tmp/none/libnvrtc.so.13" "$@"; }
expect version-no-nvrtc 0 'CUDA compiler: NVRTC: not found \(.*none/libnvrtc.so.13' no_nvrtc "$awqc" --version
expect compile-no-nvrtc 1 'compile: --target cuda:sm_87: NVRTC not found \(.*none/libnvrtc.so.13.*AWQC_NVRTC' \
  no_nvrtc "$awqc" compile -m /nonexistent.gguf --target cuda:sm_87 -o "$tmp/none.awqx"
same compile-no-nvrtc-wrote-nothing "" "$(ls "$tmp" | grep none)"
expect run-no-nvrtc 0 'Paris' no_nvrtc "$awqc" run -m "$tmp/sm87.awqx" --engine interp -n 6 -t 2 \
  -p "The capital of France is"
report
