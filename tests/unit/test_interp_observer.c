// test_interp_observer.c: the interpreter's observer hook on a small graph
// built with the IR builder: every node but the input is seen once per
// forward, in node order, with its row width and the step's token count; the
// last value seen is the logits the forward returns; no observer, no calls.
#include <stdlib.h>
#include <string.h>

#include "runtime/interp.h"
#include "test_support.h"
#include "test_tiny_graph.h"

enum { DIM = 16, HIDDEN = 24, VOCAB = 20, MAX_CALLS = 64 };

// ----------------------------------------------------------------------------
// the graph: embedding -> rms_norm -> gated MLP -> residual -> lm head

static Graph *small_graph(void) {
    TinyRng rng = {3};
    Graph *g = ir_graph_new("observed");
    int tokens = tiny_input(g);
    int embd = tiny_weight(g, &rng, "embd", VOCAB, DIM, 0.0f, 1.0f);
    int x = tiny_embedding(g, -1, embd, tokens);
    int h = tiny_rms_norm(g, -1, x, tiny_weight(g, &rng, "norm", DIM, 0, 1.0f, 0.1f));
    int gate = tiny_linear(g, -1, h, tiny_weight(g, &rng, "gate", HIDDEN, DIM, 0.0f, 1.0f));
    int up = tiny_linear(g, -1, h, tiny_weight(g, &rng, "up", HIDDEN, DIM, 0.0f, 1.0f));
    int prod = tiny_binary(g, OP_MUL, -1, tiny_unary(g, OP_SILU, -1, gate), up);
    int down = tiny_linear(g, -1, prod, tiny_weight(g, &rng, "down", DIM, HIDDEN, 0.0f, 1.0f));
    int res = tiny_binary(g, OP_ADD, -1, x, down);
    ir_add_output(g, tiny_linear(g, -1, res, tiny_weight(g, &rng, "lm_head", VOCAB, DIM, 0.0f, 1.0f)));
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
