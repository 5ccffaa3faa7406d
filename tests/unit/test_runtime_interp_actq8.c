// test_runtime_interp_actq8.c: the reference interpreter's act_q8 (8-bit
// activations, passes/quantize_acts.c) on hand-picked rows: an identity linear
// shows the rounded input itself (a .5 tie goes to even, an all-zero block
// stays zero); linear_add and rms_norm_linear round their linear's input (the
// normalised row for the latter); a bad act_q8 is refused, not run.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ir/edit.h"
#include "runtime/interp.h"
#include "test_support.h"
#include "test_tiny_graph.h"

enum { K = 16, BLOCK = 8, VOCAB = 2 };

// Token 0: block 0 has amax 127, so id = 127 / 127 = 1 and d = 1: the codes
// are the values rounded half to even; block 1 is all zero.
// Token 1: amax 2 (id = 63.5) in block 0; amax 0.5 (id = 254) in block 1.
static const float ROWS[VOCAB][K] = {
    {127.0f, 2.5f, -3.5f, 0.5f, 1.5f, -127.0f, 10.0f, 0.0f, 0, 0, 0, 0, 0, 0, 0, 0},
    {2.0f, 1.0f, -1.0f, 0.3f, 0.0f, 0.0f, 0.0f, 0.0f, 0, 0, 0, 0, 0, 0, 0, -0.5f},
};

// What the rounding must give, written out: x' = d * xq.
static void expected_rows(float out[VOCAB][K]) {
    static const float t0[K] = {127, 2, -4, 0, 2, -127, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    memcpy(out[0], t0, sizeof t0);
    float d0 = 2.0f / 127.0f, d1 = 0.5f / 127.0f;
    // 2 * 63.5 = 127; +-1 * 63.5 = +-63.5 -> +-64 (even); 0.3 * 63.5 = 19.05 -> 19
    static const float q1[BLOCK] = {127, 64, -64, 19, 0, 0, 0, 0};
    for (int i = 0; i < BLOCK; i++) out[1][i] = d0 * q1[i];
    for (int i = BLOCK; i < K; i++) out[1][i] = 0.0f;
    out[1][K - 1] = d1 * -127.0f; // -0.5 * 254 = -127
}

// ----------------------------------------------------------------------------
// graphs: tokens -> embedding (the rows above) -> op -> output

static int table_weight(Graph *g) {
    int64_t dims[2] = {VOCAB, K};
    int w = ir_add_weight(g, "table", ir_type_const(DT_F32, 2, dims), NULL);
    g->weights[w].data = xmalloc(sizeof ROWS);
    memcpy(g->weights[w].data, ROWS, sizeof ROWS);
    return w;
}

static int identity_weight(Graph *g) {
    int64_t dims[2] = {K, K};
    int w = ir_add_weight(g, "eye", ir_type_const(DT_F32, 2, dims), NULL);
    g->weights[w].data = xcalloc(K * K, sizeof(float));
    for (int i = 0; i < K; i++) g->weights[w].data[i * K + i] = 1.0f;
    return w;
}

static void mark(Graph *g, int node, int64_t block) {
    if (block) AWQC_ASSERT(ir_set_node_attr(g, node, ir_attr_int("act_q8", block)));
}

// op: OP_LINEAR (eye), OP_LINEAR_ADD (eye, residual = the embedding), or
// OP_RMS_NORM_LINEAR (norm weights 1, eye).
static Graph *graph_with(OpKind op, int64_t block) {
    Graph *g = ir_graph_new("actq8");
    int table = table_weight(g), eye = identity_weight(g), tokens = tiny_input(g);
    int x = tiny_embedding(g, -1, table, tokens), y;
    if (op == OP_LINEAR) {
        y = tiny_linear(g, -1, x, eye);
    } else if (op == OP_LINEAR_ADD) {
        Operand in[3] = {ir_node_ref(x), ir_weight_ref(eye), ir_node_ref(x)};
        y = tiny_node(g, OP_LINEAR_ADD, -1, in, 3, NULL, 0);
    } else {
        TinyRng r = {1};
        int ones = tiny_weight(g, &r, "norm", K, 0, 1.0f, 0.0f);
        Attr eps = ir_attr_float("eps", 1e-5);
        Operand in[3] = {ir_node_ref(x), ir_weight_ref(ones), ir_weight_ref(eye)};
        y = tiny_node(g, OP_RMS_NORM_LINEAR, -1, in, 3, &eps, 1);
    }
    mark(g, y, block);
    ir_add_output(g, y);
    return g;
}

static float *logits(const Graph *g) {
    static const int32_t ids[VOCAB] = {0, 1};
    AwqcError err = {{0}};
    size_t n = 0;
    float *out = interp_eval_logits(g, ids, VOCAB, 1, &n, &err);
    CHECK_MSG(out != NULL, "%s", err.msg);
    CHECK(out == NULL || n == VOCAB * K);
    return out;
}

// ----------------------------------------------------------------------------
// tests

// The node of op `op` at BLOCK gives the expected rounded rows, plus the
// input rows when it adds its input as the residual.
static void check_rows(OpKind op, bool plus_input) {
    Graph *g = graph_with(op, BLOCK);
    float *y = logits(g), want[VOCAB][K];
    expected_rows(want);
    for (int t = 0; y && t < VOCAB; t++)
        for (int i = 0; i < K; i++) {
            float w = (plus_input ? ROWS[t][i] : 0.0f) + want[t][i];
            CHECK_MSG(y[t * K + i] == w, "token %d, %d: got %.9g, want %.9g", t, i, y[t * K + i], w);
        }
    free(y);
    ir_graph_free(g);
}

static void test_linear(void) { check_rows(OP_LINEAR, false); }

// One block of 16: token 0's amax stays 127, so its values round as before.
static void test_whole_row_block(void) {
    Graph *g = graph_with(OP_LINEAR, K);
    float *y = logits(g);
    CHECK(y && y[1] == 2.0f && y[2] == -4.0f && y[8] == 0.0f);
    // token 1: amax 2 over the whole row, so -0.5 * 63.5 = -31.75 -> -32
    CHECK(y && y[K + K - 1] == 2.0f / 127.0f * -32.0f);
    free(y);
    ir_graph_free(g);
}

static void test_linear_add(void) { check_rows(OP_LINEAR_ADD, true); }

// rms_norm_linear rounds the normalised row: the same as rms_norm then a
// marked linear, and not the unmarked result.
static void test_rms_norm_linear(void) {
    Graph *fused = graph_with(OP_RMS_NORM_LINEAR, BLOCK), *plain = graph_with(OP_RMS_NORM_LINEAR, 0);
    Graph *split = ir_graph_new("split");
    int table = table_weight(split), eye = identity_weight(split), tokens = tiny_input(split);
    TinyRng r = {1};
    int ones = tiny_weight(split, &r, "norm", K, 0, 1.0f, 0.0f);
    int x = tiny_embedding(split, -1, table, tokens), n = tiny_rms_norm(split, -1, x, ones);
    int y = tiny_linear(split, -1, n, eye);
    mark(split, y, BLOCK);
    ir_add_output(split, y);
    float *a = logits(fused), *b = logits(split), *c = logits(plain);
    CHECK(a && b && memcmp(a, b, sizeof(float) * VOCAB * K) == 0);
    CHECK(a && c && memcmp(a, c, sizeof(float) * VOCAB * K) != 0);
    // token 0, block 1 is all zero before and after the norm
    CHECK(a && a[BLOCK] == 0.0f && a[K - 1] == 0.0f);
    free(a), free(b), free(c);
    ir_graph_free(fused), ir_graph_free(split), ir_graph_free(plain);
}

static void expect_refused(int64_t block, const char *want) {
    Graph *g = graph_with(OP_LINEAR, block);
    AwqcError err = {{0}};
    Interp *in = interp_new(g, 4, 1, &err);
    CHECK_MSG(in == NULL, "act_q8 = %lld ran", (long long)block);
    CHECK_MSG(strstr(err.msg, want), "got '%s', want '%s'", err.msg, want);
    interp_free(in);
    ir_graph_free(g);
}

static void test_bad_blocks(void) {
    expect_refused(-8, "act_q8 must be a positive integer");
    expect_refused(6, "act_q8 = 6 does not divide the input width 16");
}

int main(void) {
    test_linear();
    test_whole_row_block();
    test_linear_add();
    test_rms_norm_linear();
    test_bad_blocks();
    return test_result();
}
