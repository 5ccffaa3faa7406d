#!/usr/bin/env python3
# make_seeds.py: writes the seed inputs made without awqc: Hugging Face folders
# (fuzz_hf_folder), tiny trained tokenizer.json files (fuzz_tokenizer_json),
# texts to tokenize (fuzz_tokenize) and small GGUF / safetensors files
# (fuzz_ckpt). Deterministic; run from anywhere: python3 tests/fuzz/make_seeds.py
import json
import os
import struct
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.join(HERE, "corpus")
RNG = np.random.default_rng(8)


def write(harness, name, data):
    d = os.path.join(CORPUS, harness)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, name)
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())
    assert os.path.getsize(path) < 64 * 1024, path
    print(path)


# ----------------------------------------------------------------------------
# safetensors, written by hand so the bytes stay small and exact

DTYPES = {"F32": ("<f4", 4), "F16": ("<f2", 2), "BF16": (None, 2), "I32": ("<i4", 4), "I8": ("i1", 1),
          "U8": ("u1", 1), "I64": ("<i8", 8)}


def tensor_bytes(dtype, shape):
    n = int(np.prod(shape)) if shape else 1
    if dtype == "BF16":  # the top half of f32 values
        return (RNG.standard_normal(n).astype("<f4").view("<u4") >> 16).astype("<u2").tobytes()
    np_type, _ = DTYPES[dtype]
    if dtype in ("F32", "F16"):
        return RNG.standard_normal(n).astype(np_type).tobytes()
    return RNG.integers(0, 127, n).astype(np_type).tobytes()


def safetensors(tensors, metadata=None):
    header, blobs, at = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, dtype, shape, *data in tensors:
        b = data[0] if data else tensor_bytes(dtype, shape)
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [at, at + len(b)]}
        blobs.append(b)
        at += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


# ----------------------------------------------------------------------------
# fuzz_hf_folder: config.json NUL index NUL shard

LLAMA_CONFIG = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 16, "intermediate_size": 32,
    "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1, "vocab_size": 8,
    "rms_norm_eps": 1e-5, "tie_word_embeddings": True, "torch_dtype": "float32", "bos_token_id": 1,
    "eos_token_id": [2, 3], "rope_parameters": {"rope_theta": 10000.0, "rope_type": "default"},
    "attention_bias": False, "pad_token_id": None,
}


def hf_seed(name, config, shard, index=None):
    parts = [json.dumps(config, indent=1).encode(), json.dumps(index).encode() if index else b"", shard]
    write("fuzz_hf_folder", name, b"\0".join(parts))


def hf_seeds():
    dense = [("model.embed_tokens.weight", "F32", (8, 16)), ("model.norm.weight", "BF16", (16,)),
             ("model.layers.0.self_attn.q_proj.weight", "F16", (16, 16)),
             ("model.layers.0.mlp.up_proj.bias", "I8", (4,)), ("extra.u8", "U8", (2, 3)),
             ("extra.i64", "I64", (2,))]
    shard = safetensors(dense, {"format": "pt"})
    hf_seed("dense_single.bin", LLAMA_CONFIG, shard)
    index = {"metadata": {"total_size": len(shard)},
             "weight_map": {n: "model-00001-of-00002.safetensors" for n, _, _ in dense}}
    hf_seed("dense_index.bin", LLAMA_CONFIG, shard, index)
    index_two = {"weight_map": {dense[0][0]: "model-00001-of-00002.safetensors",
                                dense[1][0]: "model-00002-of-00002.safetensors"}}
    hf_seed("dense_two_shards.bin", LLAMA_CONFIG, shard, index_two)  # the same tensors in both: refused

    out_f, in_f, g = 16, 64, 32  # AutoAWQ GEMM INT4: qweight [in, out/8], qzeros [in/g, out/8], scales [in/g, out]
    gemm = [("model.layers.0.mlp.down_proj.qweight", "I32", (in_f, out_f // 8)),
            ("model.layers.0.mlp.down_proj.qzeros", "I32", (in_f // g, out_f // 8)),
            ("model.layers.0.mlp.down_proj.scales", "F16", (in_f // g, out_f)),
            ("model.norm.weight", "F32", (16,))]
    awq = dict(LLAMA_CONFIG, quantization_config={"quant_method": "awq", "bits": 4, "group_size": g,
                                                   "version": "gemm", "zero_point": True})
    hf_seed("awq_gemm.bin", awq, safetensors(gemm))

    out_f, in_f = 8, 64  # awqc INT3: qcodes [out, in*3/8], qzeros [out, in/g], scales [out, in/g]
    u3 = [("lm_head.qcodes", "U8", (out_f, in_f * 3 // 8)), ("lm_head.qzeros", "U8", (out_f, in_f // g)),
          ("lm_head.scales", "F16", (out_f, in_f // g)), ("lm_head.bias", "F32", (out_f,))]
    awqc = dict(LLAMA_CONFIG, quantization_config={"quant_method": "awqc", "bits": 3, "group_size": g})
    hf_seed("awqc_u3.bin", awqc, safetensors(u3))


# ----------------------------------------------------------------------------
# fuzz_tokenizer_json: tokenizer.json NUL tokenizer_config.json

TEXT = ("The quick brown fox jumps over the lazy dog. Hello, world! How are you today? "
        "1234567890 numbers and tabs\tand new\nlines. caf\u00e9 na\u00efve \u4f60\u597d \U0001F600 "
        "def f(x):\n    return x ** 2  # code\n") * 4

CHATML = ("{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
          "{{ '<|im_start|>system\\nYou are a helpful AI assistant named SmolLM<|im_end|>\\n' }}{% endif %}"
          "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
          "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")
LLAMA2 = ("{% for message in messages %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + "
          "message['content'] + ' [/INST]' }}{% else %}{{ ' ' + message['content'] + ' ' + eos_token }}{% endif %}"
          "{% endfor %}")


def tokenizer_seed(name, tok, config):
    write("fuzz_tokenizer_json", name, tok.to_str().encode() + b"\0" + json.dumps(config).encode())


def byte_level_tokenizer(nfc_split):
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers, Regex
    tok = Tokenizer(models.BPE(ignore_merges=nfc_split))
    if nfc_split:  # Qwen2 / Llama 3 style: NFC, a Split regex, ByteLevel without its own regex
        tok.normalizer = normalizers.NFC()
        split = pre_tokenizers.Split(Regex(r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"),
                                     behavior="isolated")
        tok.pre_tokenizer = pre_tokenizers.Sequence([split, pre_tokenizers.ByteLevel(add_prefix_space=False,
                                                                                     use_regex=False)])
    else:  # GPT-2 / SmolLM2 style
        tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                     pre_tokenizers.ByteLevel(add_prefix_space=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=330, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator([TEXT], trainer)
    return tok


def spm_tokenizer():
    from tokenizers import Tokenizer, decoders, models, normalizers, trainers
    tok = Tokenizer(models.BPE(byte_fallback=True, unk_token="<unk>", fuse_unk=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("\u2581"), normalizers.Replace(" ", "\u2581")])
    tok.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(" ", 1, 0)])
    specials = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % b for b in range(256)]
    trainer = trainers.BpeTrainer(vocab_size=340, special_tokens=specials, show_progress=False)
    tok.train_from_iterator([TEXT], trainer)
    return tok


def tokenizer_seeds():
    tokenizer_seed("byte_level_chatml.json", byte_level_tokenizer(False),
                   {"bos_token": "<|im_start|>", "eos_token": "<|im_end|>", "add_bos_token": False,
                    "chat_template": CHATML})
    tokenizer_seed("byte_level_nfc_split.json", byte_level_tokenizer(True),
                   {"eos_token": {"content": "<|endoftext|>"}, "chat_template": CHATML})
    tokenizer_seed("spm_llama2.json", spm_tokenizer(),
                   {"bos_token": "<s>", "eos_token": "</s>", "add_bos_token": True, "chat_template": LLAMA2})


# ----------------------------------------------------------------------------
# fuzz_tokenize: texts; fuzz_ckpt: format byte (even GGUF, odd safetensors) + file

def tokenize_seeds():
    texts = {
        "english.txt": "Hello, world! How are you today?  The quick brown fox.\n",
        "chatml.txt": "<|im_start|>user\nhi there<|im_end|>\n<|im_start|>assistant\n",
        "llama2.txt": "<s>[INST] <<SYS>>\nsys\n<</SYS>>\n\nquestion [/INST] answer </s>",
        "unicode.txt": "caf\u00e9 \u2581 na\u00efve \u4f60\u597d\u4e16\u754c \U0001F600\U0001F44D\u200d \u0301e",
        "code.txt": "for (int i = 0; i < 10; i++) {\n\tprintf(\"%d\\n\", i * 123456);\n}\n",
        "spaces.txt": "   leading\t\ttabs   and trailing   \n\n\n  ",
    }
    for name, text in texts.items():
        write("fuzz_tokenize", name, text)
    write("fuzz_tokenize", "invalid_utf8.bin", b"ok \xff\xfe \xc3 \xe2\x82 \xf0\x9f\x98 \xed\xa0\x80 <0x41> end")


def ckpt_seeds():
    with open(os.path.join(ROOT, "tests/fixtures/tokenizer/spm_bpe.gguf"), "rb") as f:
        write("fuzz_ckpt", "spm_bpe.gguf.bin", b"\0" + f.read())
    write("fuzz_ckpt", "small.gguf.bin", b"\0" + small_gguf())
    dense = [("w.f32", "F32", (4, 8)), ("w.f16", "F16", (8,)), ("w.bf16", "BF16", (2, 2)), ("w.i32", "I32", (3,)),
             ("w.u8", "U8", (5,)), ("empty", "F32", (0, 4)), ("scalar", "F32", ())]
    write("fuzz_ckpt", "small.safetensors.bin", b"\1" + safetensors(dense, {"format": "pt"}))


def small_gguf():
    import gguf
    path = os.path.join(CORPUS, ".small.gguf")
    w = gguf.GGUFWriter(path, "llama")
    w.add_block_count(1)
    w.add_embedding_length(32)
    w.add_string("general.name", "seed")
    w.add_array("tokenizer.ggml.tokens", ["a", "b", "<s>"])
    w.add_float32("llama.attention.layer_norm_rms_epsilon", 1e-5)
    w.add_tensor("f32", RNG.standard_normal((2, 32)).astype(np.float32))
    w.add_tensor("f16", RNG.standard_normal((32,)).astype(np.float16))
    for qtype in (gguf.GGMLQuantizationType.Q8_0, gguf.GGMLQuantizationType.Q4_0, gguf.GGMLQuantizationType.Q4_1):
        data = gguf.quants.quantize(RNG.standard_normal((2, 32)).astype(np.float32), qtype)
        w.add_tensor(qtype.name.lower(), data, raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    with open(path, "rb") as f:
        data = f.read()
    os.unlink(path)
    return data


if __name__ == "__main__":
    hf_seeds()
    tokenizer_seeds()
    tokenize_seeds()
    ckpt_seeds()
    sys.exit(0)
