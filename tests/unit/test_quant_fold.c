// test_quant_fold.c: folding AWQ scales (quantizer/fold.h). The acceptance
// test: folding random scales into every scale group of an unquantized model
// leaves the reference interpreter's logits unchanged to 1e-5 (relative), on a
// tiny LLaMA-like graph with all four group kinds (and a layer_norm and biases)
// and on the real default model; each weight is rewritten exactly as the spec
// says; bad groups and scales are refused without touching the graph.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "quantizer/fold.h"
#include "runtime/interp.h"
#include "runtime/model.h"
#include "test_real_model.h"
#include "test_support.h"
#include "test_tiny_graph.h"

enum { DIM = 16, HEADS = 2, HD = 8, FFN = 24, VOCAB = 30, LAYERS = 2, TOKENS = 12, REAL_TOKENS = 16 };

// ----------------------------------------------------------------------------
// random numbers and weights

// Continued by the random scales and the shared graph after the model is built.
static TinyRng rng = {7};
static float frand(void) { return tiny_frand(&rng); }

// log-uniform in [lo, hi]
static float log_uniform(float lo, float hi) {
    return expf(logf(lo) + (frand() + 0.5f) * (logf(hi) - logf(lo)));
}

static int matrix(Graph *g, const char *name, int64_t rows, int64_t cols) {
    return tiny_weight(g, &rng, name, rows, cols, 0.0f, 1.0f);
}

static int vector(Graph *g, const char *name, int64_t n, float base) {
    return tiny_weight(g, &rng, name, n, 0, base, 0.5f);
}

// ----------------------------------------------------------------------------
// graph building

// A tied-embedding LLaMA: its 4 * LAYERS scale groups cover every kind. Odd
// layers use layer_norm with a shift and give v a bias.
static Graph *tiny_llama_biased(void) {
    TinyLlamaSpec spec = {.dim = DIM, .heads = HEADS, .head_dim = HD, .ffn = FFN, .vocab = VOCAB, .layers = LAYERS,
                          .odd_layers_biased = true};
    return tiny_llama_build(&spec, &rng, NULL);
}

// ----------------------------------------------------------------------------
// running and comparing

// All rows of logits for n tokens from an empty cache (heap, caller frees).
static float *logits_of(const Graph *g, const int32_t *ids, int n) {
    AwqcError err;
    size_t count;
    float *out = interp_eval_logits(g, ids, n, 2, &count, &err);
    if (!out) AWQC_PANIC("%s", err.msg);
    return out;
}

static size_t argmax(const float *row, size_t n) {
    size_t best = 0;
    for (size_t i = 1; i < n; i++) best = row[i] > row[best] ? i : best;
    return best;
}

static float *random_scales(int64_t n, float lo, float hi) {
    float *s = xmalloc(sizeof(float) * (size_t)n);
    for (int64_t c = 0; c < n; c++) s[c] = log_uniform(lo, hi);
    return s;
}

// ----------------------------------------------------------------------------
// snapshots of weights, to see exactly what a fold wrote

static float **snapshot(const Graph *g) {
    float **copy = xcalloc(g->n_weights, sizeof *copy);
    for (size_t i = 0; i < g->n_weights; i++) {
        if (!g->weights[i].data) continue;
        size_t n = (size_t)ir_type_elements(&g->weights[i].type);
        copy[i] = xmalloc(sizeof(float) * n);
        memcpy(copy[i], g->weights[i].data, sizeof(float) * n);
    }
    return copy;
}

static void free_snapshot(const Graph *g, float **copy) {
    for (size_t i = 0; i < g->n_weights; i++) free(copy[i]);
    free(copy);
}

// Weights whose data differs bitwise from the snapshot.
static size_t changed_weights(const Graph *g, float **copy) {
    size_t changed = 0;
    for (size_t i = 0; i < g->n_weights; i++)
        if (copy[i])
            changed += memcmp(copy[i], g->weights[i].data,
                              sizeof(float) * (size_t)ir_type_elements(&g->weights[i].type)) != 0;
    return changed;
}

static const Weight *operand_weight(const Graph *g, int node, int i) {
    const Node *n = &g->nodes[node];
    return i < n->n_in && n->in[i].kind == OPND_WEIGHT ? &g->weights[n->in[i].index] : NULL;
}

static const float *old_data(const Graph *g, float **copy, const Weight *w) { return copy[w - g->weights]; }

// Rows: the last `channels` rows of prev's weight (one element per row for a
// norm) and its bias are the old ones divided by s, the other rows unchanged.
static size_t wrong_divisions(const Graph *g, float **copy, const ScaleGroup *sg, const float *s) {
    size_t wrong = 0;
    for (int op = 1; op <= 2; op++) {
        const Weight *w = operand_weight(g, sg->prev, op);
        if (!w) continue;
        bool matrix = op == 1 && sg->kind == SG_PREV_LINEAR;
        int64_t rows = w->type.dims[0].size, width = matrix ? w->type.dims[1].size : 1;
        for (int64_t r = 0; r < rows; r++)
            for (int64_t k = 0; k < width; k++) {
                int64_t c = r - (rows - sg->channels);
                float old = old_data(g, copy, w)[r * width + k];
                wrong += w->data[r * width + k] != (c >= 0 ? old / s[c] : old);
            }
    }
    return wrong;
}

static size_t wrong_multiplications(const Graph *g, float **copy, const ScaleGroup *sg, const float *s) {
    size_t wrong = 0;
    for (int i = 0; i < sg->n_linears; i++) {
        const Weight *w = operand_weight(g, sg->linears[i], 1);
        int64_t rows = w->type.dims[0].size, cols = w->type.dims[1].size;
        for (int64_t r = 0; r < rows; r++)
            for (int64_t c = 0; c < cols; c++)
                wrong += w->data[r * cols + c] != old_data(g, copy, w)[r * cols + c] * s[c];
    }
    return wrong;
}

// ----------------------------------------------------------------------------
// (a) the tiny LLaMA

static void fold_checked(Graph *g, const ScaleGroup *sg, const float *s) {
    float **before = snapshot(g);
    AwqcError err;
    CHECK_MSG(awq_fold_scales(g, sg, s, &err), "%s", err.msg);
    size_t expect_changed = 1 + (size_t)sg->n_linears + (operand_weight(g, sg->prev, 2) != NULL);
    CHECK_MSG(changed_weights(g, before) == expect_changed, "group at %%%d changed %zu weights, expected %zu",
              sg->prev, changed_weights(g, before), expect_changed);
    CHECK_MSG(wrong_divisions(g, before, sg, s) == 0, "group at %%%d: prev's rows not divided exactly", sg->prev);
    CHECK_MSG(wrong_multiplications(g, before, sg, s) == 0, "group at %%%d: columns not multiplied exactly",
              sg->prev);
    free_snapshot(g, before);
}

// A fold that forgets the division must show in the logits: the comparison
// below can fail.
static void check_sensitivity(Graph *g, const ScaleGroup *sg, const int32_t *ids, const float *reference) {
    float *w = operand_weight(g, sg->linears[0], 1)->data;
    float saved = w[0];
    w[0] *= 2.0f;
    float *wrong = logits_of(g, ids, TOKENS);
    double rel = interp_relative_diff(reference, wrong, (size_t)TOKENS * VOCAB);
    CHECK_MSG(rel > 1e-3, "an unbalanced column change moved the logits by only %g", rel);
    w[0] = saved;
    free(wrong);
}

static void test_tiny(void) {
    Graph *g = tiny_llama_biased();
    ScaleGroup *groups;
    size_t n = ir_find_scale_groups(g, &groups);
    CHECK_MSG(n == 4 * LAYERS, "%zu scale groups", n);
    int kinds[2] = {0, 0};
    for (size_t i = 0; i < n; i++) kinds[groups[i].kind]++;
    CHECK(kinds[SG_PREV_NORM] == 2 * LAYERS && kinds[SG_PREV_LINEAR] == 2 * LAYERS);
    int32_t ids[TOKENS];
    for (int t = 0; t < TOKENS; t++) ids[t] = (int32_t)((t * 11 + 5) % VOCAB);
    float *before = logits_of(g, ids, TOKENS);
    check_sensitivity(g, &groups[0], ids, before);
    for (size_t i = 0; i < n; i++) {
        float *s = random_scales(groups[i].channels, 0.25f, 4.0f);
        fold_checked(g, &groups[i], s);
        free(s);
    }
    float *after = logits_of(g, ids, TOKENS);
    double rel = interp_relative_diff(before, after, (size_t)TOKENS * VOCAB);
    printf("tiny llama: %zu groups folded, scales in [0.25, 4]: relative max logit change %.3g\n", n, rel);
    CHECK_MSG(rel <= 1e-5, "relative logit change %g", rel);
    free(before);
    free(after);
    free(groups);
    ir_graph_free(g);
}

// ----------------------------------------------------------------------------
// (b) the real model

static void compare_real(const float *before, const float *after, int64_t vocab) {
    double rel = interp_relative_diff(before, after, (size_t)REAL_TOKENS * (size_t)vocab);
    printf("real model: relative max logit change %.3g over %d tokens\n", rel, REAL_TOKENS);
    CHECK_MSG(rel <= 1e-5, "relative logit change %g", rel);
    int moved = 0;
    for (int t = 0; t < REAL_TOKENS; t++)
        moved += argmax(before + t * vocab, (size_t)vocab) != argmax(after + t * vocab, (size_t)vocab);
    CHECK_MSG(moved == 0, "argmax changed at %d of %d positions", moved, REAL_TOKENS);
}

static void fold_all_real(Graph *g) {
    ScaleGroup *groups;
    size_t n = ir_find_scale_groups(g, &groups);
    CHECK_MSG(n == 90, "%zu scale groups", n);
    AwqcError err;
    for (size_t i = 0; i < n; i++) {
        float *s = random_scales(groups[i].channels, 0.5f, 2.0f);
        CHECK_MSG(awq_fold_scales(g, &groups[i], s, &err), "group %zu: %s", i, err.msg);
        free(s);
    }
    free(groups);
}

static void test_real_model(void) {
    Model *m = test_load_default_model();
    const char *prompt = "The quick brown fox jumps over the lazy dog, and then it runs far away into the forest.";
    int32_t *ids;
    size_t n = tok_encode(m->tok, prompt, strlen(prompt), false, false, &ids);
    CHECK_MSG(n >= REAL_TOKENS, "prompt has %zu tokens", n);
    if (n >= REAL_TOKENS) {
        float *before = logits_of(m->graph, ids, REAL_TOKENS);
        fold_all_real(m->graph);
        float *after = logits_of(m->graph, ids, REAL_TOKENS);
        const Type *out = &m->graph->nodes[m->graph->outputs[0]].type;
        compare_real(before, after, out->dims[out->rank - 1].size);
        free(before);
        free(after);
    }
    free(ids);
    model_free(m);
}

// ----------------------------------------------------------------------------
// (c) refusals: a norm weight read by two norms (n1, n2), a matrix read by two
// linears (d, f); n3 -> e is a valid group to break in other ways.

typedef struct {
    Graph *g;
    int n1, n3, a, e, f, we;
} Shared;

static Shared shared_graph(void) {
    Shared s = {.g = ir_graph_new("shared")};
    Graph *g = s.g;
    int tokens = tiny_input(g);
    int x = tiny_embedding(g, -1, matrix(g, "embd", VOCAB, DIM), tokens);
    int nw = vector(g, "nw", DIM, 1.0f), wc = matrix(g, "wc", DIM, DIM);
    s.n1 = tiny_rms_norm(g, -1, x, nw);
    s.a = tiny_linear(g, -1, s.n1, matrix(g, "wa", DIM, DIM));
    int d = tiny_linear(g, -1, tiny_rms_norm(g, -1, x, nw), wc);
    s.n3 = tiny_rms_norm(g, -1, x, vector(g, "nw3", DIM, 1.0f));
    s.we = matrix(g, "we", DIM, DIM);
    s.e = tiny_linear(g, -1, s.n3, s.we);
    s.f = tiny_linear(g, -1, s.n3, wc);
    int sum = tiny_binary(g, OP_ADD, -1, s.a, tiny_binary(g, OP_ADD, -1, d, tiny_binary(g, OP_ADD, -1, s.e, s.f)));
    ir_add_output(g, tiny_linear(g, -1, sum, matrix(g, "lm", VOCAB, DIM)));
    return s;
}

static void expect_refusal(Graph *g, ScaleGroup sg, const float *s, const char *want) {
    AwqcError err = {{0}};
    CHECK_MSG(!awq_fold_scales(g, &sg, s, &err), "folding should fail with '%s'", want);
    CHECK_MSG(strstr(err.msg, want) != NULL, "message '%s' lacks '%s'", err.msg, want);
}

static void refuse_bad_scales(Shared *sh, ScaleGroup ok, float *s) {
    const float bad[4] = {0.0f, -1.0f, NAN, INFINITY};
    const char *want[4] = {"scale 3 is 0;", "scale 3 is -1;", "scale 3 is nan;", "scale 3 is inf;"};
    for (int i = 0; i < 4; i++) {
        s[3] = bad[i];
        expect_refusal(sh->g, ok, s, want[i]);
    }
    s[3] = 1.5f;
}

static void test_refusals(void) {
    Shared sh = shared_graph();
    float **before = snapshot(sh.g);
    float s[DIM];
    for (int c = 0; c < DIM; c++) s[c] = 0.5f + 0.1f * (float)c;
    ScaleGroup ok = {SG_PREV_NORM, sh.n3, 1, {sh.e}, sh.e, -1, DIM};
    expect_refusal(sh.g, (ScaleGroup){SG_PREV_NORM, sh.n1, 1, {sh.a}, sh.a, -1, DIM}, s,
                   "weight 'nw' of rms_norm");
    expect_refusal(sh.g, (ScaleGroup){SG_PREV_NORM, sh.n3, 2, {sh.e, sh.f}, sh.f, -1, DIM}, s,
                   "'wc' of linear %" /* then the node */);
    expect_refusal(sh.g, (ScaleGroup){SG_PREV_NORM, sh.n3, 2, {sh.e, sh.f}, sh.f, -1, DIM}, s, "read by 2 operands");
    expect_refusal(sh.g, (ScaleGroup){SG_PREV_NORM, sh.n3, 2, {sh.e, sh.e}, sh.e, -1, DIM}, s, "listed twice");
    expect_refusal(sh.g, (ScaleGroup){SG_PREV_NORM, sh.n3, 1, {sh.e}, sh.e, -1, DIM - 1}, s,
                   "has 16 output channels, the group 15");
    expect_refusal(sh.g, (ScaleGroup){SG_PREV_LINEAR, sh.n3, 1, {sh.e}, sh.e, -1, DIM}, s, "does not fit");
    expect_refusal(sh.g, (ScaleGroup){SG_PREV_NORM, sh.n3, 1, {sh.n1}, sh.e, -1, DIM}, s, "is not a linear node");
    refuse_bad_scales(&sh, ok, s);
    float *data = sh.g->weights[sh.we].data;
    sh.g->weights[sh.we].data = NULL;
    expect_refusal(sh.g, ok, s, "weight 'we' of linear");
    expect_refusal(sh.g, ok, s, "is not bound to f32 data");
    sh.g->weights[sh.we].data = data;
    CHECK_MSG(changed_weights(sh.g, before) == 0, "a refused fold changed %zu weights",
              changed_weights(sh.g, before));
    // The same group, left intact, folds: the refusals above were for their reasons.
    fold_checked(sh.g, &ok, s);
    free_snapshot(sh.g, before);
    ir_graph_free(sh.g);
}

int main(void) {
    test_tiny();
    test_refusals();
    test_real_model();
    return test_result();
}
