// test_interp_region.c: running a node range on supplied inputs
// (runtime/interp_region.h). On a tiny LLaMA (one layer with grouped-query
// attention), every block, a two-layer span and the lm head, re-run on the
// values an observer captured during a full forward, give bit-identical
// results to that forward; bad ranges and missing inputs are clear errors.
#include <stdlib.h>
#include <string.h>

#include "runtime/interp.h"
#include "runtime/interp_region.h"
#include "test_support.h"
#include "test_tiny_graph.h"

enum { DIM = 16, HEADS = 2, HD = 8, FFN = 24, VOCAB = 30, LAYERS = 2, TOKENS = 12 };

// ----------------------------------------------------------------------------
// the graph

// Layer 1 shares one K/V head between both query heads.
static Graph *tiny_llama_gqa(void) {
    TinyLlamaSpec spec = {.dim = DIM, .heads = HEADS, .kv_heads_odd = 1, .head_dim = HD, .ffn = FFN,
                          .vocab = VOCAB, .layers = LAYERS, .seed = 5};
    return tiny_llama(&spec);
}

// ----------------------------------------------------------------------------
// every node's value in a full forward, and serving them as region inputs

typedef struct {
    float **value; // per node, NULL for the input
    int asked;     // calls to supply()
    int withheld;  // node supply() pretends not to have, or -1
} Captured;

static void capture(const Graph *g, int node, const float *value, int T, int64_t width, void *user) {
    Captured *c = user;
    c->value[node] = xmalloc(sizeof(float) * (size_t)(T * width));
    memcpy(c->value[node], value, sizeof(float) * (size_t)(T * width));
}

static const float *supply(int node, void *user) {
    Captured *c = user;
    c->asked++;
    return node == c->withheld ? NULL : c->value[node];
}

static Captured capture_forward(const Graph *g, const int32_t *ids) {
    Captured c = {xcalloc(g->n_nodes, sizeof(float *)), 0, -1};
    AwqcError err;
    Interp *in = interp_new(g, TOKENS, 2, &err);
    if (!in) AWQC_PANIC("%s", err.msg);
    interp_set_observer(in, capture, &c);
    if (!interp_forward(in, ids, TOKENS, true, &err)) AWQC_PANIC("%s", err.msg);
    interp_free(in);
    return c;
}

// ----------------------------------------------------------------------------
// checks

static void block_range(const Graph *g, int block, int *first, int *last) {
    *first = *last = -1;
    for (size_t i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].block == block) {
            if (*first < 0) *first = (int)i;
            *last = (int)i;
        }
}

static int64_t width_of(const Graph *g, int node) {
    const Type *t = &g->nodes[node].type;
    int64_t w = 1;
    for (int d = 1; d < t->rank; d++) w *= t->dims[d].size;
    return w;
}

static void check_region(const Graph *g, Captured *c, int first, int last, const char *what) {
    AwqcError err;
    c->asked = 0;
    float *y = interp_eval_region(g, first, last, TOKENS, supply, c, 1, &err);
    CHECK_MSG(y != NULL, "%s: %s", what, err.msg);
    if (!y) return;
    size_t bytes = sizeof(float) * (size_t)TOKENS * (size_t)width_of(g, last);
    CHECK_MSG(memcmp(y, c->value[last], bytes) == 0, "%s (%%%d..%%%d) differs from the full forward", what, first,
              last);
    CHECK_MSG(c->asked >= 1, "%s: no input asked for", what);
    free(y);
}

static void check_blocks(const Graph *g, Captured *c) {
    CHECK(g->n_blocks == 2 * LAYERS);
    for (size_t b = 0; b < g->n_blocks; b++) {
        int first, last;
        block_range(g, (int)b, &first, &last);
        for (int i = first; i <= last; i++) CHECK_MSG(g->nodes[i].block == (int)b, "block %zu is not contiguous", b);
        check_region(g, c, first, last, g->blocks[b]);
    }
    int first, last, unused;
    block_range(g, ir_find_block(g, "layer.0.attn"), &first, &unused);
    block_range(g, ir_find_block(g, "layer.1.mlp"), &unused, &last);
    check_region(g, c, first, last, "layers 0 and 1");
    check_region(g, c, last + 1, g->outputs[0], "final norm and lm head");
}

static void expect_error(const Graph *g, Captured *c, int first, int last, int T, const char *want) {
    AwqcError err = {{0}};
    float *y = interp_eval_region(g, first, last, T, supply, c, 1, &err);
    CHECK_MSG(y == NULL, "region %%%d..%%%d should fail with '%s'", first, last, want);
    CHECK_MSG(strstr(err.msg, want) != NULL, "message '%s' lacks '%s'", err.msg, want);
    free(y);
}

static void check_errors(Graph *g, Captured *c) {
    int first, last;
    block_range(g, ir_find_block(g, "layer.0.mlp"), &first, &last);
    expect_error(g, c, 0, 3, TOKENS, "node %0 is the graph input");
    expect_error(g, c, 1, 3, TOKENS, "node %1 reads the token ids (%0)");
    expect_error(g, c, last, first, TOKENS, "is not a node range");
    expect_error(g, c, first, (int)g->n_nodes, TOKENS, "is not a node range");
    expect_error(g, c, first, last, 0, "0 tokens");
    c->withheld = first - 1; // the residual stream entering the MLP
    char want[64];
    snprintf(want, sizeof want, "reads %%%d, which the region's inputs do not supply", first - 1);
    expect_error(g, c, first, last, TOKENS, want);
    c->withheld = -1;
    int w = g->nodes[first].in[1].index; // the MLP's norm weight
    float *data = g->weights[w].data;
    g->weights[w].data = NULL;
    expect_error(g, c, first, last, TOKENS, "weight 'l0.ffn_norm' is not bound");
    g->weights[w].data = data;
}

int main(void) {
    Graph *g = tiny_llama_gqa();
    int32_t ids[TOKENS];
    for (int t = 0; t < TOKENS; t++) ids[t] = (int32_t)((t * 7 + 2) % VOCAB);
    Captured c = capture_forward(g, ids);
    check_blocks(g, &c);
    check_errors(g, &c);
    for (size_t i = 0; i < g->n_nodes; i++) free(c.value[i]);
    free(c.value);
    ir_graph_free(g);
    return test_result();
}
