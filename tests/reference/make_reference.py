#!/usr/bin/env python3
# Produces independent reference fixtures for the awqc FP32 interpreter: HF
# transformers loads the same GGUF (weights dequantized to f32), and we record
# per-position logits for a few prompts plus a windowed wikitext-2 perplexity.
# Not run in CI: the outputs under tests/fixtures/reference/ are committed.

import argparse
import hashlib
import json
import math
import os
import sys
import time

import numpy as np
import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer

# ----------------------------------------------------------------------------
# Constants of the fixture format

SCRIPT_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(SCRIPT_DIR))
DEFAULT_MODEL = os.path.expanduser("~/.cache/awqc/SmolLM2-135M-Instruct.Q4_1.gguf")
DEFAULT_WIKITEXT = os.path.join(REPO_ROOT, "..", "shared", "data", "wikitext-2", "test.txt")
DEFAULT_OUT = os.path.join(REPO_ROOT, "tests", "fixtures", "reference")

TOP_K = 32
SAMPLE_STRIDE = 64
WIKI_PROMPT_MAX_TOKENS = 48
FIRST_IDS = 64
# (context length, number of leading windows) scored for ppl.json.
PPL_SETTINGS = [(256, 4), (512, 8)]
FULL_CTX = 512

CHAT_USER_MESSAGE = "What is the capital of France?"
PLAIN_PROMPT = "The capital of France is"
CODE_PROMPT = "def fibonacci(n):\n    if n < 2:\n        return n\n"


# ----------------------------------------------------------------------------
# Small helpers


def f32(x):
    """A float32 value as the Python float of its shortest round-trip decimal.

    The logits are fp32; printing the shortest decimal that parses back to the
    same float32 keeps full precision (strtof recovers the exact bits) while
    halving the file size compared to the double repr.
    """
    s = np.format_float_positional(np.float32(x), unique=True, trim="-")
    return float(s)


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as fp:
        for chunk in iter(lambda: fp.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def log(msg):
    print(msg, flush=True)


def load(model_path):
    directory, name = os.path.split(os.path.abspath(model_path))
    tok = AutoTokenizer.from_pretrained(directory, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(
        directory, gguf_file=name, dtype=torch.float32, attn_implementation="eager"
    )
    model.eval()
    return tok, model


def forward_logits(model, ids):
    """fp32 logits [len(ids), vocab] for one sequence run from an empty cache."""
    with torch.no_grad():
        out = model(torch.tensor([ids], dtype=torch.long), use_cache=False)
    logits = out.logits[0]
    assert logits.dtype == torch.float32
    return logits.numpy()


# ----------------------------------------------------------------------------
# Prompts


def chat_prompt_text(tok):
    messages = [{"role": "user", "content": CHAT_USER_MESSAGE}]
    return tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def wikitext_prompt_text(tok, wiki_text):
    """The ' = Robert <unk> = ' heading and its paragraph, cut at a word
    boundary so that the tokenized prompt has at most 48 tokens."""
    start = wiki_text.index(" = Robert ")
    words = wiki_text[start:start + 4000].split(" ")
    best = ""
    for n in range(1, len(words) + 1):
        candidate = " ".join(words[:n])
        if len(tok(candidate)["input_ids"]) > WIKI_PROMPT_MAX_TOKENS:
            break
        best = candidate
    return best


def position_record(row):
    order = np.lexsort((np.arange(row.shape[0]), -row.astype(np.float64)))
    top = [[int(i), f32(row[i])] for i in order[:TOP_K]]
    return {
        "argmax": int(np.argmax(row)),
        "min": f32(row.min()),
        "max": f32(row.max()),
        "top": top,
        "sample_ids_stride": SAMPLE_STRIDE,
        "sample": [f32(v) for v in row[::SAMPLE_STRIDE]],
    }


def prompt_record(tok, model, text):
    ids = tok(text)["input_ids"]
    logits = forward_logits(model, ids)
    return {
        "text": text,
        "ids": [int(i) for i in ids],
        "positions": [position_record(logits[p]) for p in range(len(ids))],
    }


# ----------------------------------------------------------------------------
# Perplexity


def window_nll(model, window):
    """Sum of NLL(ids[j] | ids[<j]) for j = 1..len-1, log-softmax in float64."""
    logits = forward_logits(model, window).astype(np.float64)[:-1]
    m = logits.max(axis=1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(logits - m).sum(axis=1))
    targets = np.asarray(window[1:], dtype=np.int64)
    picked = logits[np.arange(len(targets)), targets]
    return float((lse - picked).sum())


def windows_of(ids, ctx):
    return [ids[i * ctx:(i + 1) * ctx] for i in range(len(ids) // ctx)]


def ppl_summary(ctx, nlls):
    n_scored = len(nlls) * (ctx - 1)
    nll_sum = math.fsum(nlls)
    return {
        "ctx": ctx,
        "windows": len(nlls),
        "n_scored": n_scored,
        "nll_sum": nll_sum,
        "ppl": math.exp(nll_sum / n_scored),
        "window_ppl": [math.exp(x / (ctx - 1)) for x in nlls],
    }


def score_windows(model, wins, label):
    nlls, times = [], []
    for k, w in enumerate(wins):
        t0 = time.time()
        nlls.append(window_nll(model, w))
        times.append(time.time() - t0)
        if k % 25 == 0 or k == len(wins) - 1:
            log(f"  {label}: window {k + 1}/{len(wins)} "
                f"ppl so far {math.exp(math.fsum(nlls) / (len(nlls) * (len(w) - 1))):.4f}")
    return nlls, times


def full_file_ppl(model, ids, first_nlls, first_times, budget_min):
    """Whole-file ppl at FULL_CTX, unless the extrapolated time is over budget.
    Reuses the leading windows already scored for the short setting."""
    wins = windows_of(ids, FULL_CTX)
    # Skip the first timing: it includes one-off allocation and warm-up.
    per_window = float(np.median(first_times[1:] or first_times))
    estimate_s = per_window * (len(wins) - len(first_nlls))
    log(f"full {FULL_CTX}: {len(wins)} windows, ~{per_window:.2f} s each, "
        f"estimate {estimate_s / 60:.1f} min (budget {budget_min} min)")
    if estimate_s > budget_min * 60:
        return None
    t0 = time.time()
    rest, _ = score_windows(model, wins[len(first_nlls):], f"full{FULL_CTX}")
    nlls = list(first_nlls) + rest
    rec = ppl_summary(FULL_CTX, nlls)
    del rec["window_ppl"]
    rec["seconds"] = round(time.time() - t0 + sum(first_times), 1)
    rec["threads"] = torch.get_num_threads()
    return rec


# ----------------------------------------------------------------------------
# Main


def numerics_note():
    return ("Produced by tests/reference/make_reference.py: HF transformers loads the "
            "GGUF directly (gguf_file=...), which dequantizes every tensor (Q4_1, Q8_0, F32) "
            "to float32; the model runs in float32 on CPU with torch.set_num_threads(1), "
            "attn_implementation='eager', model.eval(), torch.no_grad(), use_cache=False, "
            "each prompt as one full-sequence forward pass from an empty cache. Logits are "
            "the raw fp32 lm_head outputs (tied to token_embd), written as the shortest "
            "decimal that round-trips to the same float32. 'top' is the 32 largest logits "
            "in descending order (ties by lower id); 'sample' holds the logits of ids "
            "0, 64, 128, ... (768 values).")


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--wikitext", default=os.path.normpath(DEFAULT_WIKITEXT))
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--full", choices=["auto", "yes", "no"], default="auto",
                    help="whole-file ppl at ctx 512: auto runs it if the estimate fits the budget")
    ap.add_argument("--full-budget-min", type=float, default=15.0)
    return ap.parse_args()


def compact(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def logits_json_text(doc):
    """Indented header, one compact line per position: small, yet diffable."""
    lines = ["{"]
    for key, value in doc.items():
        if key != "prompts":
            lines.append(f" {compact(key)}:{compact(value)},")
    lines.append(' "prompts":[')
    for p, prompt in enumerate(doc["prompts"]):
        lines.append(f'  {{"text":{compact(prompt["text"])},"ids":{compact(prompt["ids"])},"positions":[')
        rows = [f"   {compact(pos)}" for pos in prompt["positions"]]
        lines.append(",\n".join(rows))
        lines.append("  ]}" + ("," if p + 1 < len(doc["prompts"]) else ""))
    lines.append(" ]")
    lines.append("}")
    return "\n".join(lines) + "\n"


def ppl_json_text(doc):
    """One key per line, one result per line."""
    lines = []
    for key, value in doc.items():
        if key == "results":
            rows = ",\n".join(f"  {compact(r)}" for r in value)
            lines.append(f' {compact(key)}:[\n{rows}\n ]')
        else:
            lines.append(f" {compact(key)}:{compact(value)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def write_text(path, text):
    with open(path, "w", encoding="utf-8") as fp:
        fp.write(text)
    log(f"wrote {path} ({os.path.getsize(path)} bytes)")


def make_logits(tok, model, wiki_text, model_path):
    texts = [PLAIN_PROMPT, chat_prompt_text(tok), CODE_PROMPT, wikitext_prompt_text(tok, wiki_text)]
    prompts = [prompt_record(tok, model, t) for t in texts]
    first = prompts[0]["positions"][-1]["argmax"]
    log(f"argmax after {PLAIN_PROMPT!r}: {first} = {tok.decode([first])!r}")
    return {
        "model": os.path.basename(model_path),
        "model_sha256": sha256_of(model_path),
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "attn_implementation": model.config._attn_implementation,
        "dtype": "float32",
        "device": "cpu",
        "note": numerics_note(),
        "prompts": prompts,
    }


def make_ppl(tok, model, wiki_text, args):
    ids = tok(wiki_text, add_special_tokens=False)["input_ids"]
    assert ids == tok(wiki_text)["input_ids"], "tokenizer unexpectedly adds special tokens"
    result = {
        "model": os.path.basename(args.model),
        "text_file": "wikitext-2/test.txt",
        "text_sha256": hashlib.sha256(wiki_text.encode("utf-8")).hexdigest(),
        "protocol": ("ids = tokenize(whole file verbatim, no special tokens); consecutive "
                     "non-overlapping windows of ctx tokens (incomplete tail dropped); each "
                     "window from an empty cache; score positions 1..ctx-1 of each window; "
                     "log-softmax in float64 from fp32 logits; ppl = exp(nll_sum / n_scored)"),
        "n_tokens_total": len(ids),
        "first_ids": [int(i) for i in ids[:FIRST_IDS]],
        "results": [],
    }
    cache = {}
    for ctx, count in PPL_SETTINGS:
        nlls, times = score_windows(model, windows_of(ids, ctx)[:count], f"ctx{ctx}")
        cache[ctx] = (nlls, times)
        rec = ppl_summary(ctx, nlls)
        result["results"].append(rec)
        log(f"ctx {ctx} x {count} windows: ppl {rec['ppl']:.6f}")
    if args.full != "no":
        budget = float("inf") if args.full == "yes" else args.full_budget_min
        full = full_file_ppl(model, ids, *cache[FULL_CTX], budget)
        if full is None:
            log("full-file ppl skipped: estimate over budget")
        else:
            result["full_512"] = full
            log(f"full {FULL_CTX}: {full['windows']} windows, ppl {full['ppl']:.6f}, {full['seconds']} s")
    return result


def main():
    args = parse_args()
    torch.set_num_threads(1)
    os.makedirs(args.out, exist_ok=True)
    t0 = time.time()
    tok, model = load(args.model)
    with open(args.wikitext, encoding="utf-8", newline="") as fp:
        wiki_text = fp.read()
    log(f"loaded in {time.time() - t0:.1f} s")
    logits_doc = make_logits(tok, model, wiki_text, args.model)
    write_text(os.path.join(args.out, "logits.json"), logits_json_text(logits_doc))
    ppl_doc = make_ppl(tok, model, wiki_text, args)
    write_text(os.path.join(args.out, "ppl.json"), ppl_json_text(ppl_doc))
    log(f"total {time.time() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
