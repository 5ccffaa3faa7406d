// test_tiny_graph.h: small random graphs for the unit tests, built with the IR
// builder and bound to f32 data: a deterministic RNG, weight and node helpers,
// and a configurable tiny LLaMA (TinyLlamaSpec -> Graph *). Header-only and all
// static inline: each test is its own executable and uses only part of it.
#ifndef TEST_TINY_GRAPH_H
#define TEST_TINY_GRAPH_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "ir/ir.h"

// ----------------------------------------------------------------------------
// random numbers: a 32-bit LCG, so a seed gives the same weights everywhere

typedef struct {
    uint32_t state;
} TinyRng;

// Uniform in [-0.5, 0.5).
static inline float tiny_frand(TinyRng *r) {
    r->state = r->state * 1664525u + 1013904223u;
    return (float)(r->state >> 8) / 16777216.0f - 0.5f;
}

// ----------------------------------------------------------------------------
// weights

// A bound weight filled with base + spread * U(-0.5, 0.5); cols 0 makes it 1-D.
static inline int tiny_weight(Graph *g, TinyRng *r, const char *name, int64_t rows, int64_t cols, float base,
                              float spread) {
    int64_t dims[2] = {rows, cols};
    int w = ir_add_weight(g, name, ir_type_const(DT_F32, cols ? 2 : 1, cols ? dims : &rows), NULL);
    AWQC_ASSERT(w >= 0);
    int64_t n = rows * (cols ? cols : 1);
    g->weights[w].data = xmalloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++) g->weights[w].data[i] = base + spread * tiny_frand(r);
    return w;
}

// ----------------------------------------------------------------------------
// nodes: each helper panics on a builder error, since a test graph that does
// not build is a bug in the test

static inline int tiny_node(Graph *g, OpKind op, int block, const Operand *in, int n_in, Attr *attrs, int n_attrs) {
    AwqcError err;
    int id = ir_add_node(g, op, in, n_in, attrs, n_attrs, block, &err);
    if (id < 0) AWQC_PANIC("%s", err.msg);
    return id;
}

// The graph's token ids, named "tokens".
static inline int tiny_input(Graph *g) {
    Attr name = ir_attr_string("name", "tokens");
    return tiny_node(g, OP_INPUT, -1, NULL, 0, &name, 1);
}

static inline int tiny_embedding(Graph *g, int block, int table, int tokens) {
    return tiny_node(g, OP_EMBEDDING, block, (Operand[]){ir_weight_ref(table), ir_node_ref(tokens)}, 2, NULL, 0);
}

static inline int tiny_unary(Graph *g, OpKind op, int block, int x) {
    return tiny_node(g, op, block, (Operand[]){ir_node_ref(x)}, 1, NULL, 0);
}

static inline int tiny_binary(Graph *g, OpKind op, int block, int a, int b) {
    return tiny_node(g, op, block, (Operand[]){ir_node_ref(a), ir_node_ref(b)}, 2, NULL, 0);
}

// x @ w^T, plus bias when bias >= 0.
static inline int tiny_linear_bias(Graph *g, int block, int x, int w, int bias) {
    Operand in[3] = {ir_node_ref(x), ir_weight_ref(w), ir_weight_ref(bias)};
    return tiny_node(g, OP_LINEAR, block, in, bias >= 0 ? 3 : 2, NULL, 0);
}

static inline int tiny_linear(Graph *g, int block, int x, int w) { return tiny_linear_bias(g, block, x, w, -1); }

static inline int tiny_rms_norm(Graph *g, int block, int x, int w) {
    Attr eps = ir_attr_float("eps", 1e-5);
    return tiny_node(g, OP_RMS_NORM, block, (Operand[]){ir_node_ref(x), ir_weight_ref(w)}, 2, &eps, 1);
}

static inline int tiny_layer_norm(Graph *g, int block, int x, int w, int bias) {
    Attr eps = ir_attr_float("eps", 1e-5);
    Operand in[3] = {ir_node_ref(x), ir_weight_ref(w), ir_weight_ref(bias)};
    return tiny_node(g, OP_LAYER_NORM, block, in, 3, &eps, 1);
}

// mode: "halves" (HF) or "pairs" (GGUF); theta 10000.
static inline int tiny_rope(Graph *g, int block, int x, int heads, int head_dim, const char *mode) {
    Attr a[4] = {ir_attr_int("heads", heads), ir_attr_int("head_dim", head_dim), ir_attr_float("theta", 10000.0),
                 ir_attr_string("mode", mode)};
    return tiny_node(g, OP_ROPE, block, (Operand[]){ir_node_ref(x)}, 1, a, 4);
}

static inline int tiny_attention(Graph *g, int block, int q, int k, int v, int heads, int kv_heads, int head_dim) {
    Attr a[3] = {ir_attr_int("heads", heads), ir_attr_int("kv_heads", kv_heads), ir_attr_int("head_dim", head_dim)};
    return tiny_node(g, OP_ATTENTION, block, (Operand[]){ir_node_ref(q), ir_node_ref(k), ir_node_ref(v)}, 3, a, 3);
}

// ----------------------------------------------------------------------------
// a configurable tiny LLaMA: embedding, `layers` x (attention block, gated MLP
// block), final rms_norm, lm head. Zero fields take the defaults noted.

typedef enum {
    TINY_NAMES_PREFIX, // "l0.q", "l0.attn_norm" (the default)
    TINY_NAMES_SUFFIX, // "q.0", "attn_norm.0"
    TINY_NAMES_BARE,   // "q", "attn_norm": only for one layer
} TinyNames;

typedef struct {
    int dim, heads;
    int kv_heads;      // 0: heads
    int kv_heads_odd;  // > 0: odd layers use this many K/V heads instead
    int head_dim;      // 0: dim / heads
    int ffn, vocab, layers;
    const char *rope;  // NULL: "halves"
    bool untied_head;  // false: the lm head reuses the embedding
    float embd_scale;  // embedding ~ embd_scale * U(-0.5, 0.5); 0: 1
    float weight_scale; // block matrices ~ weight_scale * U(-0.5, 0.5); 0: 1
    bool scale_by_fan_in; // ... divided by sqrt(cols), keeping the residual stream tame
    float norm_spread;  // norm weights ~ 1 + norm_spread * U(-0.5, 0.5), biases 0 + ...; 0: 0.5
    // Every salient_stride-th embedding column from salient_first is scaled by
    // salient_gain: outliers in mean |x|, as AWQ expects of real models.
    int salient_first, salient_stride;
    float salient_gain;
    // Odd layers use layer_norm with a bias for both norms and give v a bias.
    bool odd_layers_biased;
    TinyNames names;
    uint32_t seed; // used when the builder is given no RNG
} TinyLlamaSpec;

// The nodes a layer's scale groups read (filled when the caller asks).
typedef struct {
    int attn_norm, attn, ffn_norm, prod;
} TinyLayerNodes;

static inline const char *tiny_name(const TinyLlamaSpec *s, const char *stem, int layer, char *buf, size_t cap) {
    if (s->names == TINY_NAMES_SUFFIX) snprintf(buf, cap, "%s.%d", stem, layer);
    else if (s->names == TINY_NAMES_BARE) snprintf(buf, cap, "%s", stem);
    else snprintf(buf, cap, "l%d.%s", layer, stem);
    return buf;
}

// A layer matrix named after stem, filled as the spec says.
static inline int tiny_matrix(Graph *g, TinyRng *r, const TinyLlamaSpec *s, const char *stem, int layer,
                              int64_t rows, int64_t cols) {
    char buf[64];
    float scale = s->weight_scale > 0 ? s->weight_scale : 1.0f;
    float spread = s->scale_by_fan_in ? scale / sqrtf((float)cols) : scale;
    return tiny_weight(g, r, tiny_name(s, stem, layer, buf, sizeof buf), rows, cols, 0.0f, spread);
}

// A norm weight (base 1) or a bias (base 0).
static inline int tiny_vector(Graph *g, TinyRng *r, const TinyLlamaSpec *s, const char *stem, int layer, float base) {
    char buf[64];
    float spread = s->norm_spread > 0 ? s->norm_spread : 0.5f;
    return tiny_weight(g, r, tiny_name(s, stem, layer, buf, sizeof buf), s->dim, 0, base, spread);
}

static inline int tiny_layer_kv_heads(const TinyLlamaSpec *s, int layer) {
    if (layer % 2 && s->kv_heads_odd > 0) return s->kv_heads_odd;
    return s->kv_heads > 0 ? s->kv_heads : s->heads;
}

static inline int tiny_head_dim(const TinyLlamaSpec *s) { return s->head_dim > 0 ? s->head_dim : s->dim / s->heads; }

// rms_norm, or in a biased odd layer layer_norm with "<stem>_bias".
static inline int tiny_layer_norm_of(Graph *g, TinyRng *r, const TinyLlamaSpec *s, int block, int x,
                                     const char *stem, int layer) {
    int w = tiny_vector(g, r, s, stem, layer, 1.0f);
    if (!(s->odd_layers_biased && layer % 2)) return tiny_rms_norm(g, block, x, w);
    char bias[32];
    snprintf(bias, sizeof bias, "%s_bias", stem);
    return tiny_layer_norm(g, block, x, w, tiny_vector(g, r, s, bias, layer, 0.0f));
}

static inline int tiny_attention_block(Graph *g, TinyRng *r, const TinyLlamaSpec *s, int layer, int x,
                                       TinyLayerNodes *out) {
    char name[32];
    snprintf(name, sizeof name, "layer.%d.attn", layer);
    int b = ir_block(g, name), hd = tiny_head_dim(s), kvh = tiny_layer_kv_heads(s, layer);
    const char *mode = s->rope ? s->rope : "halves";
    int h = out->attn_norm = tiny_layer_norm_of(g, r, s, b, x, "attn_norm", layer);
    int q = tiny_rope(g, b, tiny_linear(g, b, h, tiny_matrix(g, r, s, "q", layer, s->heads * hd, s->dim)), s->heads,
                      hd, mode);
    int k = tiny_rope(g, b, tiny_linear(g, b, h, tiny_matrix(g, r, s, "k", layer, kvh * hd, s->dim)), kvh, hd, mode);
    int v_bias = s->odd_layers_biased && layer % 2 ? tiny_vector(g, r, s, "v_bias", layer, 0.0f) : -1;
    int v = tiny_linear_bias(g, b, h, tiny_matrix(g, r, s, "v", layer, kvh * hd, s->dim), v_bias);
    int a = out->attn = tiny_attention(g, b, q, k, v, s->heads, kvh, hd);
    int o = tiny_linear(g, b, a, tiny_matrix(g, r, s, "o", layer, s->dim, s->heads * hd));
    return tiny_binary(g, OP_ADD, b, x, o);
}

static inline int tiny_mlp_block(Graph *g, TinyRng *r, const TinyLlamaSpec *s, int layer, int x,
                                 TinyLayerNodes *out) {
    char name[32];
    snprintf(name, sizeof name, "layer.%d.mlp", layer);
    int b = ir_block(g, name);
    int h = out->ffn_norm = tiny_layer_norm_of(g, r, s, b, x, "ffn_norm", layer);
    int gate = tiny_linear(g, b, h, tiny_matrix(g, r, s, "gate", layer, s->ffn, s->dim));
    int up = tiny_linear(g, b, h, tiny_matrix(g, r, s, "up", layer, s->ffn, s->dim));
    int prod = out->prod = tiny_binary(g, OP_MUL, b, tiny_unary(g, OP_SILU, b, gate), up);
    int down = tiny_linear(g, b, prod, tiny_matrix(g, r, s, "down", layer, s->dim, s->ffn));
    return tiny_binary(g, OP_ADD, b, x, down);
}

// The embedding, weight 0 (tests unbind it by index).
static inline int tiny_embedding_table(Graph *g, TinyRng *r, const TinyLlamaSpec *s) {
    float scale = s->embd_scale > 0 ? s->embd_scale : 1.0f;
    int embd = tiny_weight(g, r, "embd", s->vocab, s->dim, 0.0f, scale);
    for (int row = 0; s->salient_stride > 0 && row < s->vocab; row++)
        for (int c = s->salient_first; c < s->dim; c += s->salient_stride)
            g->weights[embd].data[row * s->dim + c] *= s->salient_gain;
    return embd;
}

// Builds the model, drawing weights from rng (a fresh one seeded with
// spec->seed when NULL) in a fixed order; nodes, when given, gets one entry
// per layer. Same spec and RNG state -> the same graph, bit for bit.
static inline Graph *tiny_llama_build(const TinyLlamaSpec *s, TinyRng *rng, TinyLayerNodes *nodes) {
    TinyRng own = {s->seed};
    TinyRng *r = rng ? rng : &own;
    AWQC_ASSERT(s->names != TINY_NAMES_BARE || s->layers == 1);
    Graph *g = ir_graph_new("tiny");
    int tokens = tiny_input(g);
    int embd = tiny_embedding_table(g, r, s);
    int x = tiny_embedding(g, -1, embd, tokens);
    for (int l = 0; l < s->layers; l++) {
        TinyLayerNodes scratch, *out = nodes ? &nodes[l] : &scratch;
        x = tiny_mlp_block(g, r, s, l, tiny_attention_block(g, r, s, l, x, out), out);
    }
    TinyLlamaSpec bare = *s; // the final norm and head carry no layer number
    bare.names = TINY_NAMES_BARE;
    int norm = tiny_rms_norm(g, -1, x, tiny_vector(g, r, &bare, "out_norm", 0, 1.0f));
    int head = s->untied_head ? tiny_matrix(g, r, &bare, "lm_head", 0, s->vocab, s->dim) : embd;
    ir_add_output(g, tiny_linear(g, -1, norm, head));
    return g;
}

static inline Graph *tiny_llama(const TinyLlamaSpec *s) { return tiny_llama_build(s, NULL, NULL); }

#endif
