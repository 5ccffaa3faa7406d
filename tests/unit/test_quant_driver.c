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

enum { DIM = 64, HEADS = 2, HD = 32, FFN = 128, VOCAB = 48, LAYERS = 2, SEQ = 32, WINDOWS = 4, GROUP = 32 };
enum { N_CALIB = SEQ * WINDOWS, N_EVAL = 64, N_BLOCK_LINEARS = 7 * LAYERS };

// ----------------------------------------------------------------------------
// a tiny LLaMA (heads == kv_heads, tied head), rebuilt identically on demand

static uint32_t rng;
static float frand(void) { // uniform in [-0.5, 0.5)
    rng = rng * 1664525u + 1013904223u;
    return (float)(rng >> 8) / 16777216.0f - 0.5f;
}

static int weight(Graph *g, const char *fmt, int l, int64_t rows, int64_t cols) {
    char name[64];
    snprintf(name, sizeof name, fmt, l);
    int64_t dims[2] = {rows, cols};
    int w = ir_add_weight(g, name, ir_type_const(DT_F32, cols ? 2 : 1, cols ? dims : &rows), NULL);
    AWQC_ASSERT(w >= 0);
    int64_t n = rows * (cols ? cols : 1);
    g->weights[w].data = xmalloc(sizeof(float) * (size_t)n);
    // Matrices ~ U(-1, 1) / sqrt(cols) (the embedding excepted) keep the residual stream from blowing up,
    // so logit errors measure the quantization and not chaos.
    float spread = cols && strcmp(name, "embd") != 0 ? 2.0f / sqrtf((float)cols) : 1.0f;
    for (int64_t i = 0; i < n; i++) g->weights[w].data[i] = cols ? spread * frand() : 1.0f + 0.5f * frand();
    return w;
}

static int node(Graph *g, OpKind op, int block, int n_in, const Operand *in, Attr *attrs, int n_attrs) {
    AwqcError err;
    int id = ir_add_node(g, op, in, n_in, attrs, n_attrs, block, &err);
    if (id < 0) AWQC_PANIC("%s", err.msg);
    return id;
}

static int binary(Graph *g, OpKind op, int block, int a, int b) {
    return node(g, op, block, 2, (Operand[]){ir_node_ref(a), ir_node_ref(b)}, NULL, 0);
}

static int linear(Graph *g, int block, int x, int w) {
    return node(g, OP_LINEAR, block, 2, (Operand[]){ir_node_ref(x), ir_weight_ref(w)}, NULL, 0);
}

static int rms(Graph *g, int block, int x, int w) {
    Attr eps = ir_attr_float("eps", 1e-5);
    return node(g, OP_RMS_NORM, block, 2, (Operand[]){ir_node_ref(x), ir_weight_ref(w)}, &eps, 1);
}

static int rope(Graph *g, int block, int x) {
    Attr a[4] = {ir_attr_int("heads", HEADS), ir_attr_int("head_dim", HD), ir_attr_float("theta", 10000.0),
                 ir_attr_string("mode", "halves")};
    return node(g, OP_ROPE, block, 1, (Operand[]){ir_node_ref(x)}, a, 4);
}

static int attention(Graph *g, int l, int x) {
    char name[32];
    snprintf(name, sizeof name, "layer.%d.attn", l);
    int b = ir_block(g, name);
    int h = rms(g, b, x, weight(g, "attn_norm.%d", l, DIM, 0));
    int q = rope(g, b, linear(g, b, h, weight(g, "q.%d", l, DIM, DIM)));
    int k = rope(g, b, linear(g, b, h, weight(g, "k.%d", l, DIM, DIM)));
    int v = linear(g, b, h, weight(g, "v.%d", l, DIM, DIM));
    Attr aa[3] = {ir_attr_int("heads", HEADS), ir_attr_int("kv_heads", HEADS), ir_attr_int("head_dim", HD)};
    int a = node(g, OP_ATTENTION, b, 3, (Operand[]){ir_node_ref(q), ir_node_ref(k), ir_node_ref(v)}, aa, 3);
    return binary(g, OP_ADD, b, x, linear(g, b, a, weight(g, "o.%d", l, DIM, DIM)));
}

static int mlp(Graph *g, int l, int x) {
    char name[32];
    snprintf(name, sizeof name, "layer.%d.mlp", l);
    int b = ir_block(g, name);
    int h = rms(g, b, x, weight(g, "ffn_norm.%d", l, DIM, 0));
    int gate = linear(g, b, h, weight(g, "gate.%d", l, FFN, DIM));
    int up = linear(g, b, h, weight(g, "up.%d", l, FFN, DIM));
    int act = node(g, OP_SILU, b, 1, (Operand[]){ir_node_ref(gate)}, NULL, 0);
    return binary(g, OP_ADD, b, x, linear(g, b, binary(g, OP_MUL, b, act, up), weight(g, "down.%d", l, DIM, FFN)));
}

// Every 16th embedding column is 20 times larger: outliers in mean |x|.
static Graph *tiny_llama(void) {
    rng = 11;
    Graph *g = ir_graph_new("tiny");
    Attr name = ir_attr_string("name", "tokens");
    int tokens = node(g, OP_INPUT, -1, 0, NULL, &name, 1);
    int embd = weight(g, "embd", 0, VOCAB, DIM);
    for (int r = 0; r < VOCAB; r++)
        for (int c = 5; c < DIM; c += 16) g->weights[embd].data[r * DIM + c] *= 20.0f;
    int x = node(g, OP_EMBEDDING, -1, 2, (Operand[]){ir_weight_ref(embd), ir_node_ref(tokens)}, NULL, 0);
    for (int l = 0; l < LAYERS; l++) x = mlp(g, l, attention(g, l, x));
    ir_add_output(g, linear(g, -1, rms(g, -1, x, weight(g, "out_norm", 0, DIM, 0)), embd));
    return g;
}

// ----------------------------------------------------------------------------
// measurements

static float *logits(const Graph *g, const int32_t *ids, int n) {
    AwqcError err;
    Interp *in = interp_new(g, n, 1, &err);
    AWQC_ASSERT(in != NULL);
    const float *out = interp_forward(in, ids, n, true, &err);
    if (!out) AWQC_PANIC("%s", err.msg);
    float *copy = xmalloc(sizeof(float) * (size_t)n * VOCAB);
    memcpy(copy, out, sizeof(float) * (size_t)n * VOCAB);
    interp_free(in);
    return copy;
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
    Graph *fp = tiny_llama(), *g = tiny_llama();
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
    Graph *fp = tiny_llama();
    float *fp_logits = logits(fp, eval_ids, N_EVAL);
    printf("tiny llama, %d layers, dim %d, ffn %d, group %d, calibration %d x %d tokens:\n", LAYERS, DIM, FFN,
           GROUP, WINDOWS, SEQ);
    for (int bits = 4; bits >= 3; bits--) {
        char name[32];
        snprintf(name, sizeof name, "W%d rtn", bits);
        double rtn = quantized_error(&(QuantOptions){QM_RTN, bits, GROUP, false, false, 1, false}, fp_logits, name);
        snprintf(name, sizeof name, "W%d awq", bits);
        double awq = quantized_error(&(QuantOptions){QM_AWQ, bits, GROUP, false, true, 1, true}, fp_logits, name);
        snprintf(name, sizeof name, "W%d awq duo", bits);
        quantized_error(&(QuantOptions){QM_AWQ, bits, GROUP, true, true, 1, false}, fp_logits, name);
        CHECK_MSG(awq < rtn, "W%d: awq logit mse %g not below rtn %g", bits, awq, rtn);
    }
    free(fp_logits);
    ir_graph_free(fp);
}

// ----------------------------------------------------------------------------
// (4) a group size that divides nothing, (5) errors

static void test_nothing_divides(void) {
    for (int m = QM_RTN; m <= QM_AWQ; m++) {
        Graph *fp = tiny_llama(), *g = tiny_llama();
        QuantReport rep;
        AwqcError err;
        QuantOptions o = {(QuantMethod)m, 4, 48, false, true, 1, false};
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
    Graph *g = tiny_llama();
    expect_error(g, N_CALIB, SEQ, &(QuantOptions){QM_RTN, 9, GROUP, false, false, 1, false}, "9 bits");
    expect_error(g, N_CALIB, SEQ, &(QuantOptions){QM_AWQ, 4, 0, false, false, 1, false}, "group size 0");
    expect_error(g, N_CALIB - 1, SEQ, &(QuantOptions){QM_AWQ, 4, GROUP, false, true, 1, false}, "fewer than");
    expect_error(g, N_CALIB, 0, &(QuantOptions){QM_AWQ, 4, GROUP, false, true, 1, false}, "window_len");
    int v = ir_find_weight(g, "v.1");
    float *saved = g->weights[v].data;
    g->weights[v].data = NULL;
    expect_error(g, N_CALIB, SEQ, &(QuantOptions){QM_RTN, 4, GROUP, false, false, 1, false}, "'v.1' is not bound");
    g->weights[v].data = saved;
    ir_graph_free(g);
}

int main(void) {
    test_rtn_vs_awq();
    test_nothing_divides();
    test_errors();
    return test_result();
}
