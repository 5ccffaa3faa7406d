// test_pass_quantize_acts.c: the quantize-acts pass on a one-linear graph: a
// vnni-i4 matrix gets act_q8 = its group, other layouts none, a second run
// changes nothing, a node with no room for the attribute is an error; and the
// verifier's act_q8 rules (linear-like ops only, a positive block that tiles
// the input row); with quantize_acts = "f16", act_f16 on the GPU layout's
// linears, and its rules. The pipeline cases are the tests/passes/quantize_acts_*.ir.
#include <stdlib.h>
#include <string.h>

#include "ir/edit.h"
#include "ir/layout.h"
#include "passes/pass.h"
#include "test_qmatrix.h"
#include "test_support.h"

static const char *const GRAPH_TEXT =
    "graph \"acts\" {\n"
    "  weight @tok : f32[4, 64]\n"
    "  weight @w : q4g32[16, 64]\n"
    "  %0 = input {name = \"tokens\"} : i32[T]\n"
    "  %1 = embedding @tok, %0 : f32[T, 64]\n"
    "  %2 = linear %1, @w : f32[T, 16]\n"
    "  output %2\n"
    "}\n";

static uint32_t rng_state = 0x1234567u;

// The graph with @w packed as layout (NULL: left as codes).
static Graph *graph_packed(const char *layout) {
    AwqcError err = {{0}};
    Graph *g = ir_parse(GRAPH_TEXT, "acts.ir", &err);
    AWQC_ASSERT(g != NULL);
    g->weights[ir_find_weight(g, "tok")].data = xcalloc(4 * 64, sizeof(float)); // bound like @w
    Weight *w = &g->weights[ir_find_weight(g, "w")];
    w->quant = test_random_quant(&rng_state, 16, 64, 4, 32);
    if (layout) AWQC_ASSERT(ir_pack_weight(w, ir_find_layout(layout), &err));
    return g;
}

static char *run_pass(Graph *g, bool *ok, bool *changed, AwqcError *err) {
    char *text = NULL;
    size_t len = 0;
    FILE *log = open_memstream(&text, &len);
    AWQC_ASSERT(log != NULL);
    PassContext ctx = {.target = "x86-64-vnni", .ctx = 64, .log = log};
    *ok = pass_quantize_acts(g, &ctx, changed, err);
    fclose(log);
    return text;
}

// ----------------------------------------------------------------------------
// the pass

static void test_marks_vnni(void) {
    Graph *g = graph_packed("vnni-i4");
    bool ok, changed;
    AwqcError err = {{0}};
    char *log = run_pass(g, &ok, &changed, &err);
    CHECK_MSG(ok && changed, "%s", err.msg);
    CHECK(ir_node_attr_int(&g->nodes[2], "act_q8", 0) == 32);
    CHECK_MSG(strcmp(log, "quantize-acts: 1 nodes marked act_q8 (8-bit activations)\n") == 0, "got '%s'", log);
    CHECK_MSG(ir_verify(g, &err), "%s", err.msg);
    free(log);
    log = run_pass(g, &ok, &changed, &err); // already marked: nothing to do
    CHECK(ok && !changed && strstr(log, "0 nodes marked"));
    free(log);
    ir_graph_free(g);
}

static void test_other_layouts_unmarked(void) {
    const char *layouts[] = {"avx2-i4", "neon-i4", NULL};
    for (int i = 0; i < 3; i++) {
        Graph *g = graph_packed(layouts[i]);
        bool ok, changed = true;
        AwqcError err = {{0}};
        free(run_pass(g, &ok, &changed, &err));
        CHECK_MSG(ok && !changed && !ir_node_attr(&g->nodes[2], "act_q8"), "layout %s",
                  layouts[i] ? layouts[i] : "(codes)");
        ir_graph_free(g);
    }
}

// quantize_acts = "f16": the awq-gemm (GPU) matrix's linear gets act_f16 = 1
// and no act_q8; a CPU layout nothing; a kind the pass does not know fails.
static void test_marks_f16(void) {
    const char *layouts[] = {"awq-gemm", "avx2-i4"};
    for (int i = 0; i < 2; i++) {
        Graph *g = graph_packed(layouts[i]);
        ir_set_meta(g, "quantize_acts", ir_attr_string("", "f16"));
        bool ok, changed;
        AwqcError err = {{0}};
        char *log = run_pass(g, &ok, &changed, &err);
        bool gpu = i == 0;
        CHECK_MSG(ok && changed == gpu, "%s: %s", layouts[i], err.msg);
        CHECK(ir_node_attr_int(&g->nodes[2], "act_f16", 0) == gpu && !ir_node_attr(&g->nodes[2], "act_q8"));
        const char *want = gpu ? "quantize-acts: 1 nodes marked act_f16 (f16x2 GEMV)\n"
                               : "quantize-acts: 0 nodes marked act_f16 (f16x2 GEMV)\n";
        CHECK_MSG(strcmp(log, want) == 0, "got '%s'", log);
        CHECK_MSG(ir_verify(g, &err), "%s", err.msg);
        free(log);
        if (gpu) {
            log = run_pass(g, &ok, &changed, &err); // already marked: nothing to do
            CHECK(ok && !changed && strstr(log, "0 nodes marked"));
            free(log);
        }
        ir_graph_free(g);
    }
    Graph *g = graph_packed("awq-gemm");
    ir_set_meta(g, "quantize_acts", ir_attr_string("", "int8"));
    bool ok, changed;
    AwqcError err = {{0}};
    free(run_pass(g, &ok, &changed, &err));
    CHECK_MSG(!ok && strstr(err.msg, "quantize_acts = 'int8': the activation kinds are q8, f32 and f16"), "got '%s'",
              err.msg);
    ir_graph_free(g);
}

static void test_no_room(void) {
    Graph *g = graph_packed("vnni-i4");
    for (int i = 0; i < IR_MAX_ATTRS; i++) {
        char key[16];
        snprintf(key, sizeof key, "note%d", i);
        AWQC_ASSERT(ir_set_node_attr(g, 2, ir_attr_int(key, i)));
    }
    bool ok, changed;
    AwqcError err = {{0}};
    free(run_pass(g, &ok, &changed, &err));
    CHECK(!ok);
    CHECK_MSG(strstr(err.msg, "quantize-acts: %2 = linear has no room"), "got '%s'", err.msg);
    ir_graph_free(g);
}

// ----------------------------------------------------------------------------
// the verifier

static void expect_unverified_in(const char *layout, int node, Attr a, Attr b, const char *want) {
    Graph *g = graph_packed(layout);
    AWQC_ASSERT(ir_set_node_attr(g, node, a));
    if (b.key) AWQC_ASSERT(ir_set_node_attr(g, node, b));
    AwqcError err = {{0}};
    CHECK_MSG(!ir_verify(g, &err), "verified (want '%s')", want);
    CHECK_MSG(strstr(err.msg, want), "got '%s', want '%s'", err.msg, want);
    ir_graph_free(g);
}

static void expect_unverified(int node, Attr a, const char *want) {
    expect_unverified_in("vnni-i4", node, a, (Attr){0}, want);
}

static void test_verify(void) {
    expect_unverified_in("awq-gemm", 1, ir_attr_int("act_f16", 1), (Attr){0}, "embedding: act_f16 applies to linear");
    expect_unverified_in("awq-gemm", 2, ir_attr_int("act_f16", 2), (Attr){0}, "act_f16 must be 1");
    expect_unverified_in("awq-gemm", 2, ir_attr_int("act_f16", 1), ir_attr_int("act_q8", 32), "exclude each other");
    expect_unverified_in("avx2-i4", 2, ir_attr_int("act_f16", 1), (Attr){0}, "act_f16 needs a q4 matrix in layout awq-gemm");
    expect_unverified(1, ir_attr_int("act_q8", 32), "embedding: act_q8 applies to linear");
    expect_unverified(2, ir_attr_int("act_q8", 0), "act_q8 must be a positive integer");
    expect_unverified(2, ir_attr_string("act_q8", "64"), "act_q8 must be a positive integer");
    expect_unverified(2, ir_attr_int("act_q8", 48), "act_q8 = 48 does not divide the input width 64");
    Graph *g = graph_packed("vnni-i4");
    AWQC_ASSERT(ir_set_node_attr(g, 2, ir_attr_int("act_q8", 64))); // one block per row
    AwqcError err = {{0}};
    CHECK_MSG(ir_verify(g, &err), "%s", err.msg);
    ir_graph_free(g);
}

int main(void) {
    test_marks_vnni();
    test_other_layouts_unmarked();
    test_marks_f16();
    test_no_room();
    test_verify();
    return test_result();
}
