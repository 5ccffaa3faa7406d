"""gpu_hf_decode.py: the HF transformers FP16 eager baseline for awqc's CUDA
decode benchmark: a LLaMA of the given shape with random FP16 weights (no
download), eager attention, greedy decode of N tokens after a short prompt;
prints one line "hf_fp16_eager tok/s X weight_bytes B". --device cpu runs a
small shape without a GPU, to check the script against the installed
transformers (tests nothing about speed)."""
import argparse
import sys
import time

import torch
import transformers
from transformers import LlamaConfig, LlamaForCausalLM


def main():
    p = argparse.ArgumentParser()
    for k, v in [("dim", 4096), ("layers", 32), ("heads", 32), ("kv_heads", 32), ("ffn", 11008), ("vocab", 32000),
                 ("prompt", 16), ("tokens", 128)]:
        p.add_argument("--" + k.replace("_", "-"), type=int, default=v)
    p.add_argument("--device", default="cuda")
    a = p.parse_args()
    cfg = LlamaConfig(hidden_size=a.dim, num_hidden_layers=a.layers, num_attention_heads=a.heads,
                      num_key_value_heads=a.kv_heads, intermediate_size=a.ffn, vocab_size=a.vocab,
                      max_position_embeddings=4096)
    cfg._attn_implementation = "eager"  # the paper's baseline; the keyword's name moved between releases
    torch.manual_seed(0)
    sync = torch.cuda.synchronize if a.device == "cuda" else (lambda: None)
    with torch.device(a.device):
        model = LlamaForCausalLM(cfg).half().eval()
    impl = getattr(model.config, "_attn_implementation", "?")
    print(f"transformers {transformers.__version__}, torch {torch.__version__}, attention {impl}, "
          f"dtype {next(model.parameters()).dtype}", file=sys.stderr)
    assert impl == "eager", f"attention is {impl}, not eager"
    ids = torch.randint(0, a.vocab, (1, a.prompt), device=a.device)
    with torch.no_grad():
        model.generate(ids, max_new_tokens=8, min_new_tokens=8, do_sample=False)  # warm-up
        sync()
        t0 = time.perf_counter()
        out = model.generate(ids, max_new_tokens=a.tokens, min_new_tokens=a.tokens, do_sample=False)
        sync()
        dt = time.perf_counter() - t0
    assert out.shape[1] == a.prompt + a.tokens, f"generated {out.shape[1] - a.prompt} tokens, not {a.tokens}"
    nbytes = sum(t.numel() * t.element_size() for t in model.parameters())
    print(f"hf_fp16_eager tok/s {a.tokens / dt:.2f} weight_bytes {nbytes}")


if __name__ == "__main__":
    main()
