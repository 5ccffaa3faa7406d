// test_interp_synthetic.c: the reference interpreter on small random
// LLaMA-shaped graphs built with the IR builder: the KV cache gives the same
// logits one token at a time as all at once; linear and rms_norm match a
// double-precision computation; the two RoPE layouts agree once Q/K rows are
// permuted the way GGUF conversion permutes them; bad token ids and context
// overflow are errors, not crashes; the perplexity protocol's windows.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/interp.h"
#include "runtime/perplexity.h"
#include "test_support.h"

enum { DIM = 32, HEADS = 4, KV_HEADS = 2, HD = 8, FFN = 48, VOCAB = 50, LAYERS = 2 };

static uint32_t rng = 1;
static float frand(void) {
    rng = rng * 1664525u + 1013904223u;
    return ((float)(rng >> 8) / 16777216.0f - 0.5f);
}

static int weight(Graph *g, const char *name, int64_t rows, int64_t cols, float scale) {
    int64_t dims[2] = {rows, cols};
    Type t = ir_type_const(DT_F32, cols ? 2 : 1, cols ? dims : &rows);
    int w = ir_add_weight(g, name, t, NULL);
    AWQC_ASSERT(w >= 0);
    int64_t n = rows * (cols ? cols : 1);
    g->weights[w].data = xmalloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++) g->weights[w].data[i] = cols ? frand() * scale : 1.0f + 0.1f * frand();
    return w;
}

// A per-layer weight name; ir_add_weight copies it, so one buffer will do.
static const char *nm(const char *fmt, int layer) {
    static char buf[64];
    snprintf(buf, sizeof buf, fmt, layer);
    return buf;
}

static int node(Graph *g, OpKind op, int block, int n_in, Operand a, Operand b, Operand c, int n_attrs, Attr *attrs) {
    Operand in[3] = {a, b, c};
    AwqcError err;
    int id = ir_add_node(g, op, in, n_in, attrs, n_attrs, block, &err);
    if (id < 0) AWQC_PANIC("%s", err.msg);
    return id;
}

static int rope(Graph *g, int block, int x, int heads, const char *mode) {
    Attr a[4] = {ir_attr_int("heads", heads), ir_attr_int("head_dim", HD), ir_attr_float("theta", 10000.0),
                 ir_attr_string("mode", mode)};
    return node(g, OP_ROPE, block, 1, ir_node_ref(x), (Operand){0}, (Operand){0}, 4, a);
}

static int linear(Graph *g, int block, int x, int w) {
    return node(g, OP_LINEAR, block, 2, ir_node_ref(x), ir_weight_ref(w), (Operand){0}, 0, NULL);
}

static int rms(Graph *g, int block, int x, int w) {
    Attr eps = ir_attr_float("eps", 1e-5);
    return node(g, OP_RMS_NORM, block, 2, ir_node_ref(x), ir_weight_ref(w), (Operand){0}, 1, &eps);
}

static int attention_block(Graph *g, int layer, int x, const char *mode) {
    char name[64];
    snprintf(name, sizeof name, "layer.%d.attn", layer);
    int b = ir_block(g, name);
    int h = rms(g, b, x, weight(g, nm("l%d.attn_norm", layer), DIM, 0, 1));
    int q = rope(g, b, linear(g, b, h, weight(g, nm("l%d.q", layer), DIM, DIM, 0.5f)), HEADS, mode);
    int k = rope(g, b, linear(g, b, h, weight(g, nm("l%d.k", layer), KV_HEADS * HD, DIM, 0.5f)), KV_HEADS, mode);
    int v = linear(g, b, h, weight(g, nm("l%d.v", layer), KV_HEADS * HD, DIM, 0.5f));
    Attr a[3] = {ir_attr_int("heads", HEADS), ir_attr_int("kv_heads", KV_HEADS), ir_attr_int("head_dim", HD)};
    int att = node(g, OP_ATTENTION, b, 3, ir_node_ref(q), ir_node_ref(k), ir_node_ref(v), 3, a);
    int o = linear(g, b, att, weight(g, nm("l%d.o", layer), DIM, DIM, 0.5f));
    return node(g, OP_ADD, b, 2, ir_node_ref(x), ir_node_ref(o), (Operand){0}, 0, NULL);
}

static int mlp_block(Graph *g, int layer, int x) {
    char name[64];
    snprintf(name, sizeof name, "layer.%d.mlp", layer);
    int b = ir_block(g, name);
    int h = rms(g, b, x, weight(g, nm("l%d.ffn_norm", layer), DIM, 0, 1));
    int gate = linear(g, b, h, weight(g, nm("l%d.gate", layer), FFN, DIM, 0.5f));
    int up = linear(g, b, h, weight(g, nm("l%d.up", layer), FFN, DIM, 0.5f));
    int act = node(g, OP_SILU, b, 1, ir_node_ref(gate), (Operand){0}, (Operand){0}, 0, NULL);
    int prod = node(g, OP_MUL, b, 2, ir_node_ref(act), ir_node_ref(up), (Operand){0}, 0, NULL);
    int down = linear(g, b, prod, weight(g, nm("l%d.down", layer), DIM, FFN, 0.5f));
    return node(g, OP_ADD, b, 2, ir_node_ref(x), ir_node_ref(down), (Operand){0}, 0, NULL);
}

// A tiny LLaMA; same seed -> same weights, whatever the RoPE mode.
static Graph *tiny_llama(const char *mode) {
    rng = 7;
    Graph *g = ir_graph_new("tiny");
    Attr name = ir_attr_string("name", "tokens");
    int tokens = node(g, OP_INPUT, -1, 0, (Operand){0}, (Operand){0}, (Operand){0}, 1, &name);
    int embd = weight(g, "embd", VOCAB, DIM, 2.0f);
    int x = node(g, OP_EMBEDDING, -1, 2, ir_weight_ref(embd), ir_node_ref(tokens), (Operand){0}, 0, NULL);
    for (int l = 0; l < LAYERS; l++) x = mlp_block(g, l, attention_block(g, l, x, mode));
    int out = linear(g, -1, rms(g, -1, x, weight(g, "out_norm", DIM, 0, 1)), embd);
    ir_add_output(g, out);
    return g;
}

static float max_abs_diff(const float *a, const float *b, size_t n) {
    float m = 0;
    for (size_t i = 0; i < n; i++) m = fmaxf(m, fabsf(a[i] - b[i]));
    return m;
}

static void test_incremental_equals_batch(void) {
    Graph *g = tiny_llama("halves");
    AwqcError err;
    Interp *in = interp_new(g, 16, 1, &err);
    CHECK_MSG(in != NULL, "%s", err.msg);
    int32_t ids[6] = {3, 17, 42, 8, 8, 49};
    float *batch = xmalloc(sizeof(float) * 6 * VOCAB);
    memcpy(batch, interp_forward(in, ids, 6, true, &err), sizeof(float) * 6 * VOCAB);
    interp_reset(in);
    float worst = 0;
    for (int t = 0; t < 6; t++) {
        const float *row = interp_forward(in, &ids[t], 1, false, &err);
        worst = fmaxf(worst, max_abs_diff(row, batch + t * VOCAB, VOCAB));
    }
    CHECK_MSG(worst < 1e-4f, "incremental vs batch logits differ by %g", worst);
    CHECK(interp_pos(in) == 6);
    free(batch);
    interp_free(in);
    ir_graph_free(g);
}

// GGUF stores Q/K rows permuted so that adjacent-pair RoPE equals HF's
// half-split RoPE: within each head, row 2i <- i and row 2i+1 <- i + hd/2.
static void permute_rows_for_pairs(Graph *g, const char *name, int heads) {
    Weight *w = &g->weights[ir_find_weight(g, name)];
    float *copy = xmalloc(sizeof(float) * (size_t)heads * HD * DIM);
    memcpy(copy, w->data, sizeof(float) * (size_t)heads * HD * DIM);
    for (int h = 0; h < heads; h++)
        for (int i = 0; i < HD / 2; i++) {
            memcpy(w->data + (h * HD + 2 * i) * DIM, copy + (h * HD + i) * DIM, sizeof(float) * DIM);
            memcpy(w->data + (h * HD + 2 * i + 1) * DIM, copy + (h * HD + i + HD / 2) * DIM, sizeof(float) * DIM);
        }
    free(copy);
}

static void test_rope_modes_agree(void) {
    Graph *hf = tiny_llama("halves"), *gguf = tiny_llama("pairs");
    for (int l = 0; l < LAYERS; l++) {
        char q[16], k[16];
        snprintf(q, sizeof q, "l%d.q", l);
        snprintf(k, sizeof k, "l%d.k", l);
        permute_rows_for_pairs(gguf, q, HEADS);
        permute_rows_for_pairs(gguf, k, KV_HEADS);
    }
    AwqcError err;
    Interp *a = interp_new(hf, 8, 2, &err), *b = interp_new(gguf, 8, 2, &err);
    int32_t ids[5] = {1, 2, 3, 4, 5};
    float *la = xmalloc(sizeof(float) * 5 * VOCAB);
    memcpy(la, interp_forward(a, ids, 5, true, &err), sizeof(float) * 5 * VOCAB);
    const float *lb = interp_forward(b, ids, 5, true, &err);
    float d = max_abs_diff(la, lb, 5 * VOCAB);
    CHECK_MSG(d < 1e-4f, "pairs vs halves RoPE differ by %g", d);
    free(la);
    interp_free(a);
    interp_free(b);
    ir_graph_free(hf);
    ir_graph_free(gguf);
}

// One linear and one rms_norm against the same maths in double, with sizes
// that leave leftovers everywhere in the tiled linear: K = 37 (not a multiple
// of the 8 lanes), N = 7 rows (tiles of 3), T = 11 tokens (tiles of 8).
enum { KD = 37, NR = 7, NT = 11 };

static void test_kernels_against_double(void) {
    rng = 99;
    Graph *g = ir_graph_new("k");
    Attr name = ir_attr_string("name", "tokens");
    int tokens = node(g, OP_INPUT, -1, 0, (Operand){0}, (Operand){0}, (Operand){0}, 1, &name);
    int embd = weight(g, "embd", VOCAB, KD, 2.0f), nw = weight(g, "nw", KD, 0, 1), w = weight(g, "w", NR, KD, 1.0f);
    int x = node(g, OP_EMBEDDING, -1, 2, ir_weight_ref(embd), ir_node_ref(tokens), (Operand){0}, 0, NULL);
    ir_add_output(g, linear(g, -1, rms(g, -1, x, nw), w));
    AwqcError err;
    Interp *in = interp_new(g, NT, 2, &err);
    int32_t ids[NT] = {11, 31, 0, 49, 7, 7, 23, 1, 2, 3, 44};
    const float *y = interp_forward(in, ids, NT, true, &err);
    double worst = 0;
    for (int t = 0; t < NT; t++) {
        const float *e = g->weights[embd].data + ids[t] * KD;
        double ss = 0;
        for (int i = 0; i < KD; i++) ss += (double)e[i] * e[i];
        double inv = 1.0 / sqrt(ss / KD + 1e-5);
        for (int o = 0; o < NR; o++) {
            double acc = 0;
            for (int i = 0; i < KD; i++) acc += e[i] * inv * g->weights[nw].data[i] * g->weights[w].data[o * KD + i];
            worst = fmax(worst, fabs(acc - y[t * NR + o]));
        }
    }
    CHECK_MSG(worst < 1e-5, "linear(rms_norm) differs from double by %g", worst);
    // The tiles and the one-token path must agree bit for bit.
    float *batch = xmalloc(sizeof(float) * NT * NR);
    memcpy(batch, y, sizeof(float) * NT * NR);
    bool identical = true;
    for (int t = 0; t < NT; t++) {
        interp_reset(in);
        const float *row = interp_forward(in, &ids[t], 1, false, &err);
        identical = identical && memcmp(row, batch + t * NR, sizeof(float) * NR) == 0;
    }
    CHECK_MSG(identical, "tiled and one-token linear results differ");
    free(batch);
    interp_free(in);
    ir_graph_free(g);
}

static void test_bad_tokens_and_overflow(void) {
    Graph *g = tiny_llama("pairs");
    AwqcError err;
    Interp *in = interp_new(g, 4, 1, &err);
    int32_t bad[1] = {VOCAB};
    CHECK(interp_forward(in, bad, 1, false, &err) == NULL);
    CHECK_MSG(strstr(err.msg, "outside the vocabulary") != NULL, "%s", err.msg);
    int32_t ids[5] = {1, 2, 3, 4, 5};
    CHECK(interp_forward(in, ids, 5, false, &err) == NULL);
    CHECK_MSG(strstr(err.msg, "do not fit in the context of 4") != NULL, "%s", err.msg);
    CHECK(interp_forward(in, ids, 4, false, &err) != NULL);
    CHECK(interp_forward(in, ids, 1, false, &err) == NULL);
    interp_free(in);
    // Unbound weights are refused up front.
    free(g->weights[0].data);
    g->weights[0].data = NULL;
    CHECK(interp_new(g, 4, 1, &err) == NULL);
    ir_graph_free(g);
}

// The perplexity protocol: two windows of 4 out of 10 tokens (the tail is
// dropped), BOS put first in each, the sum equal to scoring by hand.
static void test_perplexity_windows(void) {
    Graph *g = tiny_llama("halves");
    AwqcError err;
    Interp *in = interp_new(g, 4, 1, &err);
    int32_t ids[10] = {3, 9, 27, 31, 14, 15, 9, 26, 5, 35};
    PplResult r;
    PplOptions o = {.ctx = 4, .bos = 1};
    CHECK_MSG(ppl_evaluate(in, ids, 10, &o, &r, &err), "%s", err.msg);
    CHECK(r.windows == 2 && r.scored == 6);
    double by_hand = 0;
    for (int w = 0; w < 2; w++) {
        int32_t win[4] = {1, ids[4 * w + 1], ids[4 * w + 2], ids[4 * w + 3]};
        interp_reset(in);
        const float *logits = interp_forward(in, win, 4, true, &err);
        for (int j = 1; j < 4; j++) by_hand += nll_of(logits + (j - 1) * VOCAB, VOCAB, win[j]);
    }
    CHECK_MSG(fabs(by_hand - r.nll_sum) < 1e-9, "ppl_evaluate %f, by hand %f", r.nll_sum, by_hand);
    CHECK(fabs(ppl_value(&r) - exp(by_hand / 6)) < 1e-9);
    CHECK(ids[0] == 3 && ids[4] == 14); // the caller's ids are left alone
    o.max_windows = 1;
    CHECK(ppl_evaluate(in, ids, 10, &o, &r, &err) && r.windows == 1);
    o.ctx = 11;
    CHECK(!ppl_evaluate(in, ids, 10, &o, &r, &err) && strstr(err.msg, "fewer than one window of 11"));
    interp_free(in);
    ir_graph_free(g);
}

int main(void) {
    test_perplexity_windows();
    test_incremental_equals_batch();
    test_rope_modes_agree();
    test_kernels_against_double();
    test_bad_tokens_and_overflow();
    return test_result();
}
