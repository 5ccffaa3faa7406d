// test_pass_pack.c: the pack-weights pass on a tiny graph: the layout follows
// the target (x86-64 -> avx2-i4, x86-64-vnni -> vnni-i4 with avx2-i4 for rows
// it cannot tile or when quantize_acts = "f32", cuda:sm_80 -> awq-gemm, 3-bit ->
// u3-packed), packed weights unpack to the original codes, a weight no layout
// can take stays as codes and is named in the remark, and unknown targets and
// activation kinds are refused.
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

// Packs the tiny graph for target (with quantize_acts = acts unless NULL) and
// checks the layouts of weights a, b, c and the remark.
static void check_pack(const char *target, const char *acts, const char *want_a, const char *want_b,
                       const char *want_remark) {
    Graph *g = tiny_graph();
    if (acts) ir_set_meta(g, "quantize_acts", ir_attr_string("", acts));
    QuantMatrix *before = codes_before(g);
    bool ok, changed;
    AwqcError err = {{0}};
    char *log = run_pass(g, target, &ok, &changed, &err);
    const char *tname = target ? target : "(no target)";
    CHECK_MSG(ok, "%s: %s", tname, err.msg);
    CHECK(changed);
    const char *want[3] = {want_a, want_b, "u3-packed"};
    for (size_t i = 0; i < 3; i++) {
        Weight *w = &g->weights[i];
        CHECK_MSG(w->quant == NULL && w->layout && strcmp(w->layout, want[i]) == 0, "%s: %s has layout %s", tname,
                  w->name, w->layout ? w->layout : "(none)");
        QuantMatrix back;
        CHECK_MSG(ir_weight_codes(w, &back, &err), "%s", err.msg);
        CHECK_MSG(same_codes(&before[i], &back), "%s: %s does not round-trip", tname, w->name);
        quant_matrix_free(&back);
        quant_matrix_free(&before[i]);
    }
    CHECK(g->weights[3].layout == NULL && g->weights[3].packed == NULL);
    CHECK_MSG(strcmp(log, want_remark) == 0, "%s: got '%s', want '%s'", tname, log, want_remark);
    free(log);
    free(before);
    ir_graph_free(g);
}

static void check_target(const char *target, const char *layout4) {
    char *line = awqc_asprintf("pack-weights: 2 weights packed as %s, 1 as u3-packed\n", layout4);
    check_pack(target, NULL, layout4, layout4, line);
    free(line);
}

// Weight b has 8 rows, less than a 16-row VNNI tile: it falls back to avx2-i4.
#define VNNI_REMARK "pack-weights: 1 weights packed as vnni-i4, 1 as avx2-i4, 1 as u3-packed\n"
#define AVX2_REMARK "pack-weights: 2 weights packed as avx2-i4, 1 as u3-packed\n"

static void test_vnni(void) {
    check_pack("x86-64-vnni", NULL, "vnni-i4", "avx2-i4", VNNI_REMARK);
    check_pack("x86-64-vnni", "q8", "vnni-i4", "avx2-i4", VNNI_REMARK);
    // f32 activations: the kernels without VNNI, for every weight
    check_pack("x86-64-vnni", "f32", "avx2-i4", "avx2-i4", AVX2_REMARK);
    // the activation kind changes nothing where there is no VNNI layout
    check_pack("aarch64", "q8", "neon-i4", "neon-i4", "pack-weights: 2 weights packed as neon-i4, 1 as u3-packed\n");
}


// "host" (and no target at all) is the build machine: vnni-i4 where its CPU
// has AVX-512 VNNI, unless the graph keeps f32 activations.
static void test_host(void) {
#if defined(__aarch64__)
    check_target("host", "neon-i4");
    check_target(NULL, "neon-i4");
#else
    if (awqc_cpu_feature("avx512vnni") == 1) {
        check_pack("host", NULL, "vnni-i4", "avx2-i4", VNNI_REMARK);
        check_pack(NULL, NULL, "vnni-i4", "avx2-i4", VNNI_REMARK);
    } else {
        check_target("host", "avx2-i4");
        check_target(NULL, "avx2-i4");
    }
    check_pack("host", "f32", "avx2-i4", "avx2-i4", AVX2_REMARK);
#endif
}

// Neither vnni-i4 (8 rows) nor its fallback (96 columns) takes w.odd: both
// reasons are named.
static void test_vnni_left_as_codes(void) {
    Graph *g = ir_graph_new("odd");
    add_quant_weight(g, "w.tile", 32, 64, 4, 32);
    add_quant_weight(g, "w.odd", 8, 96, 4, 32);
    bool ok, changed;
    AwqcError err = {{0}};
    char *log = run_pass(g, "x86-64-vnni", &ok, &changed, &err);
    CHECK_MSG(ok, "%s", err.msg);
    CHECK(g->weights[0].layout && strcmp(g->weights[0].layout, "vnni-i4") == 0 && g->weights[1].quant != NULL);
    const char *want = "pack-weights: 1 weights packed as vnni-i4, 1 left as codes "
                       "(w.odd: layout vnni-i4 needs out_features divisible by 16, got 8, and "
                       "layout avx2-i4 needs in_features divisible by 64, got 96)\n";
    CHECK_MSG(strcmp(log, want) == 0, "got '%s'", log);
    free(log);
    ir_graph_free(g);
}

static void test_bad_acts(void) {
    Graph *g = tiny_graph();
    ir_set_meta(g, "quantize_acts", ir_attr_string("", "bf16"));
    bool ok, changed = true;
    AwqcError err = {{0}};
    char *log = run_pass(g, "x86-64-vnni", &ok, &changed, &err);
    CHECK(!ok && !changed);
    CHECK_MSG(strstr(err.msg, "quantize_acts = 'bf16'") && strstr(err.msg, "q8, f32 and f16"), "got '%s'", err.msg);
    CHECK(g->weights[0].quant != NULL && g->weights[0].packed == NULL);
    free(log);
    ir_graph_free(g);
}

// f16 activations are a GPU kernel's arithmetic: a CPU target refuses them
// and packs nothing; a GPU target packs as usual.
static void test_f16_acts_gpu_only(void) {
    const char *targets[] = {"x86-64", "cuda:sm_87"};
    for (int t = 0; t < 2; t++) {
        Graph *g = tiny_graph();
        ir_set_meta(g, "quantize_acts", ir_attr_string("", "f16"));
        bool ok, changed = false;
        AwqcError err = {{0}};
        char *log = run_pass(g, targets[t], &ok, &changed, &err);
        if (t == 0) {
            CHECK(!ok && !changed && g->weights[0].packed == NULL);
            CHECK_MSG(strstr(err.msg, "are for GPU targets; target x86-64 takes q8 or f32"), "got '%s'", err.msg);
        } else {
            CHECK_MSG(ok && changed, "%s", err.msg);
            CHECK(g->weights[0].layout && strcmp(g->weights[0].layout, "awq-gemm") == 0);
        }
        free(log);
        ir_graph_free(g);
    }
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
                  strstr(err.msg, "x86-64-avx2") && strstr(err.msg, "x86-64-vnni"),
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
    test_vnni();
    test_host();
    test_left_as_codes();
    test_vnni_left_as_codes();
    test_unknown_target();
    test_bad_acts();
    test_f16_acts_gpu_only();
    return test_result();
}
