// test_interp_observer.c: the interpreter's observer hook on a small graph
// built with the IR builder: every node but the input is seen once per
// forward, in node order, with its row width and the step's token count; the
// last value seen is the logits the forward returns; no observer, no calls.
#include <stdlib.h>
#include <string.h>

#include "runtime/interp.h"
#include "test_support.h"

enum { DIM = 16, HIDDEN = 24, VOCAB = 20, MAX_CALLS = 64 };

// ----------------------------------------------------------------------------
// the graph: embedding -> rms_norm -> gated MLP -> residual -> lm head

static uint32_t rng = 3;
static float frand(void) {
    rng = rng * 1664525u + 1013904223u;
    return (float)(rng >> 8) / 16777216.0f - 0.5f;
}

static int weight(Graph *g, const char *name, int64_t rows, int64_t cols) {
    int64_t dims[2] = {rows, cols};
    int w = ir_add_weight(g, name, ir_type_const(DT_F32, cols ? 2 : 1, cols ? dims : &rows), NULL);
    AWQC_ASSERT(w >= 0);
    int64_t n = rows * (cols ? cols : 1);
    g->weights[w].data = xmalloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++) g->weights[w].data[i] = cols ? frand() : 1.0f + 0.1f * frand();
    return w;
}

static int node2(Graph *g, OpKind op, Operand a, Operand b, int n_in) {
    Operand in[2] = {a, b};
    Attr eps = ir_attr_float("eps", 1e-5);
    bool norm = op == OP_RMS_NORM;
    AwqcError err;
    int id = ir_add_node(g, op, in, n_in, norm ? &eps : NULL, norm ? 1 : 0, -1, &err);
    if (!norm) ir_attr_free(&eps);
    if (id < 0) AWQC_PANIC("%s", err.msg);
    return id;
}

static int linear(Graph *g, int x, int w) { return node2(g, OP_LINEAR, ir_node_ref(x), ir_weight_ref(w), 2); }

static Graph *small_graph(void) {
    Graph *g = ir_graph_new("observed");
    Attr name = ir_attr_string("name", "tokens");
    AwqcError err;
    int tokens = ir_add_node(g, OP_INPUT, NULL, 0, &name, 1, -1, &err);
    int embd = weight(g, "embd", VOCAB, DIM);
    int x = node2(g, OP_EMBEDDING, ir_weight_ref(embd), ir_node_ref(tokens), 2);
    int h = node2(g, OP_RMS_NORM, ir_node_ref(x), ir_weight_ref(weight(g, "norm", DIM, 0)), 2);
    int gate = linear(g, h, weight(g, "gate", HIDDEN, DIM));
    int up = linear(g, h, weight(g, "up", HIDDEN, DIM));
    int act = node2(g, OP_SILU, ir_node_ref(gate), (Operand){0}, 1);
    int prod = node2(g, OP_MUL, ir_node_ref(act), ir_node_ref(up), 2);
    int down = linear(g, prod, weight(g, "down", DIM, HIDDEN));
    int res = node2(g, OP_ADD, ir_node_ref(x), ir_node_ref(down), 2);
    ir_add_output(g, linear(g, res, weight(g, "lm_head", VOCAB, DIM)));
    return g;
}

// ----------------------------------------------------------------------------
// the observer records what it was shown

typedef struct {
    int n_calls;
    int node[MAX_CALLS], T[MAX_CALLS];
    int64_t width[MAX_CALLS];
    const Graph *graph_seen;
    float *last; // a copy of the last value
    const float *last_ptr;
} Record;

static void record(const Graph *g, int node, const float *value, int T, int64_t width, void *user) {
    Record *r = user;
    AWQC_ASSERT(r->n_calls < MAX_CALLS);
    r->node[r->n_calls] = node;
    r->T[r->n_calls] = T;
    r->width[r->n_calls] = width;
    r->n_calls++;
    r->graph_seen = g;
    free(r->last);
    r->last = xmalloc(sizeof(float) * (size_t)(T * width));
    memcpy(r->last, value, sizeof(float) * (size_t)(T * width));
    r->last_ptr = value;
}

static int64_t expected_width(const Graph *g, int node) {
    const Type *t = &g->nodes[node].type;
    return t->dims[t->rank - 1].size;
}

// The calls from first on cover nodes 1..n-1 in order, with T tokens each.
static void check_one_forward(const Graph *g, const Record *r, int first, int T) {
    int n = (int)g->n_nodes - 1; // all but the input
    CHECK_MSG(r->n_calls - first == n, "%d calls for %d non-input nodes", r->n_calls - first, n);
    for (int k = 0; k < n && first + k < r->n_calls; k++) {
        int c = first + k;
        CHECK_MSG(r->node[c] == k + 1, "call %d saw node %d, expected %d", c, r->node[c], k + 1);
        CHECK_MSG(r->width[c] == expected_width(g, k + 1), "node %d: width %lld", k + 1, (long long)r->width[c]);
        CHECK(r->T[c] == T);
    }
}

static void test_observer_sees_every_node(void) {
    Graph *g = small_graph();
    AwqcError err;
    Interp *in = interp_new(g, 8, 1, &err);
    CHECK_MSG(in != NULL, "%s", err.msg);
    Record r = {0};
    interp_set_observer(in, record, &r);
    int32_t ids[5] = {1, 19, 4, 4, 7};
    const float *logits = interp_forward(in, ids, 5, true, &err);
    CHECK_MSG(logits != NULL, "%s", err.msg);
    check_one_forward(g, &r, 0, 5);
    CHECK(r.graph_seen == g);
    CHECK(r.last_ptr == logits);
    CHECK(memcmp(r.last, logits, sizeof(float) * 5 * VOCAB) == 0);
    // A decode step: T = 1, and the same again.
    logits = interp_forward(in, ids, 1, false, &err);
    check_one_forward(g, &r, (int)g->n_nodes - 1, 1);
    CHECK(memcmp(r.last, logits, sizeof(float) * VOCAB) == 0);
    // Removing it stops the calls.
    int before = r.n_calls;
    interp_set_observer(in, NULL, NULL);
    CHECK(interp_forward(in, ids, 1, false, &err) != NULL);
    CHECK(r.n_calls == before);
    free(r.last);
    interp_free(in);
    ir_graph_free(g);
}

int main(void) {
    test_observer_sees_every_node();
    return test_result();
}
