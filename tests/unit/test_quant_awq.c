// test_quant_awq.c: the AWQ scale and clip searches (quantizer/awq.h). On a
// tiny LLaMA with a few salient embedding channels, at 4 and 3 bits: the best
// scales never lose to RTN and beat it on the norm groups, the weights come
// back bit for bit, and the chosen clips shrink the partial-dot-product error.
// On the real model's layer 0 (W4 g64): AWQ loss <= RTN loss, with timings.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "quantizer/awq.h"
#include "quantizer/calib.h"
#include "quantizer/quant.h"
#include "runtime/model.h"
#include "test_real_model.h"
#include "test_support.h"
#include "test_tiny_graph.h"

enum { DIM = 64, HEADS = 2, HD = 32, FFN = 128, VOCAB = 40, SEQ = 16, WINDOWS = 2, GROUP = 32 };

// ----------------------------------------------------------------------------
// a tiny LLaMA (heads == kv_heads, so v -> o is a group too)

// Continued by check_clip_errors() after the model is built.
static TinyRng rng = {3};
static float frand(void) { return tiny_frand(&rng); }

// Every 16th embedding column is 20 times larger: outliers in mean |x|.
static Graph *tiny_llama_salient(void) {
    TinyLlamaSpec spec = {.dim = DIM, .heads = HEADS, .head_dim = HD, .ffn = FFN, .vocab = VOCAB, .layers = 1,
                          .salient_first = 5, .salient_stride = 16, .salient_gain = 20.0f,
                          .names = TINY_NAMES_BARE};
    return tiny_llama_build(&spec, &rng, NULL);
}

// ----------------------------------------------------------------------------
// weight snapshots

typedef struct {
    float **copy, **ptr;
} Snapshot;

static Snapshot snapshot(const Graph *g) {
    Snapshot s = {xcalloc(g->n_weights, sizeof(float *)), xcalloc(g->n_weights, sizeof(float *))};
    for (size_t i = 0; i < g->n_weights; i++) {
        size_t n = (size_t)ir_type_elements(&g->weights[i].type);
        s.ptr[i] = g->weights[i].data;
        s.copy[i] = xmalloc(sizeof(float) * n);
        memcpy(s.copy[i], g->weights[i].data, sizeof(float) * n);
    }
    return s;
}

static size_t changed_weights(const Graph *g, const Snapshot *s) {
    size_t changed = 0;
    for (size_t i = 0; i < g->n_weights; i++)
        changed += s->ptr[i] != g->weights[i].data ||
                   memcmp(s->copy[i], g->weights[i].data,
                          sizeof(float) * (size_t)ir_type_elements(&g->weights[i].type)) != 0;
    return changed;
}

static void free_snapshot(const Graph *g, Snapshot *s) {
    for (size_t i = 0; i < g->n_weights; i++) free(s->copy[i]);
    free(s->copy);
    free(s->ptr);
}

// ----------------------------------------------------------------------------
// scale search on the tiny model

static const char *group_name(const Graph *g, const ScaleGroup *sg) {
    return sg->kind == SG_PREV_NORM ? g->weights[g->nodes[sg->prev].in[1].index].name
                                    : g->weights[g->nodes[sg->linears[0]].in[1].index].name;
}

static void check_scales(Graph *g, const CalibStats *st, const AwqActs *acts, int bits, bool duo) {
    for (size_t i = 0; i < st->n_groups; i++) {
        const ScaleGroup *sg = &st->groups[i];
        Snapshot snap = snapshot(g);
        AwqScaleResult r;
        AwqcError err;
        AwqScaleOptions opt = {bits, GROUP, duo, 1};
        CHECK_MSG(awq_search_scales(g, sg, acts, st->abs_mean[i], &opt, &r, &err), "%s", err.msg);
        CHECK_MSG(changed_weights(g, &snap) == 0, "group %zu: %zu weights not restored", i,
                  changed_weights(g, &snap));
        free_snapshot(g, &snap);
        if (!r.scales) continue;
        printf("  W%d%s %-9s rtn %.4g  awq %.4g  ratio %.2f\n", bits, duo ? " duo" : "", group_name(g, sg),
               r.rtn_loss, r.best_loss, r.best_ratio);
        CHECK_MSG(r.rtn_loss > 0 && isfinite(r.best_loss), "group %zu: losses %g, %g", i, r.rtn_loss, r.best_loss);
        if (!duo) CHECK_MSG(r.best_loss <= r.rtn_loss, "group %zu: awq %g > rtn %g", i, r.best_loss, r.rtn_loss);
        if (!duo && sg->kind == SG_PREV_NORM)
            CHECK_MSG(r.best_loss < r.rtn_loss && r.best_ratio > 0, "norm group %zu: awq %g not below rtn %g", i,
                      r.best_loss, r.rtn_loss);
        awq_scale_result_free(&r);
    }
}

// A group size the quantizer refuses, and a missing captured input, fail
// with clear messages and leave the weights alone.
static void check_scale_errors(Graph *g, const CalibStats *st, AwqActs *acts) {
    Snapshot snap = snapshot(g);
    AwqScaleResult r;
    AwqcError err = {{0}};
    AwqScaleOptions bad_group = {4, 48, false, 1};
    CHECK(!awq_search_scales(g, &st->groups[0], acts, st->abs_mean[0], &bad_group, &r, &err));
    CHECK_MSG(strstr(err.msg, "weight 'q': group size 48") != NULL, "message: %s", err.msg);
    int input = calib_group_input(g, &st->groups[0]);
    float *saved = acts->value[input];
    acts->value[input] = NULL;
    AwqScaleOptions ok = {4, GROUP, false, 1};
    CHECK(!awq_search_scales(g, &st->groups[0], acts, st->abs_mean[0], &ok, &r, &err));
    CHECK_MSG(strstr(err.msg, "do not supply") != NULL, "message: %s", err.msg);
    acts->value[input] = saved;
    CHECK(r.scales == NULL && changed_weights(g, &snap) == 0);
    free_snapshot(g, &snap);
}

// ----------------------------------------------------------------------------
// clip search on the tiny model

// Sum over (row, group) of the mean over tokens of the squared partial dot
// product error of fakequant(w, max_val) against w.
static double partial_errors(const float *w, int64_t rows, int64_t cols, const float *x, int64_t n, int bits,
                             const float *max_val) {
    float *q = xmalloc(sizeof(float) * (size_t)(rows * cols));
    memcpy(q, w, sizeof(float) * (size_t)(rows * cols));
    AwqcError err;
    AWQC_ASSERT(quant_fake_inplace(q, rows, cols, bits, GROUP, max_val, &err));
    double total = 0;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c0 = 0; c0 < cols; c0 += GROUP)
            for (int64_t t = 0; t < n; t++) {
                double dot = 0;
                for (int64_t c = c0; c < c0 + GROUP; c++)
                    dot += (double)x[t * cols + c] * (q[r * cols + c] - w[r * cols + c]);
                total += dot * dot / (double)n;
            }
    free(q);
    return total;
}

static size_t clips_above_max(const float *w, int64_t rows, int64_t cols, const float *max_val) {
    size_t bad = 0;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t gi = 0; gi < cols / GROUP; gi++) {
            float org = 0;
            for (int64_t c = gi * GROUP; c < (gi + 1) * GROUP; c++) org = fmaxf(org, fabsf(w[r * cols + c]));
            float mv = max_val[r * (cols / GROUP) + gi];
            bad += !(mv <= org && mv >= 0.55f * org * 0.999f);
        }
    return bad;
}

static void check_clip(const Graph *g, int lin, const AwqActs *acts, int bits) {
    const Weight *wt = &g->weights[g->nodes[lin].in[1].index];
    int64_t rows = wt->type.dims[0].size, cols = wt->type.dims[1].size, n = (int64_t)WINDOWS * SEQ;
    const float *x = acts->value[g->nodes[lin].in[0].index];
    float *max_val = xmalloc(sizeof(float) * (size_t)(rows * (cols / GROUP)));
    AwqcError err;
    CHECK_MSG(awq_search_clip(wt->data, rows, cols, x, n, NULL, bits, GROUP, max_val, &err), "%s", err.msg);
    CHECK_MSG(clips_above_max(wt->data, rows, cols, max_val) == 0, "%s: max_val outside [0.55, 1] org_max",
              wt->name);
    double plain = partial_errors(wt->data, rows, cols, x, n, bits, NULL);
    double clipped = partial_errors(wt->data, rows, cols, x, n, bits, max_val);
    printf("  W%d clip %-5s partial-dot error %.4g -> %.4g\n", bits, wt->name, plain, clipped);
    CHECK_MSG(clipped <= plain, "%s: clipping raised the error %g -> %g", wt->name, plain, clipped);
    free(max_val);
}

static void check_clip_errors(void) {
    float w[2 * GROUP], x[GROUP], mv[2];
    for (int i = 0; i < 2 * GROUP; i++) w[i] = frand();
    for (int i = 0; i < GROUP; i++) x[i] = frand();
    AwqcError err = {{0}};
    CHECK(!awq_search_clip(w, 2, GROUP, x, 0, NULL, 4, GROUP, mv, &err) && strstr(err.msg, "0 input tokens"));
    CHECK(!awq_search_clip(w, 1, 2 * GROUP, x, 1, NULL, 4, 48, mv, &err) && strstr(err.msg, "does not divide"));
}

// ----------------------------------------------------------------------------
// (a) the tiny model

static void test_tiny(void) {
    Graph *g = tiny_llama_salient();
    int32_t ids[WINDOWS * SEQ];
    for (int t = 0; t < WINDOWS * SEQ; t++) ids[t] = (int32_t)((t * 7 + 3) % VOCAB);
    CalibStats st;
    AwqActs acts;
    AwqcError err;
    AWQC_ASSERT(calib_collect_ids(g, ids, WINDOWS * SEQ, SEQ, WINDOWS, 1, &st, &err));
    CHECK_MSG(st.n_groups == 4, "%zu groups", st.n_groups);
    AWQC_ASSERT(awq_acts_capture(g, ids, WINDOWS * SEQ, SEQ, WINDOWS, 1, (int)g->n_nodes - 1, 1, &acts, &err));
    printf("tiny llama, dim %d, ffn %d, group %d:\n", DIM, FFN, GROUP);
    for (int bits = 4; bits >= 3; bits--) check_scales(g, &st, &acts, bits, false);
    check_scales(g, &st, &acts, 4, true);
    check_scale_errors(g, &st, &acts);
    for (size_t i = 0; i < st.n_groups; i++)
        for (int k = 0; k < st.groups[i].n_linears; k++)
            for (int bits = 4; bits >= 3; bits--) check_clip(g, st.groups[i].linears[k], &acts, bits);
    check_clip_errors();
    awq_acts_free(&acts);
    calib_stats_free(&st);
    ir_graph_free(g);
}

// ----------------------------------------------------------------------------
// (b) the real model, layer 0

static void search_layer0(Model *m, const CalibStats *st, const AwqActs *acts) {
    for (size_t i = 0; i < 3; i++) {
        AwqScaleResult r;
        AwqcError err;
        AwqScaleOptions opt = {4, 64, false, 0};
        double t0 = awqc_now();
        bool ok = awq_search_scales(m->graph, &st->groups[i], acts, st->abs_mean[i], &opt, &r, &err);
        CHECK_MSG(ok, "%s", err.msg);
        if (!ok) continue;
        printf("  %-9s rtn %.5g  awq %.5g  ratio %.2f  (%.2f s)\n", group_name(m->graph, &st->groups[i]),
               r.rtn_loss, r.best_loss, r.best_ratio, awqc_now() - t0);
        CHECK_MSG(r.best_loss <= r.rtn_loss, "awq %g > rtn %g", r.best_loss, r.rtn_loss);
        awq_scale_result_free(&r);
    }
}

static void run_real(Model *m, const char *text, size_t len) {
    CalibStats st;
    AwqActs acts;
    AwqcError err;
    double t0 = awqc_now();
    if (!calib_collect(m, text, len, 64, 2, 0, false, &st, &err)) {
        CHECK_MSG(false, "%s", err.msg);
        return;
    }
    int32_t *ids;
    size_t n = tok_encode(m->tok, text, len, false, false, &ids);
    int hi = 0;
    for (size_t i = 0; i < 3; i++) hi = st.groups[i].inspect > hi ? st.groups[i].inspect : hi;
    bool ok = awq_acts_capture(m->graph, ids, n, 64, 2, 1, hi, 0, &acts, &err);
    CHECK_MSG(ok, "%s", err.msg);
    printf("real model layer 0, W4 g64, 2 x 64 tokens (calibration + capture %.2f s):\n", awqc_now() - t0);
    if (ok) search_layer0(m, &st, &acts);
    awq_acts_free(&acts);
    free(ids);
    calib_stats_free(&st);
}

static void test_real_model(void) {
    size_t len;
    char *text = test_read_wikitext("valid.txt", &len);
    Model *m = test_load_default_model();
    run_real(m, text, len < 4096 ? len : 4096);
    model_free(m);
    free(text);
}

int main(void) {
    test_tiny();
    test_real_model();
    return test_result();
}
