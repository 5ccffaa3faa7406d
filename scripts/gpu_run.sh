#!/usr/bin/env bash
# gpu_run.sh: on a lent GPU machine, the GPU measurements of docs/cuda.md, with
# the programs scripts/gpu_bundle.sh built here (that machine cannot build
# awqc). Run from the repository root, in two calls in a row (a warm machine
# keeps /tmp between them; the log goes to $OUT/STAGE.log, which the device
# tool brings back):
#   stage    (carry build-gpu-a)  copies the programs and libraries to /tmp,
#                                 says what the machine is, checks awqc starts,
#                                 runs the GPU kernel test (every kernel vs the
#                                 reference; it needs no model) and
#                                 bench/gpu_decode_vs_hf.sh: the synthetic
#                                 Llama-2-7B W4 g128 vs HF FP16 eager and the HBM bound
#   smollm2  (carry build-gpu-b)  joins and checks the model, quantizes it (AWQ
#                                 W4 g64), runs the arch-choice and greedy tests
#                                 (tokens and logits vs the reference), perplexity GPU vs
#                                 interpreter, run and bench on the GPU
#   llama7b                       the Llama-2-7B bench alone, after a stage
#   sweep    (no carry)           bench/gpu_kernels.py: the decode GEMVs alone at
#                                 Llama-2-7B's shapes over their launch shapes, in
#                                 f32 and f16x2, each in 1 and 2 copy stages (built
#                                 there with the machine's nvcc)
#   profile  (carry build-gpu-a)  stage's copy, then Nsight Compute's time and
#                                 DRAM throughput of every kernel of a few
#                                 decode steps of a 4-layer Llama-2-7B-shaped
#                                 model (ncu.csv), and that model's bench
# Set AWQC_AWQ_MODEL to an existing AWQ folder to skip the quantization.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
home=${AWQC_GPU_HOME:-/tmp/awqc-gpu}
out=${OUT:-$home/out}
mkdir -p "$home" "$out"
stage=${1:-}

# NVRTC comes from the machine's CUDA 13; its folder may not be on the loader's path.
nvrtc_dir() {
  local d
  for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/local/cuda-13*/lib64; do
    [ -e "$d/libnvrtc.so.13" ] && { echo "$d"; return; }
  done
  local f
  f=$(ldconfig -p 2>/dev/null | awk '/libnvrtc\.so\.13 / {print $NF; exit}')
  [ -n "$f" ] || f=$(find / -xdev -name 'libnvrtc.so.13*' -not -path '/proc/*' 2>/dev/null | head -1)
  [ -n "$f" ] && dirname "$f"
}
nvrtc=$(nvrtc_dir || true)
export LD_LIBRARY_PATH="$home/lib${nvrtc:+:$nvrtc}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export AWQC_BIN="$home/cli/awqc" AWQC_SOURCE_DIR="$src" AWQC_CACHE_DIR="$home/cache" AWQC_MODELS_DIR="$src/models"
awqc=$AWQC_BIN
threads=$(nproc)

step() { echo; echo "== $*"; }
# run NAME CMD...: runs it after a "== NAME" header; a failure is reported and
# counted, and the stage goes on to the next measurement. (Everything a stage
# prints also goes to $out/STAGE.log: one file per call, as the device tool
# brings back only so many.)
failed=0
run() {
  local name=$1; shift
  step "$name: $*"
  if ! "$@" 2>&1; then
    echo "FAILED: $name"; failed=$((failed + 1))
  fi
}
# compile --target cuda:native asks the driver and picks the awqc target this GPU runs.
gpu_sm() { nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d .; }

bundle=$src/build-gpu-a
copy_bundle() {
  [ -d "$bundle" ] || { echo "gpu_run: no build-gpu-a here: run scripts/gpu_bundle.sh and carry it" >&2; exit 1; }
  rm -rf "$home/cli" "$home/tests" "$home/lib" "$home/tokenizer" "$home/model.part00"
  cp -r "$bundle/cli" "$bundle/tests" "$bundle/lib" "$bundle/tokenizer" "$bundle/model.part00" "$home/"
}

do_stage() {
  copy_bundle
  step "machine"
  nvidia-smi -L || echo "no nvidia-smi"
  nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total --format=csv || true
  ldd --version | sed -n 1p
  echo "the bundle needs $(cat "$bundle/NEEDS_GLIBC") or newer; NVRTC from ${nvrtc:-nowhere}"
  nproc
  if ldd "$awqc" | grep 'not found'; then echo "gpu_run: libraries missing (above)" >&2; exit 1; fi
  run version "$awqc" --version
  run kernels "$home/tests/test_cuda_gpu_kernels"
  do_llama7b
}

do_smollm2() {
  [ -x "$awqc" ] || { echo "gpu_run: run 'gpu_run.sh stage' first (carrying build-gpu-a)" >&2; exit 1; }
  local b="$src/build-gpu-b" gguf="$home/cache/SmolLM2-135M-Instruct.Q4_1.gguf" want
  [ -d "$b" ] || { echo "gpu_run: no build-gpu-b here: carry it" >&2; exit 1; }
  mkdir -p "$home/cache"
  cat "$home/model.part00" "$b/model.part01" >"$gguf.tmp"
  want=$(sed -n 's/^MODEL_SHA256=//p' "$src/scripts/setup.sh")
  echo "$want  $gguf.tmp" | sha256sum -c --quiet || { echo "gpu_run: the joined model's sha256 is wrong" >&2; exit 1; }
  mv "$gguf.tmp" "$gguf"
  cp "$b/valid.txt" "$b/test.txt" "$home/"
  local awq=${AWQC_AWQ_MODEL:-$home/awq4}
  if [ ! -f "$awq/model.safetensors" ]; then
    run quantize "$awqc" quantize -m "$gguf" --bits 4 --group 64 --calib "$home/valid.txt" -t "$threads" -o "$awq"
  fi
  export AWQC_AWQ_MODEL=$awq
  run arch_select "$home/tests/test_cuda_arch_select"
  run greedy "$home/tests/test_cuda_gpu_greedy"
  local sm
  run compile "$awqc" compile -m "$awq" --target cuda:native -c 512 -o "$home/smol.awqx"
  run inspect "$awqc" inspect --gpu "$(gpu_sm)" "$home/smol.awqx"
  # The same artifact's plan on the GPU and in the reference interpreter: the
  # perplexities agree to the logits' tolerance.
  run ppl_gpu "$awqc" ppl -m "$home/smol.awqx" --engine cuda -f "$home/test.txt" --chunks 8
  run ppl_ref "$awqc" ppl -m "$home/smol.awqx" --engine interp -f "$home/test.txt" --chunks 8
  run generate "$awqc" run -m "$home/smol.awqx" --engine cuda -n 32 -p "The capital of France is"
  run bench_smol "$awqc" bench -m "$home/smol.awqx" --engine cuda -p 16 -n 128
  # --act f16: the q4 GEMVs in f16x2 (decode only: ppl's windows run the
  # tensor-core GEMM either way), its text and speed.
  run compile_f16 "$awqc" compile -m "$awq" --target cuda:native --act f16 -c 512 -o "$home/smol-f16.awqx"
  run generate_f16 "$awqc" run -m "$home/smol-f16.awqx" --engine cuda -n 32 -p "The capital of France is"
  run bench_smol_f16 "$awqc" bench -m "$home/smol-f16.awqx" --engine cuda -p 16 -n 128
  # --gemv-stages 2: the same, double-buffered
  run compile_f16_s2 "$awqc" compile -m "$awq" --target cuda:native --act f16 --gemv-stages 2 -c 512 \
      -o "$home/smol-f16-s2.awqx"
  run generate_f16_s2 "$awqc" run -m "$home/smol-f16-s2.awqx" --engine cuda -n 32 -p "The capital of France is"
  run bench_smol_f16_s2 "$awqc" bench -m "$home/smol-f16-s2.awqx" --engine cuda -p 16 -n 128
}

do_llama7b() {
  [ -x "$awqc" ] || { echo "gpu_run: run the stage step first" >&2; exit 1; }
  local tok=$home/tokenizer
  [ -f "$tok/tokenizer.json" ] || { echo "gpu_run: no tokenizer at $tok (the stage step copies it)" >&2; exit 1; }
  run llama7b env TOKENIZER="$tok" WORK="$home/bench" bash "$src/bench/gpu_decode_vs_hf.sh" "$home"
}

do_profile() {
  copy_bundle
  local ncu m=$home/prof
  mkdir -p "$m"
  ncu=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu /usr/local/cuda/bin/ncu 2>/dev/null | head -1)
  [ -d "$m/model" ] || "$awqc" synth --dim 4096 --layers "${LAYERS:-4}" --heads 32 --kv-heads 32 --ffn 11008 \
      --vocab 32000 --group 128 --tokenizer "$home/tokenizer" -o "$m/model"
  "$awqc" compile -m "$m/model" --target cuda:native -c 512 -o "$m/model.awqx"
  run bench_prof "$awqc" bench -m "$m/model.awqx" --engine cuda -p 16 -n 128
  step "ncu: $ncu"
  "$ncu" --clock-control none --graph-profiling node --csv --page raw --print-units base \
      --metrics gpu__time_duration.sum,dram__bytes_read.sum,dram__throughput.avg.pct_of_peak_sustained_elapsed,launch__grid_size,launch__block_size,launch__registers_per_thread,sm__warps_active.avg.pct_of_peak_sustained_active,launch__occupancy_limit_registers,launch__occupancy_limit_shared_mem \
      "$awqc" run -m "$m/model.awqx" --engine cuda -n 4 -p "Hello" >"$out/ncu.csv" 2>"$out/ncu.err" ||
      { failed=$((failed + 1)); tail -20 "$out/ncu.err"; }
  # ncu's stdout holds its own notes and the program's text before the CSV's "ID" header.
  python3 - "$out/ncu.csv" <<'PY' | tee "$out/ncu_summary.txt"
import csv, sys, collections
lines = open(sys.argv[1]).read().splitlines()
start = next(i for i, l in enumerate(lines) if l.startswith('"ID"'))
rows = [r for r in csv.DictReader(lines[start:]) if r["ID"].isdigit()]
agg = collections.OrderedDict()
for r in rows:
    a = agg.setdefault(r["Kernel Name"][:70], [0, 0.0, 0.0, r])
    a[0] += 1; a[1] += float(r["gpu__time_duration.sum"].replace(",", "")); a[2] += float(r["dram__bytes_read.sum"].replace(",", ""))
for k, (n, t, b, r) in agg.items():
    print(f"{n:4d} x {t / n / 1e3:8.2f} us  {b / n / 1e6:8.2f} MB  {b / t:7.1f} GB/s  grid {r['launch__grid_size']} "
          f"block {r['launch__block_size']} regs {r['launch__registers_per_thread']} "
          f"occ {r['sm__warps_active.avg.pct_of_peak_sustained_active']}  {k}")
PY
}

do_sweep() {
  PATH=$PATH:/usr/local/cuda/bin run sweep python3 "$src/bench/gpu_kernels.py" --arch "sm_$(gpu_sm)" \
      --out "$home/sweep"
}

main() {
  "do_$stage"
  echo
  echo "gpu_run: $stage done, $failed failed; log in $out/$stage.log"
  [ "$failed" -eq 0 ]
}

case "$stage" in
  stage | sweep | smollm2 | llama7b | profile) main 2>&1 | tee "$out/$stage.log" ;;
  *) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
