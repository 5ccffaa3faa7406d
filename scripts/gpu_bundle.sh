#!/usr/bin/env bash
# gpu_bundle.sh: builds here what a lent GPU machine (the `device` tool) needs
# for docs/cuda.md's GPU measurements. That machine has CUDA 13 (nvcc, NVRTC),
# CMake and PyTorch, but no LLVM, flex, bison or the libraries awqc links, and
# it can fetch nothing. So awqc is built without the CPU code generator (no
# LLVM; it still quantizes, compiles for cuda:sm_XX and runs on the GPU) and
# without serve, for any x86-64-v3 CPU, and copied with the GPU tests and the
# shared libraries they need beyond glibc and NVRTC into two git-ignored
# folders, each under the tool's 64 MiB a call, the default model split
# across them:
#   build-gpu-a/  cli/awqc, tests/test_cuda_*, lib/*.so, tokenizer/ (the
#                 default model's, for the synthetic Llama), the model's first half
#   build-gpu-b/  the model's second half, wikitext-2 valid (calibration) and test
# Then, on the GPU machine, two calls in a row (a warm machine keeps /tmp):
#   call 1, carry build-gpu-a:  bash scripts/gpu_run.sh stage
#           (kernels vs the reference, and the synthetic Llama-2-7B bench)
#   call 2, carry build-gpu-b:  bash scripts/gpu_run.sh smollm2
# Usage: scripts/gpu_bundle.sh [-b BUILD_DIR] (default build-gpu-bundle)
set -euo pipefail
usage() { sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; }

src=$(cd "$(dirname "$0")/.." && pwd)
build="$src/build-gpu-bundle"
while [ $# -gt 0 ]; do
  case "$1" in
    -b|--build) build=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "gpu_bundle: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
cache=${AWQC_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/awqc}   # as scripts/setup.sh
gguf="$cache/SmolLM2-135M-Instruct.Q4_1.gguf"
calib="$src/../shared/data/wikitext-2/valid.txt"
[ -f "$gguf" ] || { echo "gpu_bundle: $gguf is missing: run scripts/setup.sh --model" >&2; exit 1; }
[ -f "$calib" ] || { echo "gpu_bundle: no calibration text at $calib" >&2; exit 1; }

programs=(awqc test_cuda_gpu_greedy test_cuda_gpu_kernels test_cuda_arch_select)
echo "gpu_bundle: building ${programs[*]} into $build (no LLVM, no serve, x86-64-v3)"
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DAWQC_CPU_CODEGEN=OFF -DAWQC_SERVE=OFF \
      -DAWQC_NATIVE=OFF -DCMAKE_C_FLAGS=-march=x86-64-v3 >/dev/null
cmake --build "$build" -j"$(nproc)" --target "${programs[@]}" >/dev/null

a="$src/build-gpu-a" b="$src/build-gpu-b"
rm -rf "$a" "$b"
mkdir -p "$a/cli" "$a/tests" "$a/lib" "$b"
cp "$build/cli/awqc" "$a/cli/"
for t in "${programs[@]:1}"; do cp "$build/tests/$t" "$a/tests/"; done

# The tokenizer files for the synthetic Llama's (awqc synth --tokenizer), as
# awqc writes them from the GGUF (which travels split in two): those of a tiny
# synthetic model given the GGUF's whole tokenizer.
mkdir -p "$a/tokenizer"
rm -rf "$build/tiny-tokenizer"
"$build/cli/awqc" synth --dim 64 --layers 1 --heads 4 --ffn 128 --vocab 49152 --group 32 --tokenizer "$gguf" \
  -o "$build/tiny-tokenizer" >/dev/null
cp "$build"/tiny-tokenizer/tokenizer{,_config}.json "$a/tokenizer/"

# The shared libraries they need beyond glibc, the driver and NVRTC (the GPU
# machine's CUDA 13 has libnvrtc.so.13; gpu_run.sh finds it there).
is_system() { [[ "$1" =~ ^(linux-vdso|libc|libm|libdl|libpthread|librt|ld-linux-x86-64|libnvrtc|libcuda)\. ]]; }
for f in "$a"/cli/awqc "$a"/tests/*; do
  ldd "$f" | awk '$2 == "=>" {print $1, $3}'
done | sort -u | while read -r name path; do
  is_system "$name" && continue
  [ -f "$path" ] || { echo "gpu_bundle: $name not found (ldd)" >&2; exit 1; }
  cp -L "$path" "$a/lib/$name"
done
glibc=$(for f in "$a"/cli/awqc "$a"/tests/* "$a"/lib/*; do objdump -T "$f"; done | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)
echo "$glibc" >"$a/NEEDS_GLIBC"

# The model in two halves, joined on the GPU machine (gpu_run.sh checks its sha256).
split -n 2 -d "$gguf" "$a/model.part"
mv "$a/model.part01" "$b/"
cp "$calib" "$b/valid.txt"
cp "$(dirname "$calib")/test.txt" "$b/test.txt"
for d in "$a" "$b"; do
  size=$(du -sm "$d" | cut -f1)
  [ "$size" -lt 60 ] || { echo "gpu_bundle: $d is $size MiB, over what one call carries with the repo" >&2; exit 1; }
  echo "gpu_bundle: $d: $size MiB"
done
echo "gpu_bundle: needs $glibc or newer there; $(ls "$a/lib" | tr '\n' ' ')"
