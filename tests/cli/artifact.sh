#!/usr/bin/env bash
# artifact.sh: the compile-then-run path on the default model, as a user
# meets it: compile a GGUF and an AWQ (here RTN, for speed) folder to .awqx,
# generate from the artifact exactly what the checkpoint generates, import
# AWQ scales with --quant, render a layer as SVG, and reject corrupt,
# truncated or misused artifacts with a clear error. Skips (77) without the
# default model.
set -u
AWQC=${AWQC_BIN:?set by ctest}
. "$(dirname "$0")/lib/expect.sh"

model=$(default_model)
if [ ! -f "$model" ]; then echo "SKIP: default model not cached at $model (run scripts/setup.sh)"; exit 77; fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
prompt="The capital of France is"

# A floating-point artifact generates what the checkpoint generates.
expect compile-fp 0 "wrote $tmp/fp.awqx" "$AWQC" compile -m "$model" -t 2 -o "$tmp/fp.awqx"
same run-fp-artifact "$("$AWQC" run -m "$model" -t 2 -p "$prompt" -n 16 2>/dev/null)" \
  "$("$AWQC" run -m "$tmp/fp.awqx" -t 2 -p "$prompt" -n 16 2>/dev/null)"
expect chat-fp-artifact 0 'Paris' "$AWQC" run -m "$tmp/fp.awqx" -t 2 --chat -p "What is the capital of France?" -n 24

# A quantized folder compiles with its codes, packed for the host; packing changes no logit.
# --act f32 keeps the activations in floating point (W4A16) so the artifact
# generates exactly what the folder does; the host's default (8-bit
# activations where the CPU has AVX-512 VNNI) is run below, with a q8 head
# (vnni-i8, so its linear reads 8-bit activations too: 121 nodes).
"$AWQC" quantize -m "$model" --method rtn --bits 4 --group 64 -t 2 -o "$tmp/rtn" >/dev/null 2>&1
expect compile-rtn-packed 0 'pack-weights: 120 weights packed as (avx2|neon)-i4' \
  "$AWQC" compile -m "$tmp/rtn" -t 2 --act f32 -o "$tmp/rtn.awqx"
if grep -qw avx512_vnni /proc/cpuinfo 2>/dev/null; then
  expect compile-rtn-w4a8 0 'quantize-acts: 121 nodes marked act_q8' \
    "$AWQC" compile -m "$tmp/rtn" -t 2 --head q8 -o "$tmp/rtn-a8.awqx"
  expect chat-rtn-w4a8 0 'Paris' "$AWQC" run -m "$tmp/rtn-a8.awqx" -t 2 --chat -p "What is the capital of France?" -n 24
else
  echo "SKIP compile-rtn-w4a8: this CPU has no AVX-512 VNNI"
fi
expect compile-rtn-identical 0 'after pack-weights +max .* = 0 \(identical\)' \
  "$AWQC" compile -m "$tmp/rtn" -t 2 --check-logits 4
same run-rtn-artifact "$("$AWQC" run -m "$tmp/rtn" -t 2 -p "$prompt" -n 16 2>/dev/null)" \
  "$("$AWQC" run -m "$tmp/rtn.awqx" -t 2 -p "$prompt" -n 16 2>/dev/null)"
expect inspect 0 'quantization +W4 g64, 120 quantized weights' "$AWQC" inspect "$tmp/rtn.awqx"
expect inspect-sections 0 'weights +[0-9]+ +[0-9]+ +[0-9a-f]{16}' "$AWQC" inspect "$tmp/rtn.awqx"
expect inspect-fp 0 'quantization +none' "$AWQC" inspect "$tmp/fp.awqx"
expect inspect-gpu-none 1 'rtn.awqx: holds no CUDA code: compile it with --target cuda:sm_87 \(or --target orin\)' \
  "$AWQC" inspect --gpu 8.7 "$tmp/rtn.awqx"
expect inspect-gpu-bad 1 "--gpu 'sm_8x' is not a GPU arch: give sm_87, 87 or 8.7" "$AWQC" inspect --gpu sm_8x "$tmp/rtn.awqx"
checks=$((checks + 1))
fp_size=$(stat -c %s "$tmp/fp.awqx"); rtn_size=$(stat -c %s "$tmp/rtn.awqx")
if [ $((rtn_size * 2)) -gt "$fp_size" ]; then
  fails=$((fails + 1)); echo "FAIL: the packed artifact ($rtn_size bytes) is not under half the FP one ($fp_size)"
fi

# --quant: scales (any positive ones keep the function) become awq_scale nodes that fold away.
python3 - "$tmp/scales.json" <<'EOF'
import json, sys
s576 = [0.5 + (i % 7) * 0.25 for i in range(576)]
s1536 = [2.0 - (i % 5) * 0.3 for i in range(1536)]
groups = [{"prev": "blk.0.attn_norm.weight", "linears": ["blk.0.attn_q.weight", "blk.0.attn_k.weight", "blk.0.attn_v.weight"], "scales": s576},
          {"prev": "blk.3.ffn_up.weight", "linears": ["blk.3.ffn_down.weight"], "scales": s1536}]
json.dump(groups, open(sys.argv[1], "w"))
EOF
out=$("$AWQC" compile -m "$model" -t 2 --quant "$tmp/scales.json" --check-logits 4 --stop-after fold-awq-scales 2>&1)
expect quant-applied 0 'applied 2 AWQ scale groups' echo "$out"
expect quant-folded 0 'fold-awq-scales: 2 folded, 0 kept' echo "$out"
checks=$((checks + 1))
rel=$(grep -E 'after fold-awq-scales' <<<"$out" | sed -E 's/.*= ([0-9.e+-]+).*/\1/')
if ! awk -v r="$rel" 'BEGIN { exit !(r != "" && r + 0 <= 1e-5) }'; then
  fails=$((fails + 1)); echo "FAIL: quant-logits: relative change '$rel' after folding, want <= 1e-5"; fi
printf '[{"linears": ["blk.0.attn_q.weight"], "scales": [1, 2]}]' >"$tmp/short.json"
expect quant-bad-count 1 'short.json: entry 0 \(blk.0.attn_q.weight\): 2 scales, but the linears take 576' \
  "$AWQC" compile -m "$model" --quant "$tmp/short.json"
printf '[{"linears": ["blk.0.attn_q.weight", "blk.0.ffn_down.weight"], "scales": [1]}]' >"$tmp/split.json"
expect quant-not-shared 1 'split.json: entry 0 \(blk.0.ffn_down.weight\): the linears do not read one shared input' \
  "$AWQC" compile -m "$model" --quant "$tmp/split.json"

# Inspection output a person reads.
if command -v dot >/dev/null; then
  expect emit-svg 0 '<svg' "$AWQC" compile -m "$model" -t 2 --emit=svg --filter=layer.0
fi

# Broken artifacts and misuse.
head -c 100000 "$tmp/rtn.awqx" >"$tmp/cut.awqx"
expect truncated 1 'cut.awqx: truncated: the header says [0-9]+ bytes, the file has 100000' \
  "$AWQC" run -m "$tmp/cut.awqx" -p hi
cp "$tmp/rtn.awqx" "$tmp/flip.awqx"
printf '\x5a' | dd of="$tmp/flip.awqx" bs=1 seek=$((rtn_size - 5000)) conv=notrunc status=none
expect corrupt 1 "flip.awqx: section 'weights': checksum mismatch" "$AWQC" run -m "$tmp/flip.awqx" -p hi
expect inspect-corrupt 1 "flip.awqx: section 'weights': checksum mismatch" "$AWQC" inspect "$tmp/flip.awqx"
expect inspect-gguf 1 'not an awqc artifact' "$AWQC" inspect "$model"
expect compile-artifact 1 'already a compiled artifact' "$AWQC" compile -m "$tmp/rtn.awqx"
expect quantize-artifact 1 'is a compiled artifact' "$AWQC" quantize -m "$tmp/rtn.awqx" --method rtn -o "$tmp/x"
expect no-half-file 1 'cannot' "$AWQC" compile -m "$model" -o "$tmp/missing-dir/m.awqx"
checks=$((checks + 1))
if [ -e "$tmp/missing-dir" ]; then fails=$((fails + 1)); echo "FAIL: a failed compile left $tmp/missing-dir"; fi

report
