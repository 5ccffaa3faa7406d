#!/usr/bin/env python3
# Peer AWQ baseline: quantizes the default model (SmolLM2-135M-Instruct GGUF,
# dequantized to float32 by transformers) with AutoAWQ 0.2.9 on the CPU and
# scores wikitext-2 perplexity with exactly awqc's protocol, so the numbers can
# sit in one table with awqc's quantizer results. Run via bench/peer_autoawq.sh.
"""AutoAWQ peer run: FP and AWQ fake-quantized wikitext-2 perplexity.

Protocol (same as awqc and tests/reference/make_reference.py):
  * model: transformers loads the Q4_1 GGUF (gguf_file=...) and dequantizes it
    to float32; that float32 model is the FP reference.
  * tokens: each text file is read verbatim and encoded whole with
    add_special_tokens=False (the transformers 4.51 GGUF tokenizer would
    otherwise prepend a BOS; awqc adds none).
  * calibration: the first W*L tokens of wikitext-2 valid.txt as W windows of
    L tokens. AutoAWQ's get_calib_dataset accepts a list of token-id lists;
    windows of exactly L tokens with n_samples=W and max_seq_len=L pass
    through it unchanged (checked at run time), so no monkeypatching is needed.
  * AutoAWQ: zero_point=True, version GEMM, duo_scaling=True, clipping on
    (AutoAWQ skips q/k itself), export_compatible=True so that the search only
    applies scales and clips; every decoder-block nn.Linear (not lm_head, not
    the embedding) is then fake-quantized in float32 with AutoAWQ's own
    pseudo_quantize_tensor at the same bits and group size. With 3 KV heads
    v_proj and o_proj differ in shape, so AutoAWQ itself skips the v->o scale.
  * one deviation from stock AutoAWQ: a CPU-only aliasing bug in its scale
    search is fixed (CpuSafeAwqQuantizer below); on a GPU the code already
    behaves that way. The search runs with sdpa attention, scoring with eager.
  * evaluation: test.txt, the first K non-overlapping windows of ctx tokens,
    each from an empty cache (eager attention, use_cache=False); NLL of
    tokens 1..ctx-1, log-softmax in float64; ppl = exp(sum NLL / (K*(ctx-1))).
"""

import argparse
import json
import math
import os
import sys
import tempfile
import time

import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer

import awq
from awq.models.llama import LlamaAWQForCausalLM
from awq.models._config import AwqConfig
from awq.quantize.quantizer import AwqQuantizer
from awq.utils.calib_data import get_calib_dataset

# ----------------------------------------------------------------------------
# Defaults

DEFAULT_MODEL = os.path.expanduser("~/.cache/awqc/SmolLM2-135M-Instruct.Q4_1.gguf")
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA_DIR = os.path.normpath(os.path.join(REPO_ROOT, "..", "shared", "data", "wikitext-2"))
ALL_CONFIGS = ["w4g64", "w4g32", "w3g64", "w3g32"]


def log(msg):
    print(msg, flush=True)


def parse_config(name):
    """'w4g64' -> (4, 64)."""
    name = name.strip().lower()
    if not (name.startswith("w") and "g" in name):
        raise argparse.ArgumentTypeError(f"bad config {name!r}: expected wBgG, e.g. w4g64")
    bits, group = name[1:].split("g", 1)
    return name, int(bits), int(group)


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=DEFAULT_MODEL, help="GGUF file (default: %(default)s)")
    ap.add_argument("--calib", default=os.path.join(DATA_DIR, "valid.txt"))
    ap.add_argument("--test", default=os.path.join(DATA_DIR, "test.txt"))
    ap.add_argument("--calib-windows", type=int, default=4, help="W (default 4)")
    ap.add_argument("--calib-len", type=int, default=512, help="L (default 512)")
    ap.add_argument("--eval-windows", type=int, default=32, help="K (default 32)")
    ap.add_argument("--ctx", type=int, default=512, help="evaluation window (default 512)")
    ap.add_argument("--configs", default=",".join(ALL_CONFIGS),
                    help="comma list of wBgG, or 'none' (default: %(default)s)")
    ap.add_argument("--no-fp", action="store_true", help="skip the FP model's ppl")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("--out", help="JSON summary path (written atomically)")
    ap.add_argument("--final-scales", choices=("fp32", "f16"), default="fp32",
                    help="scales of the final fake quantization: fp32 (AutoAWQ's pseudo_quantize_tensor "
                         "on the CPU) or f16, rounded as the GEMM checkpoint stores them (default fp32)")
    args = ap.parse_args()
    names = [] if args.configs.strip().lower() == "none" else args.configs.split(",")
    args.config_list = [parse_config(n) for n in names if n.strip()]
    return args


# ----------------------------------------------------------------------------
# Model and data


def load_model(path):
    """Tokenizer and float32 model from the GGUF. sdpa attention for the AWQ
    search (AutoAWQ's layer replay passes attention_mask=None and relies on
    sdpa's implicit causal mask); evaluation switches to eager."""
    directory, name = os.path.split(os.path.abspath(path))
    tok = AutoTokenizer.from_pretrained(directory, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(
        directory, gguf_file=name, torch_dtype=torch.float32, attn_implementation="sdpa")
    model.config.use_cache = False  # as AutoAWQ's own from_pretrained does
    model.eval()
    return tok, model


def encode_file(tok, path):
    with open(path, encoding="utf-8", newline="") as fp:
        text = fp.read()
    ids = tok(text, add_special_tokens=False)["input_ids"]
    return text, ids


def windows_of(ids, size, count):
    wins = [ids[i * size:(i + 1) * size] for i in range(len(ids) // size)][:count]
    if len(wins) < count:
        sys.exit(f"only {len(wins)} windows of {size} tokens available, {count} asked")
    return wins


def check_calib_passthrough(windows, length):
    """AutoAWQ's own calibration-sample function must hand our windows back
    unchanged (same tokens, same order, same split)."""
    blocks = get_calib_dataset(data=windows, tokenizer=None,
                               n_samples=len(windows), max_seq_len=length)
    got = torch.cat(blocks, dim=0)
    want = torch.tensor(windows, dtype=got.dtype)
    assert got.shape == want.shape and torch.equal(got, want), "calibration blocks differ"


# ----------------------------------------------------------------------------
# Perplexity


class EagerAttention:
    """Switches the (shared) config to eager attention for scoring, as
    make_reference.py does, and restores the previous implementation."""

    def __init__(self, model):
        self.config = model.config

    def __enter__(self):
        self.saved = self.config._attn_implementation
        self.config._attn_implementation = "eager"

    def __exit__(self, *exc):
        self.config._attn_implementation = self.saved


def window_nll(model, window):
    with torch.no_grad():
        logits = model(torch.tensor([window]), use_cache=False).logits[0]
    logits = logits.to(torch.float64)[:-1]
    targets = torch.tensor(window[1:])
    lse = torch.logsumexp(logits, dim=1)
    return float((lse - logits[torch.arange(len(targets)), targets]).sum())


def perplexity(model, wins, label):
    nlls = []
    t0 = time.time()
    with EagerAttention(model):
        for k, w in enumerate(wins):
            nlls.append(window_nll(model, w))
            if k % 8 == 7 or k == len(wins) - 1:
                n = len(nlls) * (len(w) - 1)
                log(f"  {label}: {k + 1}/{len(wins)} windows, ppl so far "
                    f"{math.exp(math.fsum(nlls) / n):.4f}")
    n_scored = len(wins) * (len(wins[0]) - 1)
    nll_sum = math.fsum(nlls)
    return {
        "ppl": math.exp(nll_sum / n_scored),
        "nll_sum": nll_sum,
        "n_scored": n_scored,
        "windows": len(wins),
        "window_nll": nlls,
        "eval_seconds": round(time.time() - t0, 1),
    }


# ----------------------------------------------------------------------------
# AutoAWQ


class CpuSafeAwqQuantizer(AwqQuantizer):
    """AutoAWQ's quantizer with one CPU fix. _compute_best_scale snapshots the
    inspected module as {k: v.cpu()} and then scales fc.weight in place for the
    first grid point. On CUDA .cpu() copies; on the CPU it returns the same
    tensor, so the snapshot is corrupted: every later grid point starts from
    W*s_0 and the module is "restored" to W*s_0 (scales-only ppl 17 -> 156 with
    one layer). Making the snapshot a copy gives the behaviour AutoAWQ has on
    a GPU; nothing else in the search is changed."""

    def _compute_best_scale(self, x, w_mean, x_mean, module2inspect, *args, **kwargs):
        original = module2inspect.state_dict

        def copied_state_dict(*a, **k):
            return {name: t.clone() for name, t in original(*a, **k).items()}

        module2inspect.state_dict = copied_state_dict
        try:
            return super()._compute_best_scale(x, w_mean, x_mean, module2inspect,
                                               *args, **kwargs)
        finally:
            del module2inspect.state_dict


def rtn_f16_scales(w, bits, group):
    """AutoAWQ's asymmetric group RTN with each scale rounded to f16 first (as
    its packed checkpoints store it), the zero point and codes computed from
    the rounded scale, FP32 otherwise: awqc's convention (quantizer/quant.h)."""
    shape = w.shape
    w = w.reshape(-1, group)
    qmax = 2 ** bits - 1
    mx, mn = w.amax(dim=1, keepdim=True), w.amin(dim=1, keepdim=True)
    s = ((mx - mn).clamp(min=1e-5) / qmax).half().float()
    z = (-torch.round(mn / s)).clamp(0, qmax)
    return ((torch.clamp(torch.round(w / s) + z, 0, qmax) - z) * s).reshape(shape)


def awq_quantize(model, bits, group, calib, calib_len, final_scales="fp32"):
    """AutoAWQ's scale + clip search (export_compatible: weights stay float),
    then fake quantization of every decoder-block linear with AutoAWQ's own
    pseudo_quantize_tensor."""
    wrapper = LlamaAWQForCausalLM(model, "llama", is_quantized=False, config=model.config,
                                  quant_config=AwqConfig(), processor=None)
    quant_config = {"zero_point": True, "q_group_size": group, "w_bit": bits,
                    "version": "GEMM"}
    wrapper.quantize(tokenizer=None, quant_config=quant_config, calib_data=calib,
                     max_calib_samples=len(calib), max_calib_seq_len=calib_len,
                     duo_scaling=True, apply_clip=True, export_compatible=True,
                     quantizer_cls=CpuSafeAwqQuantizer)
    quantizer = wrapper.quantizer
    count = 0
    with torch.no_grad():
        for layer in model.model.layers:
            for module in layer.modules():
                if isinstance(module, torch.nn.Linear):
                    if final_scales == "f16":
                        w = rtn_f16_scales(module.weight.data, bits, group)
                    else:
                        w, _, _ = quantizer.pseudo_quantize_tensor(module.weight.data)
                    module.weight.data.copy_(w)
                    count += 1
    return count


def check_float32_cpu(model):
    for name, p in model.named_parameters():
        assert p.dtype == torch.float32 and p.device.type == "cpu", f"{name}: {p.dtype} {p.device}"


# ----------------------------------------------------------------------------
# Output


def write_json_atomic(path, doc):
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".peer_autoawq.", suffix=".json", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fp:
            json.dump(doc, fp, indent=1)
            fp.write("\n")
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    log(f"wrote {path}")


def result_line(label, rec, k, ctx, quant_s=None):
    line = (f"autoawq {label}: ppl {rec['ppl']:.4f} over {rec['n_scored']} tokens "
            f"({k} windows of {ctx})")
    if quant_s is not None:
        line += f"; quantize {quant_s:.1f} s"
    return line


def summary_header(args, n_test_tokens):
    return {
        "tool": "autoawq",
        "versions": {"autoawq": awq.__version__, "transformers": transformers.__version__,
                     "torch": torch.__version__},
        "model": os.path.basename(args.model),
        "calib": {"file": os.path.basename(args.calib), "windows": args.calib_windows,
                  "len": args.calib_len},
        "eval": {"file": os.path.basename(args.test), "ctx": args.ctx,
                 "windows": args.eval_windows, "n_tokens_file": n_test_tokens},
        "settings": {"zero_point": True, "version": "GEMM", "duo_scaling": True,
                     "apply_clip": True, "export_compatible": True,
                     "fake_quant": ("awq pseudo_quantize_tensor, float32" if args.final_scales == "fp32"
                                    else "group RTN with f16-rounded scales (as stored)") + ", block linears only"},
        "threads": torch.get_num_threads(),
        "results": [],
    }


# ----------------------------------------------------------------------------
# Main


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.time()
    tok, model = load_model(args.model)
    pristine = {k: v.detach().clone() for k, v in model.state_dict().items()}
    _, calib_ids = encode_file(tok, args.calib)
    calib = windows_of(calib_ids, args.calib_len, args.calib_windows)
    check_calib_passthrough(calib, args.calib_len)
    _, test_ids = encode_file(tok, args.test)
    test = windows_of(test_ids, args.ctx, args.eval_windows)
    log(f"loaded in {time.time() - t0:.1f} s: {len(calib_ids)} calib tokens, "
        f"{len(test_ids)} test tokens, first test ids {test_ids[:6]}")
    doc = summary_header(args, len(test_ids))

    if not args.no_fp:
        rec = perplexity(model, test, "fp")
        log(result_line("fp", rec, args.eval_windows, args.ctx))
        doc["results"].append({"config": "fp", **rec})
        if args.out:
            write_json_atomic(args.out, doc)

    for name, bits, group in args.config_list:
        model.load_state_dict(pristine)
        t1 = time.time()
        n_linear = awq_quantize(model, bits, group, calib, args.calib_len, args.final_scales)
        quant_s = time.time() - t1
        check_float32_cpu(model)
        rec = perplexity(model, test, name)
        log(result_line(name, rec, args.eval_windows, args.ctx, quant_s))
        doc["results"].append({"config": name, "w_bit": bits, "group": group,
                               "quantize_seconds": round(quant_s, 1),
                               "fake_quantized_linears": n_linear, **rec})
        if args.out:
            write_json_atomic(args.out, doc)
    log(f"total {time.time() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
