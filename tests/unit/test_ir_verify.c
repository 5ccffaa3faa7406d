// test_ir_verify.c: ir_verify accepts the golden tiny llama and rejects each
// kind of structural damage (operand order, stale types, missing attributes,
// bad indexes, missing outputs, half-bound weight data, wrong input type)
// with a message that names the offending node (its place in the file and its
// op) or weight (and the graph).
#include <stdlib.h>
#include <string.h>

#include "ir/ir.h"
#include "test_support.h"

// ----------------------------------------------------------------------------
// helpers

static char *fixture_text;

static Graph *fresh_graph(void) {
    AwqcError err;
    Graph *g = ir_parse(fixture_text, "tiny_llama.ir", &err);
    if (!g) {
        fprintf(stderr, "%s\n", err.msg);
        AWQC_PANIC("the golden file does not parse");
    }
    return g;
}

// Verifies a damaged graph, expects failure with a message that starts with
// where (the node's place in the file and its op, or the graph's name) and
// contains want; frees the graph.
static void expect_rejected(Graph *g, const char *where, const char *want, int line) {
    AwqcError err = {{0}};
    bool ok = ir_verify(g, &err);
    CHECK_MSG(!ok, "line %d: damaged graph verified (want '%s')", line, want);
    CHECK_MSG(strncmp(err.msg, where, strlen(where)) == 0, "line %d: want %s at the start of: %s", line, where, err.msg);
    CHECK_MSG(strstr(err.msg, want), "line %d: want '%s' in: %s", line, want, err.msg);
    ir_graph_free(g);
}
#define EXPECT_REJECTED(g, where, want) expect_rejected((g), (where), (want), __LINE__)
#define IN_GRAPH "graph 'tiny_llama': "

static void bind_weight(Graph *g, size_t i) {
    int64_t n = ir_type_elements(&g->weights[i].type);
    g->weights[i].data = xcalloc((size_t)n, sizeof(float));
}

// Removes node's attribute key, as a careless pass might.
static void drop_attr(Node *n, const char *key) {
    for (int i = 0; i < n->n_attrs; i++)
        if (strcmp(n->attrs[i].key, key) == 0) {
            free(n->attrs[i].key);
            free(n->attrs[i].s);
            memmove(&n->attrs[i], &n->attrs[i + 1], sizeof(Attr) * (size_t)(n->n_attrs - i - 1));
            n->n_attrs--;
            return;
        }
    AWQC_PANIC("no attribute %s", key);
}

// ----------------------------------------------------------------------------
// tests

static void test_accepts_golden(void) {
    Graph *g = fresh_graph();
    AwqcError err;
    CHECK_MSG(ir_verify(g, &err), "%s", err.msg);
    for (size_t i = 0; i < g->n_weights; i++) bind_weight(g, i);
    CHECK_MSG(ir_verify(g, &err), "all weights bound: %s", err.msg);
    ir_graph_free(g);
}

static void test_operand_damage(void) {
    Graph *g = fresh_graph();
    g->nodes[3].in[0].index = 5;
    EXPECT_REJECTED(g, "tiny_llama.ir:36:5: %3 = linear: ",
                    "operand 1 refers to %5, which is not defined before it (nodes out of order: %5 comes later)");
    g = fresh_graph();
    g->nodes[3].in[0].index = 3;
    EXPECT_REJECTED(g, "tiny_llama.ir:36:5: %3 = linear: ",
                    "operand 1 refers to %3, which is not defined before it (a cycle: the node reads its own value)");
    g = fresh_graph();
    g->nodes[3].in[0].index = 9; // %9 reads %8, which reads %6, which reads %3
    EXPECT_REJECTED(g, "tiny_llama.ir:36:5: %3 = linear: ", "refers to %9, which is not defined before it (a cycle: %9 depends on %3)");
    g = fresh_graph();
    g->nodes[3].in[0].index = 36;
    EXPECT_REJECTED(g, "tiny_llama.ir:36:5: %3 = linear: ", "refers to %36, which is not defined before it (a dangling value: the graph has 36 nodes)");
    g = fresh_graph();
    g->nodes[3].in[1].index = 999;
    EXPECT_REJECTED(g, "tiny_llama.ir:36:5: %3 = linear: ", "operand 2 refers to weight 999 of 20 (a dangling weight)");
}

static void test_type_damage(void) {
    Graph *g = fresh_graph();
    g->nodes[3].type.dims[1].size = 65;
    EXPECT_REJECTED(g, "tiny_llama.ir:36:5: %3 = linear: ", "type mismatch: recorded f32[T, 65] but its operands give f32[T, 64]");
    // A weight reshaped without fixing its users: the user's inference fails.
    g = fresh_graph();
    g->weights[2].type.dims[1].size = 32;
    EXPECT_REJECTED(g, "tiny_llama.ir:36:5: %3 = linear: ",
                    "does not type-check: input f32[T, 64] has 64 features but weight q4g32[64, 32] expects 32");
    g = fresh_graph();
    g->nodes[0].type.dtype = DT_F32;
    EXPECT_REJECTED(g, "tiny_llama.ir:32:3: %0 = input: ", "type is f32[T], inputs must be i32[T]");
    g = fresh_graph();
    g->weights[1].type.dims[0].kind = DIM_T;
    EXPECT_REJECTED(g, IN_GRAPH, "weight @blk.0.attn_norm.weight has a symbolic shape");
    g = fresh_graph();
    g->weights[1].type.group = 32;
    EXPECT_REJECTED(g, IN_GRAPH, "weight @blk.0.attn_norm.weight: a group size on a non-quantized dtype");
}

static void test_attribute_damage(void) {
    Graph *g = fresh_graph();
    drop_attr(&g->nodes[6], "mode");
    EXPECT_REJECTED(g, "tiny_llama.ir:39:5: %6 = rope: ", "does not type-check: rope needs the attribute 'mode'");
    g = fresh_graph();
    drop_attr(&g->nodes[2], "eps");
    EXPECT_REJECTED(g, "tiny_llama.ir:35:5: %2 = rms_norm: ", "does not type-check: rms_norm needs the attribute 'eps'");
    g = fresh_graph();
    free(g->nodes[8].attrs[1].key);
    g->nodes[8].attrs[1].key = xstrdup("heads");
    EXPECT_REJECTED(g, "tiny_llama.ir:41:5: %8 = attention: ", "attribute 'heads' given twice");
}

static void test_index_damage(void) {
    Graph *g = fresh_graph();
    g->nodes[2].block = 99;
    EXPECT_REJECTED(g, "tiny_llama.ir:35:5: %2 = rms_norm: ", "block index 99 out of range (4 blocks)");
    g = fresh_graph();
    g->n_outputs = 0;
    EXPECT_REJECTED(g, IN_GRAPH, "no outputs");
    g = fresh_graph();
    g->outputs[0] = 100;
    EXPECT_REJECTED(g, IN_GRAPH, "output 1 refers to %100, but the graph has 36 nodes");
    g = fresh_graph();
    free(g->weights[2].name);
    g->weights[2].name = xstrdup(g->weights[1].name);
    EXPECT_REJECTED(g, IN_GRAPH, "weight @blk.0.attn_norm.weight defined twice");
}

static void test_half_bound_data(void) {
    Graph *g = fresh_graph();
    bind_weight(g, 0);
    EXPECT_REJECTED(g, IN_GRAPH, "weight @blk.0.attn_norm.weight has no data while 1 other weight is bound");
    g = fresh_graph();
    for (size_t i = 0; i < g->n_weights; i++)
        if (i != 5) bind_weight(g, i);
    EXPECT_REJECTED(g, IN_GRAPH, "weight @blk.0.attn_output.weight has no data while 19 other weights are bound");
}

int main(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fixtures/ir/tiny_llama.ir", test_source_dir());
    AwqcError err;
    fixture_text = awqc_read_file(path, NULL, &err);
    if (!fixture_text) test_skip(err.msg);
    test_accepts_golden();
    test_operand_damage();
    test_type_damage();
    test_attribute_damage();
    test_index_damage();
    test_half_bound_data();
    free(fixture_text);
    return test_result();
}
