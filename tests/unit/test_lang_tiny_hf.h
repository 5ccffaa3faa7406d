// test_lang_tiny_hf.h: writes a tiny Hugging Face LLaMA folder (config.json
// plus a model.safetensors of deterministic f32 weights under HF names) for
// the test_lang_* tests, so they run without the cached model. Header-only:
// each test is its own executable.
#ifndef TEST_LANG_TINY_HF_H
#define TEST_LANG_TINY_HF_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/util.h"
#include "test_support.h"

#define TINY_DIM 64
#define TINY_LAYERS 2
#define TINY_HEADS 4
#define TINY_KV 2
#define TINY_FF 128
#define TINY_VOCAB 100
#define TINY_HEAD_DIM (TINY_DIM / TINY_HEADS)

typedef struct {
    char name[96];
    int rank;
    int64_t shape[2];
} TinyTensor;

// ----------------------------------------------------------------------------
// the tensors

static size_t tiny_add(TinyTensor *t, size_t n, const char *name, int64_t rows, int64_t cols) {
    snprintf(t[n].name, sizeof t[n].name, "%s", name);
    t[n].rank = cols ? 2 : 1;
    t[n].shape[0] = rows;
    t[n].shape[1] = cols;
    return n + 1;
}

static size_t tiny_layer(TinyTensor *t, size_t n, int i, int64_t kv_dim) {
    const struct {
        const char *suffix;
        int64_t rows, cols;
    } parts[] = {
        {"input_layernorm.weight", TINY_DIM, 0},          {"self_attn.q_proj.weight", TINY_DIM, TINY_DIM},
        {"self_attn.k_proj.weight", kv_dim, TINY_DIM}, {"self_attn.v_proj.weight", kv_dim, TINY_DIM},
        {"self_attn.o_proj.weight", TINY_DIM, TINY_DIM},  {"post_attention_layernorm.weight", TINY_DIM, 0},
        {"mlp.gate_proj.weight", TINY_FF, TINY_DIM},      {"mlp.up_proj.weight", TINY_FF, TINY_DIM},
        {"mlp.down_proj.weight", TINY_DIM, TINY_FF},
    };
    for (size_t p = 0; p < sizeof parts / sizeof parts[0]; p++) {
        char name[96];
        snprintf(name, sizeof name, "model.layers.%d.%s", i, parts[p].suffix);
        n = tiny_add(t, n, name, parts[p].rows, parts[p].cols);
    }
    return n;
}

// kv_heads: TINY_KV, or TINY_HEADS for plain multi-head attention.
static size_t tiny_tensors(TinyTensor *t, bool with_lm_head, int kv_heads) {
    size_t n = tiny_add(t, 0, "model.embed_tokens.weight", TINY_VOCAB, TINY_DIM);
    for (int i = 0; i < TINY_LAYERS; i++) n = tiny_layer(t, n, i, (int64_t)kv_heads * TINY_HEAD_DIM);
    n = tiny_add(t, n, "model.norm.weight", TINY_DIM, 0);
    if (with_lm_head) n = tiny_add(t, n, "lm_head.weight", TINY_VOCAB, TINY_DIM);
    return n;
}

static int64_t tiny_elements(const TinyTensor *t) {
    return t->rank == 2 ? t->shape[0] * t->shape[1] : t->shape[0];
}

// The value of element k of the tensor with index n: distinct per tensor.
static float tiny_value(size_t n, int64_t k) {
    return (float)((int64_t)(n * 7919 + (size_t)k * 31) % 2001 - 1000) / 1000.0f;
}

// ----------------------------------------------------------------------------
// the files

static char *tiny_header(const TinyTensor *t, size_t n) {
    char *json = xstrdup("{");
    uint64_t offset = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t bytes = (uint64_t)tiny_elements(&t[i]) * 4;
        char shape[64];
        if (t[i].rank == 2) snprintf(shape, sizeof shape, "%lld, %lld", (long long)t[i].shape[0], (long long)t[i].shape[1]);
        else snprintf(shape, sizeof shape, "%lld", (long long)t[i].shape[0]);
        char *next = awqc_asprintf("%s%s\"%s\": {\"dtype\": \"F32\", \"shape\": [%s], \"data_offsets\": [%llu, %llu]}", json,
                                   i ? ", " : "", t[i].name, shape, (unsigned long long)offset,
                                   (unsigned long long)(offset + bytes));
        free(json);
        json = next;
        offset += bytes;
    }
    char *done = awqc_asprintf("%s}", json);
    free(json);
    return done;
}

static void tiny_write_safetensors(const char *path, const TinyTensor *t, size_t n) {
    char *header = tiny_header(t, n);
    uint64_t hlen = strlen(header);
    size_t total = 8 + hlen;
    for (size_t i = 0; i < n; i++) total += (size_t)tiny_elements(&t[i]) * 4;
    unsigned char *bytes = xmalloc(total);
    for (int b = 0; b < 8; b++) bytes[b] = (unsigned char)(hlen >> (8 * b)); // little-endian length
    memcpy(bytes + 8, header, hlen);
    float *data = (float *)(bytes + 8 + hlen);
    for (size_t i = 0; i < n; i++)
        for (int64_t k = 0; k < tiny_elements(&t[i]); k++) {
            float v = tiny_value(i, k);
            memcpy(data++, &v, sizeof v); // the header length makes data unaligned
        }
    test_write_file(path, bytes, total);
    free(bytes);
    free(header);
}

// Writes <tmpdir>/<sub>/{config.json, model.safetensors}; returns the folder
// (heap). Without lm_head the embedding is tied; without_kv drops
// num_key_value_heads (so the model's default, n_heads, applies) and gives
// k and v as many heads as q. rope_nested writes RoPE settings the way
// transformers 5 does ("rope_parameters": {"rope_theta": 500000.0}) instead of
// the older top-level "rope_theta": 10000.
static char *tiny_hf_folder(const char *sub, bool with_lm_head, bool without_kv, bool rope_nested) {
    char *dir = awqc_asprintf("%s/%s", test_tmpdir(), sub);
    if (mkdir(dir, 0755) != 0) AWQC_PANIC("cannot create %s", dir);
    char *config = awqc_asprintf(
        "{\"model_type\": \"llama\", \"hidden_size\": %d, \"num_hidden_layers\": %d, \"num_attention_heads\": %d,%s"
        " \"intermediate_size\": %d, \"vocab_size\": %d, \"rms_norm_eps\": 1e-06, %s,"
        " \"max_position_embeddings\": 256, \"tie_word_embeddings\": %s}",
        TINY_DIM, TINY_LAYERS, TINY_HEADS, without_kv ? "" : " \"num_key_value_heads\": 2,", TINY_FF, TINY_VOCAB,
        rope_nested ? "\"rope_parameters\": {\"rope_theta\": 500000.0, \"rope_type\": \"default\"}"
                    : "\"rope_theta\": 10000",
        with_lm_head ? "false" : "true");
    char *path = awqc_asprintf("%s/config.json", dir);
    test_write_file(path, config, strlen(config));
    free(path);
    free(config);
    TinyTensor t[64];
    size_t n = tiny_tensors(t, with_lm_head, without_kv ? TINY_HEADS : TINY_KV);
    path = awqc_asprintf("%s/model.safetensors", dir);
    tiny_write_safetensors(path, t, n);
    free(path);
    return dir;
}

#endif
