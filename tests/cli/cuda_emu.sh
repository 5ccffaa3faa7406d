#!/usr/bin/env bash
# cuda_emu.sh: the GPU path computed, on a machine without a GPU. The mock
# libcuda.so.1 (tests/mock_cuda) with $AWQC_MOCK_CUDA_EMU runs every kernel
# the runtime launches on the CPU: kernels.cuh compiled by the C++ compiler
# with cuda_emu.hpp (threads as fibers, barriers, shuffles and mma.sync
# emulated). On it:
#   - test_cuda_gpu_greedy, the GPU acceptance test: SmolLM2 AWQ W4-g64
#     compiled for CUDA makes the same 64 greedy tokens as the reference
#     interpreter, logits within 5e-2 (the figure is printed);
#   - `awqc run --engine cuda` of the orin artifact (its sm_87 cubin, on a
#     mock sm_87), compiled with --act f16 --gemv-stages 2 (the q4 GEMVs in
#     f16x2, double-buffered; the greedy test covers the default f32 ones,
#     copied in one stage), writes the text the reference interpreter writes.
# What the emulator cannot show: speed, and anything the GPU's memory model or
# its own f16 and math functions do differently (see cuda_emu.hpp).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib/expect.sh"
AWQC=${AWQC_BIN:?}
mock=${AWQC_BUILD_DIR:?}/tests/mock-cuda
greedy=$AWQC_BUILD_DIR/tests/test_cuda_gpu_greedy
[ -f "$mock/libcuda.so.1" ] || { echo "SKIP: no mock driver (built with the CUDA runtime only)"; exit 77; }
[ -x "$greedy" ] || { echo "SKIP: no $greedy (built without NVRTC)"; exit 77; }
command -v "${CXX:-c++}" >/dev/null || { echo "SKIP: no C++ compiler (${CXX:-c++}) to build the emulated kernels"; exit 77; }
awq=$(bash "$here/lib/awq_fixture.sh" --path) || { echo "SKIP: no AWQ fixture"; exit 77; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/emu"
on_emu() { env LD_LIBRARY_PATH="$mock" AWQC_MOCK_CUDA_EMU="$tmp/emu" AWQC_MOCK_CUDA_LOG="$tmp/mock.log" "$@"; }
clean='mock-cuda: [1-9][0-9]* launches, [1-9][0-9]* kernels, [1-9][0-9]* graph launches, 0 allocations live \(0 bytes\), 0 violations'

out=$(on_emu env AWQC_AWQ_MODEL="$awq" "$greedy" 2>&1); rc=$?
expect greedy-rc 0 'all [0-9]+ checks passed' echo "$out"
same greedy-exit 0 "$rc"
expect greedy-emulated 0 'kernels emulated on the CPU' echo "$out"
expect greedy-logits 0 'logits: max \|GPU - reference\| = [0-9.e-]+ of the largest reference logit, over 65 steps' echo "$out"
expect greedy-mock-clean 0 "$clean" echo "$out"
grep -E 'logits:' <<<"$out"

prompt="The capital of France is"
if "$AWQC" compile -m "$awq" --target orin --act f16 --gemv-stages 2 -c 128 -o "$tmp/orin.awqx" >"$tmp/log" 2>&1; then
  expect orin-act-f16-marked 0 'quantize-acts: 120 nodes marked act_f16' cat "$tmp/log"
  # every q4 GEMV's last template arguments: f16 true, 2 stages
  gemvs=$(grep -ao 'gemv_q4_[0-9_]*[0-9]' "$tmp/orin.awqx" | sort -u)
  expect orin-has-gemvs 0 'gemv_q4_' echo "$gemvs"
  same orin-gemvs-f16-2-stages "" "$(grep -v '_1_2$' <<<"$gemvs")"
  cpu=$("$AWQC" run -m "$tmp/orin.awqx" --engine interp -n 6 -p "$prompt" 2>/dev/null)
  gpu=$(on_emu env AWQC_MOCK_CUDA_SM=87 "$AWQC" run -m "$tmp/orin.awqx" --engine cuda -n 6 -p "$prompt" 2>"$tmp/err")
  same orin-f16-cuda-text-is-interp-text "$cpu" "$gpu"
  expect orin-cubin 0 'GPU: awqc mock GPU \(kernels emulated on the CPU\) \(sm_87\), module from .*sm_87\.cubin' cat "$tmp/err"
  expect orin-mock-clean 0 "$clean" cat "$tmp/err"
  echo "orin (--act f16 --gemv-stages 2) on the emulated sm_87: $gpu"
else
  checks=$((checks + 1)); fails=$((fails + 1)); echo "FAIL: compile --target orin --act f16 --gemv-stages 2:"; tail -20 "$tmp/log"
fi
report
