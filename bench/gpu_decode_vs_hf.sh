#!/usr/bin/env bash
# gpu_decode_vs_hf.sh: on a machine with an NVIDIA GPU, decode speed of a
# synthetic Llama-2-7B (W4, group 128) compiled by awqc for CUDA against HF
# transformers FP16 eager on random weights of the same shape, and against
# the HBM bound (bytes read per token / measured device copy bandwidth).
# Usage: bench/gpu_decode_vs_hf.sh [BUILD_DIR] (default build-release); env
# TOKENIZER=PATH (awqc synth --tokenizer: a folder with tokenizer.json or a model
# file; default $AWQC_MODEL or the GGUF where scripts/setup.sh caches it), SHAPE
# overrides (DIM LAYERS HEADS KV FFN VOCAB GROUP), TOKENS (128), SM (default:
# this GPU's, --target cuda:native), GEMVS: the q4 GEMV variants compared in
# the run, each ACT:STAGES for awqc compile --act ACT --gemv-stages STAGES
# (default "f32:1 f16:1 f32:2 f16:2": W4A16 in f32 and in f16x2, its weight
# rows copied then computed, and double-buffered).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build-release}
awqc=$build/cli/awqc
DIM=${DIM:-4096} LAYERS=${LAYERS:-32} HEADS=${HEADS:-32} KV=${KV:-32} FFN=${FFN:-11008} VOCAB=${VOCAB:-32000}
GROUP=${GROUP:-128} TOKENS=${TOKENS:-128}
TOKENIZER=${TOKENIZER:-${AWQC_MODEL:-${AWQC_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/awqc}/SmolLM2-135M-Instruct.Q4_1.gguf}}
work=${WORK:-/tmp/awqc-gpu-bench}
mkdir -p "$work"
if ! nvidia-smi -L >/dev/null 2>&1; then echo "SKIP: no GPU (nvidia-smi failed)"; exit 77; fi
[ -x "$awqc" ] || { cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null && cmake --build "$build" -j"$(nproc)" --target awqc; }
if [ -n "${SM:-}" ]; then target=cuda:sm_$SM; else target=cuda:native; fi

model=$work/llama2-7b-w4g$GROUP
[ -f "$model/model.safetensors" ] || "$awqc" synth --dim "$DIM" --layers "$LAYERS" --heads "$HEADS" --kv-heads "$KV" \
    --ffn "$FFN" --vocab "$VOCAB" --group "$GROUP" --tokenizer "$TOKENIZER" -o "$model"
GEMVS=${GEMVS:-f32:1 f16:1 f32:2 f16:2}

# awqc: decode tok/s (the tg row's median of the CSV), and from stderr the
# device copy bandwidth and the device bytes a decode step reads (awqc bench
# --engine cuda prints "device: ..., copy bandwidth N GB/s" and "decode tgN:
# ... x G GB/token ..."; f32 matrices count as the f16 the GPU holds them in).
# One line "act stages tok/s GB/s GB/token" per variant; one that fails is
# reported (and makes the exit status 1) and the others still run.
results=() status=0
for v in $GEMVS; do
    case $v in
        *:[12]) ;;
        *) echo "gpu_decode_vs_hf: GEMVS entry '$v' is not ACT:STAGES (e.g. f16:2)" >&2; status=1; continue ;;
    esac
    act=${v%:*} stages=${v#*:} name=$act-$stages
    echo "--act $act --gemv-stages $stages:"
    rm -f "$work/awqc-$name.log" "$work/awqc-$name.csv"
    ok=1
    "$awqc" compile -m "$model" --target "$target" --act "$act" --gemv-stages "$stages" -c 512 \
            -o "$work/model-$name.awqx" &&
       "$awqc" bench -m "$work/model-$name.awqx" --engine cuda -p 16 -n "$TOKENS" -o csv >"$work/awqc-$name.csv" \
            2>"$work/awqc-$name.log" || ok=0
    rm -f "$work/model-$name.awqx" # 3.6 GB each, whether or not the bench ran
    if [ "$ok" = 0 ]; then
        echo "gpu_decode_vs_hf: --act $act --gemv-stages $stages failed" >&2; cat "$work/awqc-$name.log" >&2 2>/dev/null || true
        status=1; continue
    fi
    grep -E 'device:|decode tg' "$work/awqc-$name.log" || true
    ours=$(awk -F, 'NR == 1 {for (i = 1; i <= NF; i++) col[$i] = i; next} $col["test"] ~ /^tg/ {print $col["tps_median"]}' \
          "$work/awqc-$name.csv")
    if [ -z "$ours" ]; then
        echo "gpu_decode_vs_hf: no tg row in $work/awqc-$name.csv" >&2; cat "$work/awqc-$name.csv" >&2; status=1; continue
    fi
    bw=$(awk '/copy bandwidth/ {for (i = 1; i <= NF; i++) if ($i == "GB/s") {print $(i - 1); exit}}' "$work/awqc-$name.log")
    gbtok=$(awk '/GB\/token/ {for (i = 1; i <= NF; i++) if ($i == "GB/token") {print $(i - 1); exit}}' "$work/awqc-$name.log")
    results+=("$act $stages ${ours:-0} ${bw:-0} ${gbtok:-0}")
done
hf=$(python3 "$root/bench/gpu_hf_decode.py" --dim "$DIM" --layers "$LAYERS" --heads "$HEADS" --kv-heads "$KV" \
     --ffn "$FFN" --vocab "$VOCAB" --tokens "$TOKENS" | awk '{print $3}')
python3 - "$hf" "${results[@]}" <<'PY'
import sys
hf = float(sys.argv[1]) if sys.argv[1] else 0.0
print(f"HF FP16 eager decode  {hf:8.1f} tok/s")
for line in sys.argv[2:]:
    act, stages, ours, bw, gbtok = line.split()
    ours, bw, wbytes = float(ours), float(bw), float(gbtok) * 1e9
    print(f"awqc W4-g128 --act {act} --gemv-stages {stages} decode {ours:8.1f} tok/s")
    print(f"  speed-up            {ours / hf if hf else 0:8.2f} x   (goal >= 3.5)")
    if bw and wbytes:
        bound = bw * 1e9 / wbytes
        print(f"  HBM bound           {bound:8.1f} tok/s  ({wbytes / 1e9:.2f} GB/token at {bw:.0f} GB/s copy bandwidth)")
        print(f"  fraction of bound   {ours / bound * 100 if bound else 0:8.1f} %   (goal >= 75)")
PY
exit "$status"
