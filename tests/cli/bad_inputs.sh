#!/usr/bin/env bash
# bad_inputs.sh: every kind of bad input awqc reads (GGUF, safetensors, Hugging
# Face folders, AWQ folders, tokenizer.json, model descriptions, .awqx artifacts,
# --quant files, options) must end in exit 1 and a message naming the file and
# the place; absurd sizes must be refused before allocation. docs/bad-inputs.md
# is the table of these rows. The inputs are one defect away from a tiny model
# that tests/fixtures/bad/make_bad_inputs.py writes, so the whole run is fast.
set -u
AWQC=$(realpath "${AWQC_BIN:?set by ctest}")
SRC=${AWQC_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
fails=0; checks=0; known=0
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

# ----------------------------------------------------------------------------
# Rows

# Every row runs with at most 4 GB of address space, so an absurd allocation
# fails loudly instead of passing quietly. Sanitizer builds cannot start under
# ulimit -v (their shadow memory is terabytes of address space): there the
# allocator refuses any single request over 512 MB instead (the tiny models
# need a few MB).
limit_kb=4000000
if ! { (ulimit -v "$limit_kb" && "$AWQC" --version) >/dev/null 2>&1; } 2>/dev/null; then
  limit_kb=unlimited
  export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}max_allocation_size_mb=512:allocator_may_return_null=1"
fi

# awqc ARGS...: the binary under test; a hang ends after 30 s with exit 124.
awqc() { timeout 30 "$AWQC" "$@"; }

# run_row CMD...: runs CMD with the memory limit; sets $out and $rc.
run_row() {
  out=$( (ulimit -v "$limit_kb"; "$@") 2>&1); rc=$?
}

# row_ok WANT_RC PATTERN: whether the last run exited WANT_RC, printed PATTERN
# (grep -E) and no sanitizer report.
row_ok() {
  [ "$rc" = "$1" ] && grep -qE -- "$2" <<<"$out" && ! grep -qE 'Sanitizer|runtime error:' <<<"$out"
}

# With BAD_INPUTS_LOG set, each row's first error line is appended there
# (name, exit code, message with the temp folder cut out): docs/bad-inputs.md
# is filled from it.
log_row() {
  [ -n "${BAD_INPUTS_LOG:-}" ] || return 0
  local line
  line=$(grep -m1 -E 'error' <<<"$out" | sed -e "s|$tmp/||g" -e "s|$SRC/||g" -e 's/^awqc: error: //')
  printf '%s\t%s\t%s\n' "$1" "$rc" "$line" >>"$BAD_INPUTS_LOG"
}

# expect NAME WANT_RC PATTERN CMD...: a row that must pass.
expect() {
  local name=$1 want=$2 pattern=$3; shift 3
  run_row "$@"
  checks=$((checks + 1))
  log_row "$name"
  if ! row_ok "$want" "$pattern"; then
    fails=$((fails + 1))
    echo "FAIL: $name: exit $rc (want $want), output:"; sed 's/^/    /' <<<"$out" | head -20
  fi
}

# expect_known_bug NAME WANT_RC PATTERN CMD...: the behaviour a row should
# have but awqc does not have yet. Reported, not failed; once it passes it
# says so, and the row should become an expect.
expect_known_bug() {
  local name=$1 want=$2 pattern=$3; shift 3
  run_row "$@"
  log_row "$name"
  if row_ok "$want" "$pattern"; then
    echo "FIXED: $name now passes: turn it into an expect row"
  else
    known=$((known + 1))
    echo "KNOWN BUG: $name: exit $rc (want $want and /$pattern/):"; sed 's/^/    /' <<<"$out" | tail -3
  fi
}

# ----------------------------------------------------------------------------
# Inputs: the tiny models, then what awqc makes of them, then their damaged copies

if ! python3 -c 'import numpy' 2>/dev/null; then echo "SKIP: python3 with numpy is needed to write the inputs"; exit 77; fi
python3 "$SRC/tests/fixtures/bad/make_bad_inputs.py" "$tmp" base || { echo "FAIL: make_bad_inputs.py base"; exit 1; }
cd "$tmp" || exit 1
run() { awqc run -t 1 -n 2 -p hello -m "$@"; }
expect tiny-hf-runs 0 'generated 2 tokens' run hf
expect tiny-gguf-runs 0 'generated 2 tokens' run tiny.gguf
expect tiny-quantize 0 'rtn W4 g32: 7 linears quantized' awqc quantize -m hf -t 1 --method rtn --group 32 -o awq
expect tiny-compile 0 'wrote tiny.awqx' awqc compile -m awq -t 1 -o tiny.awqx
python3 "$SRC/tests/fixtures/bad/make_bad_inputs.py" "$tmp" derived || { echo "FAIL: make_bad_inputs.py derived"; exit 1; }

# ----------------------------------------------------------------------------
# GGUF

expect gguf-bad-magic 1 'bad_magic.gguf: offset 0: not a GGUF file \(bad magic\)' run bad_magic.gguf
expect gguf-truncated-header 1 'truncated.gguf: offset 16: truncated file: metadata count needs 8 bytes but only 4 are left' \
  run truncated.gguf
expect gguf-version-1 1 'version1.gguf: offset 4: GGUF version 1 is not supported \(only 2 and 3\)' run version1.gguf
expect gguf-version-4 1 'version4.gguf: offset 4: GGUF version 4 is not supported' run version4.gguf
expect gguf-big-endian 1 'big_endian.gguf: offset 4: big-endian GGUF files are not supported' run big_endian.gguf
expect gguf-n-kv-1e9 1 'nkv_1e9.gguf: offset 16: metadata count 1000000000 exceeds file size' run nkv_1e9.gguf
expect gguf-n-kv-2e60 1 'nkv_2e60.gguf: offset 16: metadata count 1152921504606846976 exceeds file size' run nkv_2e60.gguf
expect gguf-n-tensors-1e9 1 'ntensors_1e9.gguf: offset 8: tensor count 1000000000 exceeds file size' run ntensors_1e9.gguf
expect gguf-n-tensors-2e60 1 'ntensors_2e60.gguf: offset 8: tensor count 1152921504606846976 exceeds file size' \
  run ntensors_2e60.gguf
expect gguf-key-past-end 1 'key_past_end.gguf: offset 24: key length 1000 exceeds file size \(only 12 bytes left\)' \
  run key_past_end.gguf
expect gguf-string-2e62 1 "string_2e62.gguf: offset 48: key 'general.name': string length 4611686018427387904 exceeds file size" \
  run string_2e62.gguf
expect gguf-array-2e60 1 "array_2e60.gguf: offset 51: key 'llama.vocab': array length 1152921504606846976 exceeds file size" \
  run array_2e60.gguf
expect gguf-value-type 1 "value_type.gguf: offset 44: key 'general.name': unknown value type 99" run value_type.gguf
expect gguf-duplicate-key 1 "dup_key.gguf: offset [0-9]+: duplicate metadata key 'general.architecture'" run dup_key.gguf
expect gguf-alignment-3 1 'align3.gguf: .*general.alignment 3 is not a power of two' run align3.gguf
expect gguf-dims-overflow 1 "dims_overflow.gguf: offset [0-9]+: tensor 'huge': element count overflows" run dims_overflow.gguf
expect gguf-tensor-2e60 1 "tensor_2e60.gguf: tensor 'huge': data \[4224, 4611686018427392128\) beyond end of file \(size 4224\)" \
  run tensor_2e60.gguf
expect gguf-n-dims-9 1 "ndims9.gguf: offset [0-9]+: tensor 'deep': n_dims 9 exceeds 4" run ndims9.gguf
expect gguf-block-row 1 "block_row.gguf: offset [0-9]+: tensor 'odd': row length 33 is not a multiple of the block size 32" \
  run block_row.gguf
expect gguf-offset-past-end 1 "offset_past_end.gguf: tensor 'blk.0.ffn_down.weight': data \[1073746656, 1073779424\) beyond end of file" \
  run offset_past_end.gguf
expect gguf-offset-unaligned 1 "unaligned.gguf: tensor 'blk.0.attn_q.weight': data offset 66563 is not aligned to 32" \
  run unaligned.gguf
expect gguf-unknown-type 1 "unknown_type.gguf: tensor 'blk.0.attn_q.weight': ggml type 99 is not supported" run unknown_type.gguf
expect gguf-no-architecture 1 "no_arch.gguf: no string 'general.architecture' in the metadata" run no_arch.gguf
expect gguf-duplicate-tensor 1 "dup_tensor.gguf: offset [0-9]+: duplicate tensor name 'blk.0.attn_norm.weight'" run dup_tensor.gguf
expect gguf-wrong-shape 1 'llama.model:30:11: linear: input f32\[T, 64\] has 64 features but weight f32\[64, 32\] expects 32' \
  run wrong_shape.gguf
expect gguf-block-count-2e32 1 'llama.model:27:3: loop runs 4294967295 times; at most 1000000 are allowed' run block_count.gguf
expect gguf-no-tokens 1 'no_tokens.gguf: tokenizer.ggml.tokens has 0 entries' run no_tokens.gguf

# ----------------------------------------------------------------------------
# safetensors (a lone file)

expect st-short 1 'short.safetensors: offset 0: truncated file: the 8-byte header length is missing' run short.safetensors
expect st-header-len-1e9 1 'header_len.safetensors: offset 0: header length 1000000000 exceeds file size \(136\)' \
  run header_len.safetensors
expect st-header-len-2e63 1 'header_2e63.safetensors: offset 0: header length 9223372036854775808 exceeds file size' \
  run header_2e63.safetensors
expect st-not-json 1 'not_json.safetensors: offset 31: invalid JSON in the safetensors header' run not_json.safetensors
expect st-not-object 1 'not_object.safetensors: offset 8: the safetensors header is not a JSON object' run not_object.safetensors
expect st-nested-100000 1 'nested.safetensors: offset [0-9]+: invalid JSON in the safetensors header' run nested.safetensors
expect st-dtype-unknown 1 "dtype.safetensors: tensor 'w': unknown dtype 'F12'" run dtype.safetensors
expect st-offsets-reversed 1 "reversed.safetensors: tensor 'w': data_offsets \[64, 0\) end before begin" run reversed.safetensors
expect st-offsets-past-end 1 "past_end.safetensors: tensor 'w': data_offsets \[0, 1048576\) beyond end of data" \
  run past_end.safetensors
expect st-offsets-float 1 "offsets_float.safetensors: tensor 'w': \"data_offsets\" is not two non-negative integers" \
  run offsets_float.safetensors
expect st-span-mismatch 1 "span.safetensors: tensor 'w': data_offsets span 16 bytes but 64 elements of F32 need 256" \
  run span.safetensors
expect st-shape-2e60 1 "shape_2e60.safetensors: tensor 'w': data_offsets span 64 bytes but 1152921504606846976 elements" \
  run shape_2e60.safetensors
expect st-shape-overflow 1 "shape_overflow.safetensors: tensor 'w': element count overflows" run shape_overflow.safetensors

# ----------------------------------------------------------------------------
# Hugging Face folders

expect hf-no-config 1 'no_config: no config.json: not a Hugging Face checkpoint folder' run no_config
expect hf-config-malformed 1 'config_bad/config.json: offset 43: invalid JSON' run config_bad
expect hf-config-not-object 1 'config_array/config.json: the top level is not a JSON object' run config_array
expect hf-config-nested-100000 1 'config_nested/config.json: offset [0-9]+: invalid JSON' run config_nested
expect hf-no-weights 1 'no_weights: neither model.safetensors nor model.safetensors.index.json found' run no_weights
expect hf-index-missing-shard 1 'sharded/model-00002-of-00002.safetensors: cannot open: No such file' run sharded
expect hf-index-shard-path 1 "shard_path/model.safetensors.index.json: weight_map: tensor 'x.weight': shard is not a plain file name" \
  run shard_path
expect hf-missing-tensor 1 "llama.model:30:21: missing weight 'model.layers.0.self_attn.q_proj.weight' in Hugging Face checkpoint 'missing_tensor'" \
  run missing_tensor
expect hf-wrong-shape 1 'llama.model:31:11: rope: last dimension must equal heads \* head_dim \(operands f32\[T, 32\]\)' \
  run wrong_shape
expect hf-dtype-i64 1 "dtype_i64/model.safetensors: tensor 'model.norm.weight': dtype I64 is not supported" run dtype_i64
expect hf-heads-zero 1 'llama.model:11:87: division by zero \(64 / 0\)' run heads_zero
expect hf-hidden-size-2e40 1 'llama.model:31:11: rope: heads and an even head_dim must be positive integers' run dim_huge
expect hf-layers-1e9 1 'llama.model:27:3: loop runs 1000000000 times; at most 1000000 are allowed' run layers_huge
expect hf-eps-string 1 "llama.model:14:28: param 'eps' is a number, got a string \(\"small\"\)" run eps_string
expect hf-scalar-weight 1 "llama.model:46:19: weight 'model.norm.weight' has rank 0; expected 1 to 4" run scalar_weight
expect hf-overlapping-tensors 1 "overlap/model.safetensors: tensors '.*' and 'model.layers.0.self_attn.o_proj.weight' overlap" \
  run overlap

# ----------------------------------------------------------------------------
# AWQ folders (awqc quantize output, one tensor damaged)

expect awq-qweight-shape 1 "awq_qweight_shape: tensor 'model.layers.0.self_attn.q_proj.qzeros': shape \[2, 8\], expected \[2, 4\]" \
  run awq_qweight_shape
expect awq-qweight-dtype 1 "awq_qweight_dtype: tensor 'model.layers.0.self_attn.q_proj.qweight': expected an I32 matrix" \
  run awq_qweight_dtype
expect awq-no-qzeros 1 "awq_no_qzeros: quantized linear 'model.layers.0.self_attn.q_proj' has no tensor 'model.layers.0.self_attn.q_proj.qzeros'" \
  run awq_no_qzeros
expect awq-scales-shape 1 "awq_scales_shape: tensor 'model.layers.0.self_attn.q_proj.scales': shape \[1, 128\], expected \[2, 64\]" \
  run awq_scales_shape
expect awq-bits-8 1 'awq_bits8/config.json: AWQ with bits 8, .*only 4-bit GEMM is supported' run awq_bits8

# ----------------------------------------------------------------------------
# tokenizer.json (in a Hugging Face folder)

expect tok-truncated 1 'tok_truncated/tokenizer.json: offset [0-9]+: invalid JSON' run tok_truncated
expect tok-missing 1 'tok_missing/tokenizer.json: cannot open: No such file' run tok_missing
expect tok-unigram 1 "tok_unigram/tokenizer.json: model.type 'Unigram' is not supported \(only BPE\)" run tok_unigram
expect tok-bad-merge 1 'tok_merge/tokenizer.json: model.merges\[3\] is neither "left right" nor \[left, right\]' run tok_merge
expect tok-nested-100000 1 'tok_nested/tokenizer.json: offset [0-9]+: invalid JSON' run tok_nested
expect tok-config-malformed 1 'tok_config_bad/tokenizer_config.json: offset 14: invalid JSON' run tok_config_bad
expect tok-id-1e8 1 "tok_huge_id/tokenizer.json: token id 99999999 is far beyond the [0-9]+ vocabulary entries" run tok_huge_id
expect tok-id-5000000 1 'tok_added_big/tokenizer.json: token id 5000000 is far beyond the [0-9]+ vocabulary entries' run tok_added_big
expect tok-id-beyond-embedding 1 'tok_added_300: the tokenizer has 301 tokens but the embedding table only 260 rows' run tok_added_300

# ----------------------------------------------------------------------------
# Model descriptions (--model-desc)

desc() { run hf --model-desc "$@"; }
lang=$SRC/tests/fixtures/lang
expect desc-syntax 1 "syntax_error.model:4:3: syntax error: unexpected 'input', expected ';'" desc "$lang/syntax_error.model"
expect desc-unknown-op 1 "unknown_op.model:6:14: unknown op 'rmsnorm' \(did you mean 'rms_norm'\?\)" desc "$lang/unknown_op.model"
expect desc-missing-weight 1 "missing_weight.model:6:19: missing weight 'model.layers.0.self_attn.qq_proj.weight'" \
  desc "$lang/missing_weight.model"
expect desc-shape-mismatch 1 'shape_mismatch.model:7:14: linear: input f32\[T, 32\] has 32 features but weight f32\[64, 64\] expects 64' \
  desc "$lang/shape_mismatch.model"
expect desc-missing-file 1 "$tmp/none.model: cannot open: No such file" desc "$tmp/none.model"
expect desc-nested-100000 1 'deep.model:4:[0-9]+: nesting too deep' desc deep.model
expect desc-division-by-zero 1 'div_zero.model:3:20: division by zero \(1 / 0\)' desc div_zero.model

# ----------------------------------------------------------------------------
# Compiled artifacts (.awqx)

expect awqx-truncated 1 'cut.awqx: truncated: the header says [0-9]+ bytes, the file has [0-9]+' run cut.awqx
expect awqx-flipped-weights 1 "flip.awqx: section 'weights': checksum mismatch \(the file is corrupt\)" run flip.awqx
expect awqx-inspect-flipped 1 "flip.awqx: section 'weights': checksum mismatch" awqc inspect flip.awqx
expect awqx-version-2 1 'version2.awqx: artifact format version 2, this awqc reads version 1' run version2.awqx
expect awqx-table-flipped 1 "table_flip.awqx: the section table's checksum does not match" run table_flip.awqx
expect awqx-plan-syntax 1 'plan_syntax.awqx:plan:4:13: expected a value \(a number or a string\), got .=.' run plan_syntax.awqx
expect awqx-plan-unknown-op 1 "plan_op.awqx:plan:46:10: unknown op 'silu_mux'" run plan_op.awqx
expect awqx-plan-type 1 'plan_type.awqx:plan:46:53: %6 = silu_mul: type mismatch: printed f32\[T, 129\] but silu_mul gives f32\[T, 128\]' \
  run plan_type.awqx
expect awqx-index-outside 1 'index_outside.awqx: weight @model.layers.0.input_layernorm.weight: 256 bytes at offset 96560 lie outside' \
  run index_outside.awqx
expect awqx-meta-malformed 1 "meta_bad.awqx: section 'meta': offset 10: invalid JSON" run meta_bad.awqx
expect awqx-compile-artifact 1 'compile: tiny.awqx is already a compiled artifact' awqc compile -m tiny.awqx
expect awqx-inspect-gguf 1 'tiny.gguf: not an awqc artifact \(bad magic\)' awqc inspect tiny.gguf
expect awqx-bad-magic 1 'magic.awqx: not an awqc artifact \(bad magic\)' run magic.awqx
expect awqx-empty 1 'empty.awqx: truncated' run empty.awqx

# ----------------------------------------------------------------------------
# Options and the files they name

expect cli-prompt-too-long 1 'the prompt has 26 tokens, which does not fit the context of 8 tokens' \
  awqc run -m hf -t 1 --ctx 8 -p "hello hello hello hello hello hello hello hello hello"
expect cli-prompt-file-missing 1 "$tmp/none.txt: cannot open: No such file" awqc run -m hf -f "$tmp/none.txt"
expect cli-ctx-out-of-range 1 "--ctx: expected an integer in \[2, 1048576\], got '99999999'" awqc run -m hf --ctx 99999999 -p hi
expect cli-chat-no-template 1 'the model has no chat template' awqc run -m hf -t 1 --chat -p hi
expect cli-quant-scale-count 1 'scales_short.json: entry 0 \(model.layers.0.self_attn.q_proj.weight\): 2 scales, but the linears take 64' \
  awqc compile -m hf -t 1 --quant scales_short.json
expect cli-quant-malformed 1 'scales_bad.json: offset 73: invalid JSON' awqc compile -m hf -t 1 --quant scales_bad.json
expect cli-quant-nested-100000 1 'scales_nested.json: offset [0-9]+: invalid JSON' awqc compile -m hf -t 1 --quant scales_nested.json
expect cli-quant-unknown-linear 1 'scales_unknown.json: entry 0 \(model.layers.7.self_attn.q_proj.weight\): no weight of that name' \
  awqc compile -m hf -t 1 --quant scales_unknown.json
expect cli-target-unknown 1 "compile: --target: pack-weights: unknown target 'riscv' \(known: host, " \
  awqc compile -m hf --target riscv
# f16 activations are the CUDA GEMV's arithmetic: a CPU target refuses them (before loading) and writes nothing
expect cli-act-f16-cpu 1 "compile: --act f16 is the CUDA GEMV's arithmetic; target x86-64 takes q8 or f32" \
  awqc compile -m awq -t 1 --target x86-64 --act f16 -o act_f16.awqx
expect cli-act-f16-cpu-no-output 1 '' sh -c 'ls act_f16.awqx* 2>/dev/null | grep -q .'
# the GEMV's copy stages likewise: CUDA targets only, and 1 or 2
expect cli-gemv-stages-cpu 1 "compile: --gemv-stages shapes the CUDA GEMV; target x86-64 has none" \
  awqc compile -m awq -t 1 --target x86-64 --gemv-stages 2 -o stages.awqx
expect cli-gemv-stages-range 1 "--gemv-stages: expected an integer in \[1, 2\], got .3." awqc compile -m awq -t 1 --target cuda:sm_90 --gemv-stages 3 -o stages.awqx
expect cli-gemv-stages-no-output 1 '' sh -c 'ls stages.awqx* 2>/dev/null | grep -q .'

model=${AWQC_MODEL:-${AWQC_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/awqc}/SmolLM2-135M-Instruct.Q4_1.gguf}
if [ -f "$model" ]; then
  expect cli-ctx-1048576 1 'a context of 1048576 tokens needs [0-9.]+ GiB of KV cache, more than the [0-9.]+ GiB of memory available' awqc run -m "$model" -t 1 --ctx 1048576 -p hi -n 1
else
  echo "SKIP: cli-ctx-1048576: default model not cached at $model"
fi

echo "$((checks - fails)) passed, $fails failed, $known known bugs (address space limit: $limit_kb KB)"
[ "$fails" -eq 0 ]
