#!/usr/bin/env python3
# check_tok_export.py: checks a tokenizer folder written by awqc's
# tok_write_hf against Hugging Face's own reading of the source GGUF. Not run
# in CI (needs transformers, tokenizers and the cached default model).
#
#   build/tests/test_tok_export --write /tmp/smollm2        # default model
#   python3 tests/reference/check_tok_export.py /tmp/smollm2
#   build/tests/test_tok_export --write /tmp/spm tests/fixtures/tokenizer/spm_bpe.gguf
#   python3 tests/reference/check_tok_export.py /tmp/smollm2 --spm-dir /tmp/spm
#
# DIR (the default model's tokenizer) is loaded with AutoTokenizer and
# compared with AutoTokenizer on the GGUF file itself, on the first 200 KB of
# wikitext-2 valid.txt (whole and line by line), the fixture strings of
# tests/fixtures/tokenizer/smollm2_bpe.json (and their recorded ids), decoding,
# special tokens and the chat template. transformers knows no "smollm"
# pre-tokenizer, so the GGUF side gets SmolLM2's digit split back, as
# make_tokenizer_fixtures.py does; the unrepaired comparison is reported too.
# --spm-dir: a folder written from spm_bpe.gguf, compared with the ids the
# sentencepiece library gave (tests/fixtures/tokenizer/spm_bpe.json).
# Exits 1 on any difference.

import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "tokenizer")
WIKI_VALID = os.path.join(os.path.dirname(ROOT), "shared", "data", "wikitext-2", "valid.txt")
MODEL_DIR = os.path.expanduser(os.environ.get("AWQC_CACHE_DIR", "~/.cache/awqc"))
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
WIKI_BYTES = 200_000

CHAT = [
    {"role": "user", "content": "What is 2+2?"},
    {"role": "assistant", "content": "4"},
    {"role": "user", "content": "And 3+3?"},
]

# ----------------------------------------------------------------------------
# Inputs


def wikitext_head():
    with open(WIKI_VALID, "rb") as f:
        data = f.read(WIKI_BYTES)
    return data.decode("utf-8", errors="ignore")  # the cut may split a character


def fixture_cases(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as f:
        return json.load(f)


# ----------------------------------------------------------------------------
# Tokenizers


def gguf_tokenizer(repair_digits):
    from tokenizers import pre_tokenizers
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(MODEL_DIR, gguf_file=MODEL_FILE)
    if repair_digits:
        tok.backend_tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
            [
                pre_tokenizers.Digits(individual_digits=True),
                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
            ]
        )
    return tok


def folder_tokenizer(path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path)


# ----------------------------------------------------------------------------
# Comparing


class Tally:
    def __init__(self, label):
        self.label, self.checked, self.failed = label, 0, 0

    def check(self, ok, what):
        self.checked += 1
        if not ok:
            self.failed += 1
            if self.failed <= 5:
                print(f"  [{self.label}] MISMATCH: {what}")

    def report(self):
        status = "OK" if self.failed == 0 else "FAILED"
        print(f"{self.label}: {self.checked - self.failed}/{self.checked} agree -> {status}")
        return self.failed == 0


def first_difference(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


def compare_texts(tally, ours, ref, texts):
    for text in texts:
        a, b = ours(text)["input_ids"], ref(text)["input_ids"]
        i = first_difference(a, b)
        tally.check(a == b, f"{text[:60]!r}: at id {i}: ours {a[i:i + 8]} vs reference {b[i:i + 8]}")


def compare_basics(tally, ours, ref):
    tally.check(len(ours) == len(ref), f"vocab size {len(ours)} vs {len(ref)}")
    for name in ("bos_token", "eos_token"):
        a, b = getattr(ours, name), getattr(ref, name)
        tally.check(a == b, f"{name} {a!r} vs {b!r}")
    a = ours.apply_chat_template(CHAT, tokenize=False, add_generation_prompt=True)
    b = ref.apply_chat_template(CHAT, tokenize=False, add_generation_prompt=True)
    tally.check(a == b, f"chat template renders {a!r} vs {b!r}")
    tally.check(ours(a)["input_ids"] == ref(b)["input_ids"], "chat ids")


def compare_decoding(tally, ours, ref, texts):
    for text in texts:
        ids = ref(text)["input_ids"]
        a, b = ours.decode(ids), ref.decode(ids)
        tally.check(a == b, f"decode of {text[:40]!r}: {a[:60]!r} vs {b[:60]!r}")


def compare_with_fixture(tally, tok, cases, **kwargs):
    for c in cases:
        got = tok(c["text"], **kwargs)["input_ids"]
        i = first_difference(got, c["ids"])
        tally.check(got == c["ids"], f"{c['text'][:60]!r}: at id {i}: {got[i:i + 8]} vs {c['ids'][i:i + 8]}")


# ----------------------------------------------------------------------------


def check_default(folder):
    ours = folder_tokenizer(folder)
    wiki = wikitext_head()
    lines = [l for l in wiki.split("\n") if l]
    cases = fixture_cases("smollm2_bpe.json")
    strings = [c["text"] for c in cases]
    ok = True
    for repair in (True, False):
        ref = gguf_tokenizer(repair)
        label = "vs GGUF (smollm digit split restored)" if repair else "vs GGUF as transformers reads it"
        tally = Tally(label)
        compare_basics(tally, ours, ref)
        compare_texts(tally, ours, ref, [wiki] + lines + strings)
        compare_decoding(tally, ours, ref, strings + lines[:200])
        passed = tally.report()
        ok = ok and (passed or not repair)  # the unrepaired run is informational
    tally = Tally("vs smollm2_bpe.json fixture ids")
    compare_with_fixture(tally, ours, cases)
    return tally.report() and ok


# SentencePiece encodes control-token text as plain text and adds no BOS.
def check_spm(folder):
    tok = folder_tokenizer(folder)
    tally = Tally("spm folder vs sentencepiece ids (spm_bpe.json)")
    compare_with_fixture(tally, tok, fixture_cases("spm_bpe.json"), add_special_tokens=False,
                         split_special_tokens=True)
    return tally.report()


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("dir", help="folder written from the default model (test_tok_export --write DIR)")
    ap.add_argument("--spm-dir", help="folder written from tests/fixtures/tokenizer/spm_bpe.gguf")
    args = ap.parse_args()
    import tokenizers
    import transformers

    print(f"transformers {transformers.__version__}, tokenizers {tokenizers.__version__}")
    ok = check_default(args.dir)
    if args.spm_dir:
        ok = check_spm(args.spm_dir) and ok
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
