#!/usr/bin/env python3
"""Loads a folder written by `awqc quantize --bits 4` the way the AutoAWQ
ecosystem reads it, without awqc: transformers' LlamaForCausalLM built from the
folder's config.json and tokenizer, every quantized linear's weight rebuilt
from its qweight/qzeros/scales by AutoAWQ's own `dequantize_gemm`, the other
tensors loaded as stored. Prints the wikitext-2 test perplexity over the first
K windows of 512 tokens (awqc's protocol), to compare with
`awqc ppl -m DIR -f test.txt --chunks K`.

AutoAWQ's CPU kernels need intel_extension_for_pytorch, so its
from_quantized() cannot run here; dequantizing with its own unpacking code
checks the same things: names, packing order, shapes, Q/K row order, config.

Run with the peer venv (bench/peer_autoawq.sh creates it):
  ~/.cache/awqc/peer-venv/bin/python tests/reference/check_autoawq_load.py DIR [K]
"""
import json
import math
import sys

import torch
from awq.utils.packing_utils import dequantize_gemm
from safetensors.torch import load_file
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

TEST = "/work/shared/data/wikitext-2/test.txt"


def build_model(folder):
    cfg = json.load(open(f"{folder}/config.json"))
    q = cfg.pop("quantization_config")
    assert q["quant_method"] == "awq" and q["version"] == "gemm" and q["bits"] == 4, q
    config = LlamaConfig(**cfg)
    model = LlamaForCausalLM(config).float().eval()
    tensors = load_file(f"{folder}/model.safetensors")
    state = {}
    for name, t in tensors.items():
        if name.endswith(".qweight"):
            base = name[: -len(".qweight")]
            # Scales widened to f32 first: awqc dequantizes in f32, AutoAWQ's
            # kernels in f16 (which would round every weight to f16).
            scales = tensors[base + ".scales"].float()
            w = dequantize_gemm(t, tensors[base + ".qzeros"], scales, 4, q["group_size"])
            state[base + ".weight"] = w.float().t().contiguous()
        elif not name.endswith((".qzeros", ".scales")):
            state[name] = t.float()
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [m for m in missing if not (config.tie_word_embeddings and m == "lm_head.weight")]
    assert not missing and not unexpected, (missing, unexpected)
    if config.tie_word_embeddings:
        model.tie_weights()
    return model


def main():
    folder = sys.argv[1]
    k = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    torch.set_num_threads(1)
    model = build_model(folder)
    tok = AutoTokenizer.from_pretrained(folder)
    ids = tok(open(TEST).read(), add_special_tokens=False)["input_ids"]
    nll, n = 0.0, 0
    for w in range(k):
        win = torch.tensor([ids[w * 512:(w + 1) * 512]])
        with torch.no_grad():
            logits = model(win).logits[0].double()
        lp = torch.log_softmax(logits[:-1], -1)
        nll += -lp[torch.arange(511), win[0, 1:]].sum().item()
        n += 511
    print(f"{folder}: {len(ids)} tokens in test.txt; ppl {math.exp(nll / n):.4f} over {k} windows of 512")


if __name__ == "__main__":
    main()
