#!/usr/bin/env bash
# synth.sh: `awqc synth`, the random-weight LLaMA of any shape that the GPU
# speed measurements use (bench/gpu_decode_vs_hf.sh: Llama-2-7B's 32000-token
# vocabulary with SmolLM2's 49152-token tokenizer). A tokenizer larger than
# --vocab is trimmed to ids below it, merges included, so the model loads and
# runs; it compiles and benchmarks like any AutoAWQ folder. The folder is
# written whole or not at all (staged beside -o, renamed into place).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib/expect.sh"
AWQC=${AWQC_BIN:?}
awq=$(bash "$here/lib/awq_fixture.sh" --path) || { echo "SKIP: no AWQ fixture (its tokenizer is used)"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
shape=(--dim 256 --layers 2 --heads 4 --kv-heads 2 --ffn 512 --group 64)

expect synth-trims 0 'tokenizer trimmed to 4096 of its 49152 tokens' \
  "$AWQC" synth "${shape[@]}" --vocab 4096 --tokenizer "$awq" -o "$tmp/small"
expect synth-config 0 '"vocab_size": 4096' cat "$tmp/small/config.json"
# Every id below the vocabulary, every merge made of kept tokens.
expect tokenizer-trimmed 0 '^ok 4096 [0-9]+$' python3 - "$tmp/small/tokenizer.json" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))
vocab, merges = t["model"]["vocab"], t["model"]["merges"]
pairs = [m.split(" ", 1) if isinstance(m, str) else m for m in merges]
bad = [p for p in pairs if p[0] not in vocab or p[1] not in vocab or p[0] + p[1] not in vocab]
ids = list(vocab.values()) + [a["id"] for a in t.get("added_tokens", [])]
print("ok" if max(ids) < 4096 and not bad and merges else "bad", len(vocab), len(merges))
PY
expect run-interp 0 'generated 4 tokens' "$AWQC" run -m "$tmp/small" --engine interp -n 4 -p "The capital of France is" -t 2
expect compile 0 'wrote .*small.awqx' "$AWQC" compile -m "$tmp/small" -c 64 -o "$tmp/small.awqx"
expect bench 0 '\| tg8 \|' "$AWQC" bench -m "$tmp/small.awqx" -p 16 -n 8 -r 1 -t 2
expect synth-no-trim 0 'wrote .*full' "$AWQC" synth "${shape[@]}" --vocab 49152 --tokenizer "$awq" -o "$tmp/full"
same full-not-trimmed "" "$(grep trimmed <<<"$("$AWQC" synth "${shape[@]}" --vocab 49152 --tokenizer "$awq" -o "$tmp/full2" 2>&1)")"
# A tokenizer taken from a model file (the GGUF) is the one awqc quantize
# wrote beside the fixture, trimmed alike.
gguf=$(default_model)
if [ -f "$gguf" ]; then
  expect synth-gguf-tokenizer 0 'tokenizer trimmed to 4096 of its 49152 tokens' \
    "$AWQC" synth "${shape[@]}" --vocab 4096 --tokenizer "$gguf" -o "$tmp/from-gguf"
  same gguf-tokenizer-json "" "$(cmp "$tmp/small/tokenizer.json" "$tmp/from-gguf/tokenizer.json" 2>&1)"
  expect run-gguf-tokenizer 0 'generated 4 tokens' \
    "$AWQC" run -m "$tmp/from-gguf" --engine interp -n 4 -p "The capital of France is" -t 2
  rm -rf "$tmp/from-gguf"
fi
expect synth-not-a-model 1 'synth: --tokenizer: .*/synth.sh: not a checkpoint' \
  "$AWQC" synth "${shape[@]}" --vocab 4096 --tokenizer "$here/synth.sh" -o "$tmp/x"
expect synth-bad-tokenizer 1 'synth: --tokenizer: .*/nothing: cannot open' \
  "$AWQC" synth "${shape[@]}" --vocab 4096 --tokenizer "$tmp/nothing" -o "$tmp/x"
mkdir "$tmp/broken" && echo '{"model": ' >"$tmp/broken/tokenizer.json"
expect synth-tokenizer-not-json 1 'broken/tokenizer.json is not JSON' \
  "$AWQC" synth "${shape[@]}" --vocab 4096 --tokenizer "$tmp/broken" -o "$tmp/y"
expect synth-no-parent 1 "synth: cannot write $tmp/none/z: $tmp/none" \
  "$AWQC" synth "${shape[@]}" --vocab 4096 --tokenizer "$awq" -o "$tmp/none/z"
same refused-leave-nothing "broken full full2 small small.awqx" "$(cd "$tmp" && echo *)"
# Writing over an earlier model replaces it whole: a file of the old folder is gone.
touch "$tmp/small/stale"
expect synth-replaces 0 'wrote .*small' "$AWQC" synth "${shape[@]}" --vocab 4096 --tokenizer "$awq" -o "$tmp/small"
same replaced-whole "config.json model.safetensors special_tokens_map.json tokenizer.json tokenizer_config.json" \
  "$(cd "$tmp/small" && echo *)"
report
