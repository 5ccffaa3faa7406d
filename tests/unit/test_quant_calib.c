// test_quant_calib.c: calibration statistics. On a tiny LLaMA-shaped graph
// (heads == kv_heads, so v -> o is a group too) the per-channel mean |x| of
// every group's input matches sums taken by hand with an interpreter observer,
// windows are counted as documented and too little text is a clear error. On
// the real default model: 90 groups with finite, positive means; prints how
// salient the most active channels are.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "quantizer/calib.h"
#include "runtime/interp.h"
#include "test_real_model.h"
#include "test_support.h"
#include "test_tiny_graph.h"

enum { DIM = 16, HEADS = 2, HD = 8, FFN = 24, VOCAB = 30, LAYERS = 2, SEQ = 8 };

// ----------------------------------------------------------------------------
// a tiny LLaMA, remembering which node each group should read

typedef TinyLayerNodes LayerInputs;

static Graph *tiny_llama_recorded(LayerInputs li[LAYERS]) {
    TinyLlamaSpec spec = {.dim = DIM, .heads = HEADS, .head_dim = HD, .ffn = FFN, .vocab = VOCAB, .layers = LAYERS,
                          .seed = 11};
    return tiny_llama_build(&spec, NULL, li);
}

// ----------------------------------------------------------------------------
// sums by hand: every node's per-channel sum of |x|

typedef struct {
    double **sum; // per node
} HandSums;

static void sum_by_hand(const Graph *g, int node, const float *value, int T, int64_t width, void *user) {
    HandSums *h = user;
    if (!h->sum[node]) h->sum[node] = xcalloc((size_t)width, sizeof(double));
    for (int t = 0; t < T; t++)
        for (int64_t c = 0; c < width; c++) h->sum[node][c] += fabs((double)value[t * width + c]);
}

static HandSums run_by_hand(const Graph *g, const int32_t *ids, int windows) {
    HandSums h = {xcalloc(g->n_nodes, sizeof(double *))};
    AwqcError err;
    Interp *in = interp_new(g, SEQ, 1, &err);
    AWQC_ASSERT(in);
    interp_set_observer(in, sum_by_hand, &h);
    for (int w = 0; w < windows; w++) {
        interp_reset(in);
        AWQC_ASSERT(interp_forward(in, ids + w * SEQ, SEQ, true, &err));
    }
    interp_free(in);
    return h;
}

static void free_hand(const Graph *g, HandSums *h) {
    for (size_t i = 0; i < g->n_nodes; i++) free(h->sum[i]);
    free(h->sum);
}

// ----------------------------------------------------------------------------
// synthetic checks

// The node group sg should read, from what the builder recorded.
static int expected_input(const Graph *g, const ScaleGroup *sg, const LayerInputs li[LAYERS]) {
    for (int l = 0; l < LAYERS; l++) {
        if (sg->prev == li[l].attn_norm || sg->prev == li[l].ffn_norm) return sg->prev;
        if (g->nodes[sg->linears[0]].in[0].index == li[l].attn && sg->kind == SG_PREV_LINEAR) return li[l].attn;
        if (g->nodes[sg->linears[0]].in[0].index == li[l].prod && sg->kind == SG_PREV_LINEAR) return li[l].prod;
    }
    return -1;
}

static void check_against_hand(const Graph *g, const CalibStats *s, const HandSums *h, const LayerInputs li[LAYERS],
                               size_t tokens) {
    CHECK_MSG(s->n_groups == 4 * LAYERS, "%zu groups", s->n_groups);
    CHECK(s->tokens == tokens);
    double worst = 0;
    for (size_t i = 0; i < s->n_groups; i++) {
        int x = calib_group_input(g, &s->groups[i]);
        CHECK_MSG(x == expected_input(g, &s->groups[i], li), "group %zu reads %%%d", i, x);
        bool mlp_inner = false;
        for (int l = 0; l < LAYERS; l++) mlp_inner = mlp_inner || x == li[l].prod;
        CHECK(s->groups[i].channels == (mlp_inner ? FFN : DIM));
        for (int64_t c = 0; c < s->groups[i].channels && h->sum[x]; c++) {
            double want = h->sum[x][c] / (double)tokens;
            worst = fmax(worst, fabs(s->abs_mean[i][c] - want) / want);
        }
    }
    CHECK_MSG(worst < 1e-12, "abs_mean differs from the hand sums by %g (relative)", worst);
}

static void test_synthetic(void) {
    LayerInputs li[LAYERS];
    Graph *g = tiny_llama_recorded(li);
    int32_t ids[3 * SEQ + 5];
    for (size_t i = 0; i < sizeof ids / sizeof *ids; i++) ids[i] = (int32_t)((i * 7 + 3) % VOCAB);
    AwqcError err;
    CalibStats s;
    // All complete windows: 3 of 8 (the 5-token tail is dropped).
    CHECK_MSG(calib_collect_ids(g, ids, 3 * SEQ + 5, SEQ, 0, 2, &s, &err), "%s", err.msg);
    HandSums h = run_by_hand(g, ids, 3);
    check_against_hand(g, &s, &h, li, 3 * SEQ);
    calib_stats_free(&s);
    free_hand(g, &h);
    // At most 2 windows.
    CHECK_MSG(calib_collect_ids(g, ids, 3 * SEQ + 5, SEQ, 2, 1, &s, &err), "%s", err.msg);
    h = run_by_hand(g, ids, 2);
    check_against_hand(g, &s, &h, li, 2 * SEQ);
    calib_stats_free(&s);
    free_hand(g, &h);
    // Too little text.
    CHECK(!calib_collect_ids(g, ids, SEQ - 1, SEQ, 1, 1, &s, &err));
    CHECK_MSG(strstr(err.msg, "calibration text has 7 tokens, fewer than one window of 8"), "%s", err.msg);
    CHECK(s.abs_mean == NULL && s.groups == NULL);
    ir_graph_free(g);
}

// ----------------------------------------------------------------------------
// the real model

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// max / median of a group's abs_mean: how far the most salient channel stands out.
static double salience(const double *v, int64_t n, int64_t *argmax) {
    double *sorted = xmalloc(sizeof(double) * (size_t)n);
    memcpy(sorted, v, sizeof(double) * (size_t)n);
    qsort(sorted, (size_t)n, sizeof(double), compare_doubles);
    *argmax = 0;
    for (int64_t c = 1; c < n; c++) *argmax = v[c] > v[*argmax] ? c : *argmax;
    double r = sorted[n - 1] / sorted[n / 2];
    free(sorted);
    return r;
}

static void print_layer0(const Model *m, const CalibStats *s) {
    for (size_t i = 0; i < s->n_groups; i++) {
        const ScaleGroup *sg = &s->groups[i];
        const char *block = sg->block >= 0 ? m->graph->blocks[sg->block] : "graph";
        if (strncmp(block, "layer.0.", 8) != 0) continue;
        int64_t top;
        double r = salience(s->abs_mean[i], sg->channels, &top);
        printf("  %-14s %s -> %d linear(s), %lld ch: max/median |x| = %.1f (channel %lld)\n", block,
               ir_op_name(m->graph->nodes[sg->prev].op), sg->n_linears, (long long)sg->channels, r, (long long)top);
    }
}

static void check_real_stats(const Model *m, const CalibStats *s) {
    CHECK_MSG(s->n_groups == 90, "%zu groups", s->n_groups);
    CHECK_MSG(s->tokens == 256, "%zu tokens", s->tokens);
    size_t bad = 0;
    double worst_ratio = 0;
    for (size_t i = 0; i < s->n_groups; i++) {
        for (int64_t c = 0; c < s->groups[i].channels; c++)
            bad += !(isfinite(s->abs_mean[i][c]) && s->abs_mean[i][c] > 0);
        int64_t top;
        worst_ratio = fmax(worst_ratio, salience(s->abs_mean[i], s->groups[i].channels, &top));
    }
    CHECK_MSG(bad == 0, "%zu channel means are zero or not finite", bad);
    printf("calibration: %zu groups, %zu tokens\n", s->n_groups, s->tokens);
    print_layer0(m, s);
    printf("  largest max/median over all groups: %.1f\n", worst_ratio);
}

static void test_real_model(void) {
    size_t len;
    char *text = test_read_wikitext("valid.txt", &len);
    Model *m = test_load_default_model();
    // 256 tokens lie well inside the first 16 KiB; tokenizing the whole file
    // would only slow the test down (ASan).
    size_t prefix = len < 16384 ? len : 16384;
    CalibStats s;
    AwqcError err;
    double t0 = awqc_now();
    if (calib_collect(m, text, prefix, 128, 2, 0, false, &s, &err)) {
        printf("calib_collect: %.2f s\n", awqc_now() - t0);
        check_real_stats(m, &s);
        calib_stats_free(&s);
    } else {
        CHECK_MSG(false, "%s", err.msg);
    }
    model_free(m);
    free(text);
}

int main(void) {
    test_synthetic();
    test_real_model();
    return test_result();
}
