// test_pass_pack.c: the pack-weights pass on a tiny graph: the layout follows
// the target (x86-64 -> avx2-i4, cuda:sm_80 -> awq-gemm, 3-bit -> u3-packed),
// packed weights unpack to the original codes, a weight the layout cannot take
// stays as codes and is named in the remark, and unknown targets are refused.
#include <stdlib.h>
#include <string.h>

#include "ir/layout.h"
#include "passes/pass.h"
#include "test_qmatrix.h"
#include "test_support.h"

// ----------------------------------------------------------------------------
// helpers

static uint32_t rng_state = 0x9e3779b9u;

static QuantMatrix *random_quant(int64_t rows, int64_t cols, int bits, int group) {
    return test_random_quant(&rng_state, rows, cols, bits, group);
}

static void add_quant_weight(Graph *g, const char *name, int64_t rows, int64_t cols, int bits, int group) {
    int64_t dims[2] = {rows, cols};
    Type t = ir_type_const(bits == 4 ? DT_Q4 : DT_Q3, 2, dims);
    t.group = group;
    AwqcError err = {{0}};
    int i = ir_add_weight(g, name, t, &err);
    AWQC_ASSERT(i >= 0);
    g->weights[i].quant = random_quant(rows, cols, bits, group);
}

// Four weights: two 4-bit ones every layout takes, a 3-bit one, one f32.
static Graph *tiny_graph(void) {
    Graph *g = ir_graph_new("pack");
    add_quant_weight(g, "a", 16, 128, 4, 64);
    add_quant_weight(g, "b", 8, 64, 4, 32);
    add_quant_weight(g, "c", 8, 64, 3, 32);
    int64_t dims[1] = {64};
    AwqcError err = {{0}};
    AWQC_ASSERT(ir_add_weight(g, "norm", ir_type_const(DT_F32, 1, dims), &err) >= 0);
    return g;
}

// Copies of every weight's codes before packing, to compare after.
static QuantMatrix *codes_before(const Graph *g) {
    QuantMatrix *q = xcalloc(g->n_weights, sizeof *q);
    AwqcError err = {{0}};
    for (size_t i = 0; i < g->n_weights; i++)
        if (g->weights[i].quant) AWQC_ASSERT(ir_weight_codes(&g->weights[i], &q[i], &err));
    return q;
}

static bool same_codes(const QuantMatrix *a, const QuantMatrix *b) {
    size_t n = (size_t)(a->rows * a->cols), ng = (size_t)(a->rows * (a->cols / a->group));
    return a->rows == b->rows && a->cols == b->cols && a->group == b->group && a->bits == b->bits &&
           memcmp(a->q, b->q, n) == 0 && memcmp(a->zeros, b->zeros, ng) == 0 &&
           memcmp(a->scales, b->scales, 2 * ng) == 0;
}

static char *run_pass(Graph *g, const char *target, bool *ok, bool *changed, AwqcError *err) {
    char *text = NULL;
    size_t len = 0;
    FILE *log = open_memstream(&text, &len);
    AWQC_ASSERT(log != NULL);
    PassContext ctx = {.target = target, .ctx = 128, .log = log};
    *ok = pass_pack_weights(g, &ctx, changed, err);
    fclose(log);
    return text;
}

// ----------------------------------------------------------------------------
// tests

static void check_target(const char *target, const char *layout4) {
    Graph *g = tiny_graph();
    QuantMatrix *before = codes_before(g);
    bool ok, changed;
    AwqcError err = {{0}};
    char *log = run_pass(g, target, &ok, &changed, &err);
    CHECK_MSG(ok, "%s: %s", target, err.msg);
    CHECK(changed);
    const char *want[3] = {layout4, layout4, "u3-packed"};
    for (size_t i = 0; i < 3; i++) {
        Weight *w = &g->weights[i];
        CHECK_MSG(w->quant == NULL && w->layout && strcmp(w->layout, want[i]) == 0, "%s: %s has layout %s", target,
                  w->name, w->layout ? w->layout : "(none)");
        QuantMatrix back;
        CHECK_MSG(ir_weight_codes(w, &back, &err), "%s", err.msg);
        CHECK_MSG(same_codes(&before[i], &back), "%s: %s does not round-trip", target, w->name);
        quant_matrix_free(&back);
        quant_matrix_free(&before[i]);
    }
    CHECK(g->weights[3].layout == NULL && g->weights[3].packed == NULL);
    char *line = awqc_asprintf("pack-weights: 2 weights packed as %s, 1 as u3-packed\n", layout4);
    CHECK_MSG(strcmp(log, line) == 0, "got '%s'", log);
    free(line);
    free(log);
    free(before);
    ir_graph_free(g);
}

// A weight avx2-i4 cannot take (in_features 96) stays as codes; running the
// pass again has nothing left to do that fits.
static void test_left_as_codes(void) {
    Graph *g = ir_graph_new("odd");
    add_quant_weight(g, "w.fits", 8, 128, 4, 32);
    add_quant_weight(g, "w.odd", 8, 96, 4, 32);
    bool ok, changed;
    AwqcError err = {{0}};
    char *log = run_pass(g, "x86-64", &ok, &changed, &err);
    CHECK_MSG(ok, "%s", err.msg);
    CHECK(changed);
    CHECK(g->weights[0].packed != NULL && g->weights[1].quant != NULL && g->weights[1].packed == NULL);
    const char *want = "pack-weights: 1 weights packed as avx2-i4, 1 left as codes "
                       "(w.odd: layout avx2-i4 needs in_features divisible by 64, got 96)\n";
    CHECK_MSG(strcmp(log, want) == 0, "got '%s'", log);
    free(log);
    log = run_pass(g, "x86-64", &ok, &changed, &err);
    CHECK(ok && !changed);
    free(log);
    ir_graph_free(g);
}

static void test_unknown_target(void) {
    Graph *g = tiny_graph();
    bool ok, changed = true;
    AwqcError err = {{0}};
    char *log = run_pass(g, "riscv64", &ok, &changed, &err);
    CHECK(!ok && !changed);
    CHECK_MSG(strstr(err.msg, "unknown target 'riscv64'") && strstr(err.msg, "cuda:sm_80") &&
                  strstr(err.msg, "x86-64-avx2"),
              "got '%s'", err.msg);
    CHECK(g->weights[0].quant != NULL && g->weights[0].packed == NULL);
    free(log);
    ir_graph_free(g);
}

int main(void) {
    check_target("x86-64", "avx2-i4");
    check_target("x86-64-avx512", "avx2-i4");
    check_target("aarch64", "neon-i4");
    check_target("cuda:sm_80", "awq-gemm");
    check_target("orin", "awq-gemm");
#if defined(__aarch64__)
    check_target("host", "neon-i4");
#else
    check_target("host", "avx2-i4");
#endif
    test_left_as_codes();
    test_unknown_target();
    return test_result();
}
