#!/usr/bin/env bash
# commands.sh: the awqc command as a user meets it: --help and --version,
# bad options, a missing model, a prompt longer than the context, and one
# real generation, ppl and bench run on the default model (skipped, exit 77,
# when the model is not cached).
set -u
AWQC=${AWQC_BIN:?set by ctest}
. "$(dirname "$0")/lib/expect.sh"

expect version 0 'awqc [0-9]+\.[0-9]+\.[0-9]+' "$AWQC" --version
expect usage 2 'usage: awqc <command>' "$AWQC"
expect unknown-command 2 "unknown command 'frobnicate'" "$AWQC" frobnicate
for cmd in run ppl bench quantize compile inspect; do
  expect "$cmd-help" 0 "usage: awqc $cmd" "$AWQC" "$cmd" --help
done
expect run-no-prompt 1 'no prompt' "$AWQC" run -m /nonexistent.gguf
expect bad-int 1 "--n-predict: expected an integer" "$AWQC" run -p hi -n many
expect missing-model 1 '/nonexistent/model.gguf: cannot open' "$AWQC" run -m /nonexistent/model.gguf -p hi
expect ppl-no-file 1 'no text' "$AWQC" ppl
expect bench-format 1 "--output must be md, csv or json" "$AWQC" bench -o xml
expect quantize-no-output 1 'no output: give -o DIR' "$AWQC" quantize --method rtn
expect quantize-bits 1 '--bits 5: supported are 4 \(AutoAWQ GEMM\) and 3' "$AWQC" quantize --bits 5 -o x
expect quantize-group 1 '--group 48: use 32, 64 or 128' "$AWQC" quantize --group 48 -o x
expect quantize-method 1 '--method gptq: expected awq or rtn' "$AWQC" quantize --method gptq -o x
expect quantize-no-calib 1 'AWQ needs calibration text' "$AWQC" quantize -o x

tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
printf 'GGUF\x03\x00\x00\x00\x01' >"$tmp/short.gguf"
expect truncated-gguf 1 'short.gguf: offset [0-9]+: ' "$AWQC" run -m "$tmp/short.gguf" -p hi

model=$(default_model)
if [ ! -f "$model" ]; then echo "SKIP: default model not cached at $model (run scripts/setup.sh)"; exit 77; fi

long=$(printf 'word %.0s' $(seq 1 100))
expect bad-model-desc 1 'unknown_op.model:6:14: unknown op .rmsnorm.' \
  "$AWQC" run -m "$model" --model-desc "$AWQC_SOURCE_DIR/tests/fixtures/lang/unknown_op.model" -p hi -n 1
expect bad-model-caret 1 '^ +\^$' \
  "$AWQC" run -m "$model" --model-desc "$AWQC_SOURCE_DIR/tests/fixtures/lang/syntax_error.model" -p hi -n 1
expect prompt-too-long 1 'prompt has [0-9]+ tokens, which does not fit the context of 32 tokens' \
  "$AWQC" run -m "$model" --ctx 32 -p "$long"
expect run-greedy 0 'Paris' "$AWQC" run -m "$model" -t 2 -p "The capital of France is" -n 8
expect run-chat 0 'Paris' "$AWQC" run -m "$model" -t 2 --chat -p "What is the capital of France?" -n 24
# --print-ids: the greedy ids of the same run, one line; a full context ends the answer.
expect run-print-ids 0 '^([0-9]+ ){8}$' "$AWQC" run -m "$model" -t 2 -p "The capital of France is" -n 8 --print-ids
expect run-ctx-full 0 'context full \(16 tokens\); stopping' "$AWQC" run -m "$model" -t 2 -p "Hi" -n -1 -c 16
expect run-sampled 0 'prompt 4 tokens' "$AWQC" run -m "$model" -t 2 -p "Once upon a time" -n 8 --temp 0.8 -s 1
# The same seed gives the same text; sampling at a high temperature differs from greedy.
checks=$((checks + 1))
a=$("$AWQC" run -m "$model" -t 2 -p "Once upon a time" -n 12 --temp 1.5 --seed 7 2>/dev/null)
b=$("$AWQC" run -m "$model" -t 2 -p "Once upon a time" -n 12 --temp 1.5 --seed 7 2>/dev/null)
g=$("$AWQC" run -m "$model" -t 2 -p "Once upon a time" -n 12 2>/dev/null)
if [ "$a" != "$b" ] || [ "$a" = "$g" ]; then fails=$((fails + 1)); echo "FAIL: seeded sampling: '$a' / '$b' / greedy '$g'"; fi
expect run-until-eog 0 'generated [0-9] tokens' "$AWQC" run -m "$model" -t 2 --chat -p "What is the capital of France?" -n -1
echo "Hello world. This is a short text to score, with a few words in it, and then some more words." >"$tmp/t.txt"
expect ppl-small 0 'ppl [0-9.]+ .*scored 15 tokens in 1 windows of 16' "$AWQC" ppl -m "$model" -t 2 -f "$tmp/t.txt" --ctx 16
expect ppl-too-short 1 'fewer than one window of 4096' "$AWQC" ppl -m "$model" -f "$tmp/t.txt" --ctx 4096
expect bench-json 0 '"test": "tg4"' "$AWQC" bench -m "$model" -t 2 -p 8 -n 4 -r 1 -o json

# quantize: bad inputs leave nothing behind; RTN and a small AWQ run give folders awqc loads.
: >"$tmp/empty.txt"
expect quantize-empty-calib 1 'empty.txt: empty calibration text' \
  "$AWQC" quantize -m "$model" --calib "$tmp/empty.txt" -o "$tmp/q-empty"
expect quantize-short-calib 1 't.txt: [0-9]+ tokens, fewer than one calibration window of 512' \
  "$AWQC" quantize -m "$model" --calib "$tmp/t.txt" -o "$tmp/q-short"
expect quantize-unwritable 1 "cannot write $tmp/no/such/dir/q" \
  "$AWQC" quantize -m "$model" --method rtn -o "$tmp/no/such/dir/q"
checks=$((checks + 1))
if ls "$tmp" | grep -q '^q-'; then fails=$((fails + 1)); echo "FAIL: a refused quantize left files: $(ls "$tmp")"; fi
expect quantize-rtn 0 'rtn W4 g64: 210 linears quantized' "$AWQC" quantize -m "$model" -t 2 --method rtn --group 64 -o "$tmp/rtn"
expect quantize-rtn-run 0 'Paris' "$AWQC" run -m "$tmp/rtn" -t 2 -p "The capital of France is" -n 8
for i in 1 2 3; do cat "$tmp/t.txt"; done >"$tmp/calib.txt"
expect quantize-awq-small 0 'awq W3 g32: 210 linears quantized' "$AWQC" quantize -m "$model" -t 2 --bits 3 --group 32 \
  --calib "$tmp/calib.txt" --calib-tokens 32 --calib-seqlen 32 -o "$tmp/awq3"
expect quantize-awq-config 0 '"quant_method":[[:space:]]*"awqc"' cat "$tmp/awq3/config.json"
expect compile-unknown-pass 1 "--print-after: unknown pass 'merge-qvk'" "$AWQC" compile -m "$model" --print-after=merge-qvk
expect compile-merge-qkv 0 'linear %1, @"blk.0.attn_q\+k\+v.weight" : f32\[T, 960\]' \
  "$AWQC" compile -m "$model" -t 2 --print-after=merge-qkv --filter=layer.0
expect compile-same-logits 0 'after pack-weights +max .* = 0 \(identical\)' "$AWQC" compile -m "$model" -t 2 --check-logits 8
expect compile-plan-memory 0 'plan-memory: ctx 2048: [0-9]+ buffers' "$AWQC" compile -m "$model" -t 2
expect compile-dot 0 'subgraph cluster' "$AWQC" compile -m "$model" -t 2 --emit=dot --filter=layer.0

report
