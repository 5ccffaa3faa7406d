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
#include "test_tiny_graph.h"

enum { DIM = 32, HEADS = 4, KV_HEADS = 2, HD = 8, FFN = 48, VOCAB = 50, LAYERS = 2 };

// A tiny LLaMA; same seed -> same weights, whatever the RoPE mode.
static Graph *tiny_llama_mode(const char *mode) {
    TinyLlamaSpec spec = {.dim = DIM, .heads = HEADS, .kv_heads = KV_HEADS, .head_dim = HD, .ffn = FFN,
                          .vocab = VOCAB, .layers = LAYERS, .rope = mode, .embd_scale = 2.0f,
                          .weight_scale = 0.5f, .norm_spread = 0.1f, .seed = 7};
    return tiny_llama(&spec);
}

static float max_abs_diff(const float *a, const float *b, size_t n) {
    float m = 0;
    for (size_t i = 0; i < n; i++) m = fmaxf(m, fabsf(a[i] - b[i]));
    return m;
}

static void test_incremental_equals_batch(void) {
    Graph *g = tiny_llama_mode("halves");
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
    Graph *hf = tiny_llama_mode("halves"), *gguf = tiny_llama_mode("pairs");
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
    TinyRng rng = {99};
    Graph *g = ir_graph_new("k");
    int tokens = tiny_input(g);
    int embd = tiny_weight(g, &rng, "embd", VOCAB, KD, 0.0f, 2.0f);
    int nw = tiny_weight(g, &rng, "nw", KD, 0, 1.0f, 0.1f), w = tiny_weight(g, &rng, "w", NR, KD, 0.0f, 1.0f);
    int x = tiny_embedding(g, -1, embd, tokens);
    ir_add_output(g, tiny_linear(g, -1, tiny_rms_norm(g, -1, x, nw), w));
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
    Graph *g = tiny_llama_mode("pairs");
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
    Graph *g = tiny_llama_mode("halves");
    AwqcError err;
    Model model = {.path = "tiny_llama", .graph = g};
    EngineOptions eo = {.n_ctx = 4, .n_threads = 1, .kind = ENGINE_INTERP};
    Engine *in = engine_new(&model, &eo, &err);
    int32_t ids[10] = {3, 9, 27, 31, 14, 15, 9, 26, 5, 35};
    PplResult r;
    PplOptions o = {.ctx = 4, .bos = 1};
    CHECK_MSG(ppl_evaluate(in, ids, 10, &o, &r, &err), "%s", err.msg);
    CHECK(r.windows == 2 && r.scored == 6);
    double by_hand = 0;
    for (int w = 0; w < 2; w++) {
        int32_t win[4] = {1, ids[4 * w + 1], ids[4 * w + 2], ids[4 * w + 3]};
        engine_reset(in);
        const float *logits = engine_forward(in, win, 4, true, &err);
        for (int j = 1; j < 4; j++) by_hand += nll_of(logits + (j - 1) * VOCAB, VOCAB, win[j]);
    }
    CHECK_MSG(fabs(by_hand - r.nll_sum) < 1e-9, "ppl_evaluate %f, by hand %f", r.nll_sum, by_hand);
    CHECK(fabs(ppl_value(&r) - exp(by_hand / 6)) < 1e-9);
    CHECK(ids[0] == 3 && ids[4] == 14); // the caller's ids are left alone
    o.max_windows = 1;
    CHECK(ppl_evaluate(in, ids, 10, &o, &r, &err) && r.windows == 1);
    o.ctx = 11;
    CHECK(!ppl_evaluate(in, ids, 10, &o, &r, &err) && strstr(err.msg, "fewer than one window of 11"));
    engine_free(in);
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
