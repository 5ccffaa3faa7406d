#!/usr/bin/env bash
# cuda_mock.sh: the GPU runtime's host side, end to end, on a machine without
# a GPU: awqc runs with tests/mock_cuda's libcuda.so.1, which runs no kernel
# but checks every driver call (kernel names against the module, launch shapes,
# the parameter block, copy extents, CUDA-graph capture rules) and fails the
# call that breaks one. SmolLM2 AWQ W4-g64 compiled for cuda:sm_90 (PTX JIT
# and cubin), for orin (its sm_87 cubin), and a GGUF with code generated at load
# by NVRTC go through run, ppl (all rows) and bench (prefill GEMM, the decode
# graph, the copy-bandwidth probe). The tokens are meaningless: no kernel ran.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib/expect.sh"
AWQC=${AWQC_BIN:?}
mock=${AWQC_BUILD_DIR:?}/tests/mock-cuda
[ -f "$mock/libcuda.so.1" ] || { echo "SKIP: no mock driver (built with the CUDA runtime only)"; exit 77; }
"$AWQC" --version | grep -q 'cuda:sm_90' || { echo "SKIP: this awqc has no CUDA code generation"; exit 77; }
awq=$(bash "$here/lib/awq_fixture.sh" --path) || { echo "SKIP: no AWQ fixture"; exit 77; }
gguf=$(default_model)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for t in cuda:sm_90 orin; do
  if ! "$AWQC" compile -m "$awq" --target $t -c 128 -o "$tmp/${t#cuda:}.awqx" >"$tmp/log" 2>&1; then
    echo "FAIL: compile --target $t:"; tail -20 "$tmp/log"; exit 1
  fi
done
for i in 1 2 3 4 5 6 7 8; do echo "The quick brown fox jumps over the lazy dog, and the dog sleeps on."; done >"$tmp/text.txt"
prompt="The capital of France is"
# run stops at once (all-zero logits pick token 0, the end of text); bench's
# decode test runs its tokens regardless, through the captured graph.
clean='mock-cuda: [1-9][0-9]* launches, [1-9][0-9]* kernels, [0-9]+ graph launches, 0 allocations live \(0 bytes\), 0 violations'
graph='mock-cuda: [1-9][0-9]* launches, [1-9][0-9]* kernels, [1-9][0-9]* graph launches, 0 allocations live \(0 bytes\), 0 violations'
on_mock() { env LD_LIBRARY_PATH="$mock" AWQC_MOCK_CUDA_LOG="$tmp/mock.log" "$@"; }

expect sm90-run 0 "$clean" on_mock "$AWQC" run -m "$tmp/sm_90.awqx" --engine cuda -n 8 -p "$prompt" -t 2
expect sm90-ppl 0 "$clean" on_mock "$AWQC" ppl -m "$tmp/sm_90.awqx" --engine cuda -f "$tmp/text.txt" -c 64 --chunks 2
expect sm90-bench 0 "$graph" on_mock "$AWQC" bench -m "$tmp/sm_90.awqx" --engine cuda -p 32 -n 8 -r 1
expect sm90-bench-device 0 'device: awqc mock GPU \(no kernels run\) \(sm_90\)' \
  on_mock "$AWQC" bench -m "$tmp/sm_90.awqx" --engine cuda -p 0 -n 4 -r 1
expect auto-takes-gpu 0 "$clean" on_mock "$AWQC" run -m "$tmp/sm_90.awqx" -n 4 -p "$prompt" -t 2
# A newer GPU JIT-compiles the sm_90 PTX; an older one is refused with the target to use.
expect sm100-ptx 0 "$clean" env AWQC_MOCK_CUDA_SM=100 LD_LIBRARY_PATH="$mock" \
  "$AWQC" run -m "$tmp/sm_90.awqx" --engine cuda -n 4 -p "$prompt" -t 2
expect sm80-refused 1 'sm_90.awqx: built for cuda sm_90; this GPU is sm_80 \(compute capability 8.0\): recompile with --target cuda:sm_80' \
  env AWQC_MOCK_CUDA_SM=80 LD_LIBRARY_PATH="$mock" "$AWQC" run -m "$tmp/sm_90.awqx" --engine cuda -n 4 -p "$prompt"
expect sm75-refused 1 'this GPU is sm_75 \(compute capability 7.5\); awqc.s CUDA kernels need compute capability 8.0 or newer' \
  env AWQC_MOCK_CUDA_SM=75 LD_LIBRARY_PATH="$mock" "$AWQC" run -m "$tmp/sm_90.awqx" -n 4 -p "$prompt"
expect orin-cubin 0 "$graph" env AWQC_MOCK_CUDA_SM=87 LD_LIBRARY_PATH="$mock" \
  "$AWQC" bench -m "$tmp/orin.awqx" --engine cuda -p 32 -n 8 -r 1
# compile --target for a GPU awqc has no target of its own for: the target
# whose code it runs (an sm_86 GPU: sm_80's binary-compatible cubin), which a
# mock sm_86 then runs; below 8.0, refused before anything loads.
expect sm86-target 0 'a GPU of sm_86 runs awqc.s cuda:sm_80 code .*compiling for cuda:sm_80' \
  "$AWQC" compile -m "$awq" --target cuda:sm_86 -c 128 -o "$tmp/sm_86.awqx"
expect sm86-runs-sm80-cubin 0 "$clean" env AWQC_MOCK_CUDA_SM=86 LD_LIBRARY_PATH="$mock" AWQC_MOCK_CUDA_LOG="$tmp/mock.log" \
  "$AWQC" run -m "$tmp/sm_86.awqx" --engine cuda -n 4 -p "$prompt" -t 2
# Attention keeps a context's scores in shared memory: a context the GPU
# cannot hold (an sm_86 opts in to 99 KiB a block) is refused at open.
expect sm86-ctx-too-long 1 'a context of 30000 tokens needs 122816 bytes of shared memory in attention, .* at most 101376: use --ctx 24640 or less' \
  env AWQC_MOCK_CUDA_SM=86 LD_LIBRARY_PATH="$mock" "$AWQC" run -m "$tmp/sm_86.awqx" --engine cuda -c 30000 -n 1 -p "$prompt"
expect sm86-inspect 0 'on sm_86 +runs code.cuda.sm_80.cubin' "$AWQC" inspect --gpu 8.6 "$tmp/sm_86.awqx"
# cuda:native asks the driver which GPU this is (the mock says sm_86).
out=$(env AWQC_MOCK_CUDA_SM=86 LD_LIBRARY_PATH="$mock" "$AWQC" compile -m "$awq" --target cuda:native -c 128 \
  --emit=ir --filter layer.0 2>&1)
same native-exit 0 "$?"
expect native-asks-driver 0 'this machine.s GPU is awqc mock GPU .*\(sm_86\)' echo "$out"
expect native-target 0 'compiling for cuda:sm_80' echo "$out"
if ! ldconfig -p 2>/dev/null | grep -q 'libcuda\.so\.1 '; then
  expect native-no-driver 1 'compile: --target cuda:native: no CUDA driver' \
    "$AWQC" compile -m /nonexistent.gguf --target cuda:native
fi
expect sm75-target-refused 1 'compile: --target cuda:sm_75: awqc.s CUDA kernels need compute capability 8.0' \
  "$AWQC" compile -m /nonexistent.gguf --target cuda:sm_75 -o "$tmp/sm_75.awqx"
# auto on a GPU the artifact has no code for: an artifact with CPU code falls
# back to it (here the orin one's aarch64 code, which this x86 host then
# refuses: the CPU check ran); a GPU-only one stays refused (sm75-refused).
out=$(env AWQC_MOCK_CUDA_SM=75 LD_LIBRARY_PATH="$mock" "$AWQC" run -m "$tmp/orin.awqx" -n 4 -p "$prompt" 2>&1)
same orin-on-sm75-exit 1 "$?"
expect orin-on-sm75-gpu-line 0 'orin.awqx: not running its GPU code: .*this GPU is sm_75' echo "$out"
expect orin-on-sm75-cpu-check 0 'orin.awqx: built for aarch64 .*but this machine is x86-64' echo "$out"
expect orin-on-sm75-cuda-refused 1 'this GPU is sm_75' env AWQC_MOCK_CUDA_SM=75 LD_LIBRARY_PATH="$mock" \
  "$AWQC" run -m "$tmp/orin.awqx" --engine cuda -n 4 -p "$prompt"
# A checkpoint without CUDA code: NVRTC generates it at load (f32 matrices read as f16).
if [ -f "$gguf" ]; then
  expect gguf-nvrtc 0 "$clean" on_mock "$AWQC" run -m "$gguf" --engine cuda -c 64 -n 4 -p "$prompt" -t 2
fi
# NVRTC is loaded only to generate code: an artifact runs without it, a
# checkpoint on --engine cuda says it is missing; awqc links no NVRTC.
same links-no-nvrtc "" "$(ldd "$AWQC" | grep nvrtc)"
expect sm90-without-nvrtc 0 "$clean" on_mock env AWQC_NVRTC=/nonexistent/libnvrtc.so.13 \
  "$AWQC" run -m "$tmp/sm_90.awqx" --engine cuda -n 4 -p "$prompt" -t 2
if [ -f "$gguf" ]; then
  expect gguf-without-nvrtc 1 'NVRTC not found \(/nonexistent/libnvrtc.so.13' on_mock env AWQC_NVRTC=/nonexistent/libnvrtc.so.13 \
    "$AWQC" run -m "$gguf" --engine cuda -c 64 -n 4 -p "$prompt" -t 2
fi
# awqc serve opens the engine on its main thread and runs it on a worker: the
# mock fails a call from a thread without the context current.
if command -v curl >/dev/null && ! "$AWQC" serve --port 0 -m /nonexistent.gguf 2>&1 | grep -q 'without libmicrohttpd'; then
  env LD_LIBRARY_PATH="$mock" AWQC_MOCK_CUDA_LOG="$tmp/mock.log" "$AWQC" serve -m "$tmp/sm_90.awqx" --engine cuda -c 128 \
    --port 0 2>"$tmp/serve.log" &
  spid=$!
  port=$(served_port "$tmp/serve.log" "$spid")
  status=$(curl -sS -o "$tmp/body" -w '%{http_code}' --max-time 120 -H 'Content-Type: application/json' \
    -d '{"prompt":"The capital of France is","max_tokens":2,"temperature":0}' "http://127.0.0.1:${port:-1}/v1/completions")
  kill -TERM "$spid" 2>/dev/null; wait "$spid" 2>/dev/null
  same serve-worker-thread-status 200 "$status"
  expect serve-worker-thread-clean 0 "$clean" cat "$tmp/serve.log"
fi
same no-violations-logged "" "$(grep -v ' 0 violations' "$tmp/mock.log")"
report
