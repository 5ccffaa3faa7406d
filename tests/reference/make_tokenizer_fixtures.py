#!/usr/bin/env python3
# make_tokenizer_fixtures.py: writes the reference token ids the tokenizer
# tests compare against. Not run in CI (needs transformers, gguf,
# sentencepiece and the cached default model); rerun by hand when the test
# strings change, then commit tests/fixtures/tokenizer/.
#
#   python3 tests/reference/make_tokenizer_fixtures.py
#
# Outputs:
#   smollm2_bpe.json  ids of the default model's byte-level BPE tokenizer
#   spm_bpe.gguf      a tiny SentencePiece BPE vocabulary (no tensors)
#   spm_bpe.json      ids of that vocabulary from the sentencepiece library
#   pretok.json       how the gpt2, smollm, llama3 and qwen2 pre-tokenizers
#                     cut each string (piece lengths in bytes)

import json
import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT_DIR = os.path.join(ROOT, "tests", "fixtures", "tokenizer")
WIKI_VALID = os.path.join(os.path.dirname(ROOT), "shared", "data", "wikitext-2", "valid.txt")
MODEL_DIR = os.path.expanduser(os.environ.get("AWQC_CACHE_DIR", "~/.cache/awqc"))
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

# ----------------------------------------------------------------------------
# Test strings


def handwritten_strings():
    """Strings chosen to hit every branch of the pre-tokenizers and BPE."""
    s = [
        "Hello world",
        "Hello, world! How are you today?",
        "The quick brown fox jumps over the lazy dog.",
        "hello",
        " hello",
        "  hello",
        "hello ",
        "hello  ",
        "   leading and trailing   ",
        "a",
        " ",
        "  ",
        "\n",
        "\n\n",
        " \n",
        "\t",
        "\t\tindented with tabs",
        "line one\nline two\n\nline four\n",
        "mixed \t whitespace\r\n windows line end\r\n",
        "many     spaces     between",
        "trailing newline\n",
        "ends with spaces and newline  \n",
        # contractions
        "it's",
        "It's I'LL we've they're you'd she'll I'm",
        "don't DON'T Don't",
        "'s 't 're 've 'm 'll 'd",
        "rock 'n' roll",
        "the dogs' bowls",
        # digits and numbers
        "12345",
        "3.14159",
        "1,000,000",
        "In 2024, 42% of 7 people paid $19.99.",
        "a 2024 year",
        "  2024",
        "x1 y22 z333 w4444",
        "0x1F 0b1010 1e-9 -7",
        "phone: +1 (555) 010-9999",
        "١٢٣ Arabic-Indic digits",
        "½ ¼ ² ³ Ⅻ",
        # punctuation runs
        "!!!???...",
        "Wait... what?!",
        "--- *** ### @@@",
        "(a) [b] {c} <d>",
        "email@example.com https://example.org/path?q=1&r=2#frag",
        "\"quoted\" 'single' `back`",
        "a/b\\c|d",
        "~`!@#$%^&*()_+-={}[]|\\:;\"'<>,.?/",
        # code
        "int main(void) { return 0; }",
        "#include <stdio.h>\nint main() {\n    printf(\"hi\\n\");\n}\n",
        "for (int i = 0; i < n; ++i) a[i] += b[i] * 2;",
        "def f(x):\n    return x ** 2\n",
        "class Foo:\n\tdef __init__(self):\n\t\tself.x = []\n",
        "if x == None and y != 3: pass  # comment",
        "const char *s = \"tab\\there\";",
        "SELECT id, name FROM users WHERE age >= 18;",
        "<div class=\"x\">text</div>",
        '{"key": [1, 2, 3], "nested": {"a": null}}',
        "    four space indent\n        eight",
        # accents, combining marks, other scripts
        "café naïve résumé",
        "Crème brûlée à la française",
        "e\u0301 combining acute",
        "n\u0303o\u0308 u\u0308ber",
        "Zürich Ångström Øre",
        "Привет, мир!",
        "Γειά σου Κόσμε",
        "你好，世界",
        "日本語のテキストです。",
        "한국어 텍스트",
        "مرحبا بالعالم",
        "שלום עולם",
        "नमस्ते दुनिया",
        "สวัสดีชาวโลก",
        "Tiếng Việt có dấu",
        # emoji and symbols
        "I love 🍕 and 🎉!",
        "👍🏽 👨‍👩‍👧 🏳️‍🌈",
        "😀😃😄😁",
        "→ ← ↑ ↓ ∑ ∫ √ ∞ ≠ ≤",
        "€100 £50 ¥30 ₹20",
        "© ® ™ § ¶ † ‡",
        "\u00a0non-breaking\u00a0space",
        "zero\u200bwidth",
        "soft\u00adhyphen",
        "ideographic\u3000space",
        "\u2028line separator",
        "mixed English和中文text",
        "ÀÉÎÕÜ àéîõü",
        # special tokens (parsed as HF does by default)
        "<|im_start|>user\nhi<|im_end|>",
        "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
        "<|endoftext|>",
        "text<|endoftext|>more text",
        "<|im_end|><|im_end|>",
        " <|im_start|> spaced <|im_end|> ",
        "<|im_start|assistant",
        "<|im_start|><|im_start|>x",
        "<repo_name>awqc<file_sep>main.c",
        # odd lengths
        "x" * 50,
        "ab" * 40,
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa bbbbbbbbbbbbbbbb",
        "Supercalifragilisticexpialidocious antidisestablishmentarianism",
        "ALL CAPS SENTENCE WITH WORDS",
        "camelCaseIdentifier snake_case_identifier kebab-case-id",
        "CamelCase HTTPServer XMLHttpRequest",
        "The year 1999 ended; 2000 began.",
        "Mr. Smith went to Washington D.C. on Jan. 5th.",
        "A sentence.Another one!Yet another?",
        "semicolons; colons: commas, periods.",
        "newlines\n\n\n\nmany",
        " \n \n \n",
        "\n leading newline then space",
        "tab\tseparated\tvalues\t1\t2",
        # control bytes (SmolLM2 has no token for some: they are dropped)
        "ctrl\x04chars\x01\x7f end",
        "!\x04!",
        "bell\x07 and escape\x1b[0m",
    ]
    return s


def wikitext_lines(n, max_chars=300):
    """Every few lines of wikitext-2 valid.txt, cut to keep the fixtures small."""
    with open(WIKI_VALID, encoding="utf-8") as f:
        lines = [l for l in f.read().split("\n") if l.strip()]
    step = max(1, len(lines) // n)
    picked = []
    for line in lines[::step][:n]:
        picked.append(line[:max_chars] + "\n")
    return picked


def all_strings():
    return handwritten_strings() + wikitext_lines(120)


# ----------------------------------------------------------------------------
# (a) the default model's byte-level BPE


def smollm2_tokenizer():
    from tokenizers import pre_tokenizers
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(MODEL_DIR, gguf_file=MODEL_FILE)
    # transformers builds the pre-tokenizer from tokenizer.ggml.pre but knows
    # no "smollm"; SmolLM2's own tokenizer.json (and llama.cpp's "smollm")
    # isolates every digit before the GPT-2 split. Restore that, so the
    # fixtures are what the model was trained with.
    tok.backend_tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    return tok


def make_smollm2_fixture(strings):
    tok = smollm2_tokenizer()
    cases = []
    for s in strings:
        ids = tok(s)["input_ids"]  # HF defaults: special tokens parsed, no BOS for this model
        cases.append(case(s, ids, tok.decode(ids)))
    write_json("smollm2_bpe.json", cases)


# ----------------------------------------------------------------------------
# (b) a small SentencePiece BPE model, its GGUF vocabulary and its ids


def train_spm(workdir):
    import sentencepiece as spm

    prefix = os.path.join(workdir, "spm_bpe")
    spm.SentencePieceTrainer.train(
        input=WIKI_VALID,
        model_prefix=prefix,
        model_type="bpe",
        vocab_size=1500,
        byte_fallback=True,
        # Llama's settings: keep the text as is, so encoding is the bare BPE.
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        add_dummy_prefix=True,
        split_digits=False,
        num_threads=1,
        input_sentence_size=0,
        shuffle_input_sentence=False,
        minloglevel=2,
    )
    return spm.SentencePieceProcessor(model_file=prefix + ".model")


def spm_token_type(sp, i):
    if sp.is_unknown(i):
        return 2
    if sp.is_control(i):
        return 3
    if sp.is_byte(i):
        return 6
    if sp.is_unused(i):
        return 5
    return 1


def write_spm_gguf(sp, path):
    import gguf

    w = gguf.GGUFWriter(path, "llama")
    n = sp.get_piece_size()
    w.add_tokenizer_model("llama")
    w.add_token_list([sp.id_to_piece(i) for i in range(n)])
    w.add_token_scores([sp.get_score(i) for i in range(n)])
    w.add_token_types([spm_token_type(sp, i) for i in range(n)])
    w.add_bos_token_id(sp.bos_id())
    w.add_eos_token_id(sp.eos_id())
    w.add_unk_token_id(sp.unk_id())
    w.add_add_bos_token(True)
    w.add_add_space_prefix(True)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def make_spm_fixture(strings):
    with tempfile.TemporaryDirectory() as workdir:
        sp = train_spm(workdir)
    write_spm_gguf(sp, os.path.join(OUT_DIR, "spm_bpe.gguf"))
    cases = []
    for s in strings:
        ids = sp.encode(s)
        cases.append(case(s, ids, sp.decode(ids)))
    write_json("spm_bpe.json", cases)


# ----------------------------------------------------------------------------
# (c) pre-tokenizer splits for the GGUF pre-tokenizer names we map

GPT2_SPLIT = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


def pre_tokenizers_by_name():
    from tokenizers import Regex, pre_tokenizers
    from transformers.integrations.gguf.gguf_tokenizer_mapping import GGUF_PRE_TOKENIZER_SPLITS

    def split(pattern):
        return pre_tokenizers.Split(Regex(pattern), behavior="isolated")

    return {
        "gpt2": pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        "smollm": pre_tokenizers.Sequence(
            [pre_tokenizers.Digits(individual_digits=True), split(GPT2_SPLIT)]
        ),
        "llama3": split(GGUF_PRE_TOKENIZER_SPLITS["llama3"]),
        "qwen2": split(GGUF_PRE_TOKENIZER_SPLITS["qwen2"]),
    }


def make_pretok_fixture(strings):
    """Byte lengths of the pieces each pre-tokenizer cuts a string into."""
    cases = []
    for s in strings:
        c = {"text": s}
        for name, pre in pre_tokenizers_by_name().items():
            c[name] = [len(s[a:b].encode("utf-8")) for _, (a, b) in pre.pre_tokenize_str(s)]
        cases.append(c)
    write_json("pretok.json", cases)


# ----------------------------------------------------------------------------


def case(text, ids, decoded):
    """A fixture entry; "lossy" marks text that does not decode back (dropped bytes)."""
    c = {"text": text, "ids": ids}
    if decoded != text:
        c["lossy"] = True
    return c


def write_json(name, cases):
    path = os.path.join(OUT_DIR, name)
    with open(path, "w", encoding="utf-8") as f:
        f.write("[\n")
        f.write(",\n".join(json.dumps(c, ensure_ascii=False) for c in cases))
        f.write("\n]\n")
    print(f"{path}: {len(cases)} cases, {os.path.getsize(path)} bytes")


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    strings = all_strings()
    make_smollm2_fixture(strings)
    make_spm_fixture(strings)
    make_pretok_fixture(handwritten_strings() + wikitext_lines(20))


if __name__ == "__main__":
    sys.exit(main())
