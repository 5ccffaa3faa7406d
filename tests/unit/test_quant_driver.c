// test_quant_driver.c: quantizing a whole graph (quantizer/awq_driver.h). On a
// tiny two-layer LLaMA with salient embedding channels: RTN and AWQ quantize
// exactly the 14 block linears (the tied head stays FP), every quantized group
// holds at most 2^bits values, AWQ's logit error beats RTN's at W3 and W4 g32,
// a group dividing nothing skips everything, and bad options are refused.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "quantizer/awq_driver.h"
#include "runtime/interp.h"
#include "test_support.h"
#include "test_tiny_graph.h"

enum { DIM = 64, HEADS = 2, HD = 32, FFN = 128, VOCAB = 48, LAYERS = 2, SEQ = 32, WINDOWS = 4, GROUP = 32 };
enum { N_CALIB = SEQ * WINDOWS, N_EVAL = 64, N_BLOCK_LINEARS = 7 * LAYERS };

// ----------------------------------------------------------------------------
// a tiny LLaMA (heads == kv_heads, tied head), rebuilt identically on demand

// Every 16th embedding column is 20 times larger: outliers in mean |x|.
// Matrices ~ U(-1, 1) / sqrt(cols) (the embedding excepted) keep the residual
// stream from blowing up, so logit errors measure the quantization and not chaos.
static Graph *tiny_llama_salient(void) {
    TinyLlamaSpec spec = {.dim = DIM, .heads = HEADS, .head_dim = HD, .ffn = FFN, .vocab = VOCAB, .layers = LAYERS,
                          .weight_scale = 2.0f, .scale_by_fan_in = true, .salient_first = 5, .salient_stride = 16,
                          .salient_gain = 20.0f, .names = TINY_NAMES_SUFFIX, .seed = 11};
    return tiny_llama(&spec);
}

// ----------------------------------------------------------------------------
// measurements

static float *logits(const Graph *g, const int32_t *ids, int n) {
    AwqcError err;
    size_t count;
    float *out = interp_eval_logits(g, ids, n, 1, &count, &err);
    if (!out) AWQC_PANIC("%s", err.msg);
    return out;
}

static double mse(const float *a, const float *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    return s / (double)n;
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

// The most distinct values any (row, group) of w holds.
static int max_distinct_per_group(const Weight *w) {
    int64_t rows = w->type.dims[0].size, cols = w->type.dims[1].size;
    float buf[GROUP];
    int most = 0;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c0 = 0; c0 < cols; c0 += GROUP) {
            memcpy(buf, w->data + r * cols + c0, sizeof buf);
            qsort(buf, GROUP, sizeof(float), cmp_float);
            int distinct = 1;
            for (int i = 1; i < GROUP; i++) distinct += buf[i] != buf[i - 1];
            most = distinct > most ? distinct : most;
        }
    return most;
}

static bool is_block_linear_name(const char *name) {
    static const char *stems[] = {"q.", "k.", "v.", "o.", "gate.", "up.", "down."};
    for (size_t i = 0; i < sizeof stems / sizeof *stems; i++)
        if (strncmp(name, stems[i], strlen(stems[i])) == 0) return true;
    return false;
}

// ----------------------------------------------------------------------------
// (1) the quantized set, (2) logit error, (3) distinct values per group

static int32_t calib_ids[N_CALIB], eval_ids[N_EVAL];

static void check_quantized(const Graph *fp, const Graph *g, int bits, const char *what) {
    size_t checked = 0;
    for (size_t w = 0; w < g->n_weights; w++) {
        const Weight *wt = &g->weights[w];
        size_t n = (size_t)ir_type_elements(&wt->type);
        bool same = memcmp(wt->data, fp->weights[w].data, sizeof(float) * n) == 0;
        if (!is_block_linear_name(wt->name)) {
            if (strstr(wt->name, "_norm.") == NULL) CHECK_MSG(same, "%s: %s changed", what, wt->name);
            continue;
        }
        int distinct = max_distinct_per_group(wt);
        CHECK_MSG(!same && distinct <= (1 << bits), "%s: %s has a group of %d values (W%d)", what, wt->name,
                  distinct, bits);
        checked++;
    }
    CHECK_MSG(checked == N_BLOCK_LINEARS, "%s: %zu block linears", what, checked);
}

static double quantized_error(const QuantOptions *o, const float *fp_logits, const char *what) {
    Graph *fp = tiny_llama_salient(), *g = tiny_llama_salient();
    QuantReport rep;
    AwqcError err;
    bool ok = awq_quantize_graph(g, calib_ids, N_CALIB, SEQ, WINDOWS, o, &rep, &err);
    CHECK_MSG(ok, "%s: %s", what, err.msg);
    double e = INFINITY;
    if (ok) {
        CHECK_MSG(rep.quantized == N_BLOCK_LINEARS && rep.skipped == 1 && strcmp(rep.skipped_names[0], "embd") == 0,
                  "%s: %zu quantized, %zu skipped", what, rep.quantized, rep.skipped);
        CHECK_MSG(o->method == QM_RTN || rep.n_groups_scaled == 4 * LAYERS, "%s: %zu groups scaled", what,
                  rep.n_groups_scaled);
        check_quantized(fp, g, o->bits, what);
        float *q = logits(g, eval_ids, N_EVAL);
        e = mse(q, fp_logits, (size_t)N_EVAL * VOCAB);
        free(q);
        printf("  %-12s logit mse %.5g  (%.3f s)\n", what, e, rep.seconds);
    }
    quant_report_free(&rep);
    ir_graph_free(fp);
    ir_graph_free(g);
    return e;
}

static void test_rtn_vs_awq(void) {
    for (int t = 0; t < N_CALIB; t++) calib_ids[t] = (int32_t)((uint32_t)(t * 2654435761u) >> 7) % VOCAB;
    for (int t = 0; t < N_EVAL; t++) eval_ids[t] = (int32_t)((uint32_t)(t * 40503u + 977u) >> 3) % VOCAB;
    Graph *fp = tiny_llama_salient();
    float *fp_logits = logits(fp, eval_ids, N_EVAL);
    printf("tiny llama, %d layers, dim %d, ffn %d, group %d, calibration %d x %d tokens:\n", LAYERS, DIM, FFN,
           GROUP, WINDOWS, SEQ);
    for (int bits = 4; bits >= 3; bits--) {
        char name[32];
        snprintf(name, sizeof name, "W%d rtn", bits);
        double rtn = quantized_error(&(QuantOptions){.method = QM_RTN, .bits = bits, .group = GROUP, .duo = false, .clip = false, .threads = 1, .progress = false}, fp_logits, name);
        snprintf(name, sizeof name, "W%d awq", bits);
        double awq = quantized_error(&(QuantOptions){.method = QM_AWQ, .bits = bits, .group = GROUP, .duo = false, .clip = true, .threads = 1, .progress = true}, fp_logits, name);
        snprintf(name, sizeof name, "W%d awq duo", bits);
        quantized_error(&(QuantOptions){.method = QM_AWQ, .bits = bits, .group = GROUP, .duo = true, .clip = true, .threads = 1, .progress = false}, fp_logits, name);
        CHECK_MSG(awq < rtn, "W%d: awq logit mse %g not below rtn %g", bits, awq, rtn);
    }
    free(fp_logits);
    ir_graph_free(fp);
}

// ----------------------------------------------------------------------------
// (4) a group size that divides nothing, (5) errors

static void test_nothing_divides(void) {
    for (int m = QM_RTN; m <= QM_AWQ; m++) {
        Graph *fp = tiny_llama_salient(), *g = tiny_llama_salient();
        QuantReport rep;
        AwqcError err;
        QuantOptions o = {.method = (QuantMethod)m, .bits = 4, .group = 48, .clip = true, .threads = 1};
        CHECK_MSG(awq_quantize_graph(g, calib_ids, N_CALIB, SEQ, WINDOWS, &o, &rep, &err), "%s", err.msg);
        CHECK_MSG(rep.quantized == 0 && rep.skipped == N_BLOCK_LINEARS + 1, "%zu quantized, %zu skipped",
                  rep.quantized, rep.skipped);
        for (size_t i = 0; i < rep.skipped; i++)
            CHECK_MSG(ir_find_weight(g, rep.skipped_names[i]) >= 0, "skipped '%s'", rep.skipped_names[i]);
        for (size_t w = 0; w < g->n_weights; w++)
            CHECK(memcmp(g->weights[w].data, fp->weights[w].data,
                         sizeof(float) * (size_t)ir_type_elements(&g->weights[w].type)) == 0);
        quant_report_free(&rep);
        ir_graph_free(fp);
        ir_graph_free(g);
    }
}

static void expect_error(Graph *g, size_t n_ids, int window_len, const QuantOptions *o, const char *needle) {
    QuantReport rep;
    AwqcError err = {{0}};
    CHECK_MSG(!awq_quantize_graph(g, calib_ids, n_ids, window_len, WINDOWS, o, &rep, &err), "accepted: %s", needle);
    CHECK_MSG(strstr(err.msg, needle) != NULL, "message '%s' lacks '%s'", err.msg, needle);
    CHECK(rep.quantized == 0 && rep.skipped_names == NULL);
}

static void test_errors(void) {
    Graph *g = tiny_llama_salient();
    expect_error(g, N_CALIB, SEQ, &(QuantOptions){.method = QM_RTN, .bits = 9, .group = GROUP, .duo = false, .clip = false, .threads = 1, .progress = false}, "9 bits");
    expect_error(g, N_CALIB, SEQ, &(QuantOptions){.method = QM_AWQ, .bits = 4, .group = 0, .duo = false, .clip = false, .threads = 1, .progress = false}, "group size 0");
    expect_error(g, N_CALIB - 1, SEQ, &(QuantOptions){.method = QM_AWQ, .bits = 4, .group = GROUP, .duo = false, .clip = true, .threads = 1, .progress = false}, "fewer than");
    expect_error(g, N_CALIB, 0, &(QuantOptions){.method = QM_AWQ, .bits = 4, .group = GROUP, .duo = false, .clip = true, .threads = 1, .progress = false}, "window_len");
    int v = ir_find_weight(g, "v.1");
    float *saved = g->weights[v].data;
    g->weights[v].data = NULL;
    expect_error(g, N_CALIB, SEQ, &(QuantOptions){.method = QM_RTN, .bits = 4, .group = GROUP, .duo = false, .clip = false, .threads = 1, .progress = false}, "'v.1' is not bound");
    g->weights[v].data = saved;
    ir_graph_free(g);
}

int main(void) {
    test_rtn_vs_awq();
    test_nothing_divides();
    test_errors();
    return test_result();
}
