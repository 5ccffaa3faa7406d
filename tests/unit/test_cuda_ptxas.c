// test_cuda_ptxas.c: every kernel the CUDA generator emits compiles: for the
// real SmolLM2 AWQ W4-g64 plan (tests/cuda/) and for random odd shapes that
// use every op, NVRTC makes PTX for sm_80, sm_87 and sm_90 and ptxas accepts
// it (the SmolLM2 plan also with act_f16, the f16x2 GEMV). Also: an op or weight form without a kernel fails naming the node.
#include <stdlib.h>
#include <string.h>

#include "codegen/cuda/cuda_codegen.h"
#include "passes/pass.h"
#include "test_cuda_plans.h"
#include "test_support.h"

// Generating or compiling CUDA code needs NVRTC, absent from a runtime-only build.
#ifdef AWQC_CUDA_NVRTC

static const int ARCHS[] = {80, 87, 90};

// ----------------------------------------------------------------------------

static void check_kernels_assemble(const Graph *g, const char *what) {
    AwqcError err;
    char *src = cuda_emit_source(g, &err);
    CHECK_MSG(src != NULL, "%s: %s", what, err.msg);
    if (!src) return;
    const char *ptxas = cuda_find_ptxas();
    for (size_t a = 0; a < sizeof ARCHS / sizeof *ARCHS; a++) {
        CudaBytes ptx = {0}, cubin = {0};
        bool ok = cuda_nvrtc_ptx(src, ARCHS[a], &ptx, &err);
        CHECK_MSG(ok, "%s sm_%d: %s", what, ARCHS[a], err.msg);
        if (ok) CHECK(strstr(ptx.data, ".entry gemv_q4_") != NULL && strstr(ptx.data, ".entry attention_") != NULL);
        if (ok && ptxas) {
            CHECK_MSG(cuda_ptxas_cubin(ptxas, &ptx, ARCHS[a], &cubin, &err), "%s sm_%d: %s", what, ARCHS[a], err.msg);
            CHECK(cubin.size > 1000);
        }
        free(ptx.data);
        free(cubin.data);
    }
    free(src);
}

static void test_smollm2_plan(void) {
    char *path = awqc_asprintf("%s/tests/cuda/smollm2_awq_w4g64.ir", test_source_dir());
    char *text = awqc_read_file(path, NULL, NULL);
    CHECK_MSG(text != NULL, "cannot read %s", path);
    Graph *g = text ? parse_or_fail(text, path) : NULL;
    if (g) {
        // The plan launches the fused kernels at its shapes: norm+qkv GEMV, attention, the tied f32 head.
        CudaNodeLaunches nl;
        AwqcError err;
        CHECK(cuda_node_launches(g, 2, 1, &nl, &err) && nl.n == 1 && strcmp(nl.l[0].name, "gemv_q4_960_576_64_4_8_3_1_0_0_0_0_1") == 0 &&
              nl.part_per_token == 3 * 4 * 256 && nl.done_per_token == 4);
        CHECK(cuda_node_launches(g, 2, 100, &nl, &err) && nl.n == 2 && strncmp(nl.l[1].name, "gemm_q4_mma_960_576_64", 22) == 0 &&
              nl.part_per_token == 0);
        // 9 heads: 29 blocks each split the context (261 in all), 29 partials of 64 + 2 floats per head
        CHECK(cuda_node_launches(g, 3, 1, &nl, &err) && nl.n == 1 && strcmp(nl.l[0].name, "attention_step_9_3_64_29_1_1_1") == 0 &&
              nl.l[0].grid_x == 9 * 29 && nl.l[0].smem_ctx && nl.l[0].smem_head_dim == 256 + 3 * 64 && nl.uses_kv &&
              nl.part_per_token == 9 * 29 * 66 && nl.done_per_token == 9);
        // %7 (down) writes buf 0, where its silu_mul's gate|up lives: the fold must not happen
        CHECK(cuda_node_launches(g, 6, 1, &nl, &err) && nl.n == 1 && strncmp(nl.l[0].name, "silu_mul_", 9) == 0);
        CHECK(cuda_node_launches(g, 7, 1, &nl, &err) && nl.n == 1 && !nl.l[0].x_through_producer);
        CHECK(cuda_node_launches(g, 3, 2, &nl, &err) && nl.n == 2 && strcmp(nl.l[1].name, "attention_9_3_64") == 0 &&
              nl.l[1].smem_ctx && nl.l[1].smem_head_dim == 64 && nl.uses_kv);
        check_kernels_assemble(g, "SmolLM2 plan");
        // --act f16: the same GEMVs in f16x2 arithmetic (the last template argument)
        ir_set_meta(g, "quantize_acts", ir_attr_string("", "f16"));
        bool changed;
        PassContext ctx = {.target = "cuda:sm_87"};
        CHECK_MSG(pass_quantize_acts(g, &ctx, &changed, &err) && changed, "%s", err.msg);
        CHECK(cuda_node_launches(g, 2, 1, &nl, &err) && strcmp(nl.l[0].name, "gemv_q4_960_576_64_4_8_3_1_0_0_0_1_1") == 0);
        check_kernels_assemble(g, "SmolLM2 plan, act_f16");
        // --gemv-stages 2: double-buffered copies (the last template argument)
        ir_set_meta(g, "cuda_gemv_stages", ir_attr_int("", 2));
        CHECK(cuda_node_launches(g, 2, 1, &nl, &err) && strcmp(nl.l[0].name, "gemv_q4_960_576_64_4_8_3_1_0_0_0_1_2") == 0);
        check_kernels_assemble(g, "SmolLM2 plan, act_f16, 2 stages");
        ir_set_meta(g, "cuda_gemv_stages", ir_attr_int("", 3));
        CHECK(!cuda_node_launches(g, 2, 1, &nl, &err) && strstr(err.msg, "cuda_gemv_stages must be 1 or 2"));
    }
    ir_graph_free(g);
    free(text);
    free(path);
}

static void test_random_shapes(void) {
    for (int round = 0; round < 2; round++) {
        Shape s = random_shape();
        char *text = plan_text(&s);
        char what[128];
        snprintf(what, sizeof what, "random plan dim %d heads %d/%d hd %d ffn %d group %d", s.dim, s.heads,
                 s.kv_heads, s.head_dim, s.ffn, s.group);
        Graph *g = parse_or_fail(text, what);
        if (g) check_kernels_assemble(g, what);
        // its silu_mul %6 has three readers (%7, %20, %21): it runs, the down GEMV does not fold it
        CudaNodeLaunches nl;
        AwqcError err;
        if (g) CHECK_MSG(cuda_node_launches(g, 6, 1, &nl, &err) && nl.n == 1, "%s: silu_mul folded", what);
        ir_graph_free(g);
        free(text);
    }
}

// A weight in a CPU layout and a param have no CUDA kernel: the error names the node and op.
static void test_unsupported_fails_clearly(void) {
    const char *text = "graph \"cpu\" {\n  weight @w : q4g32[64, 64] {layout = \"avx2-i4\"}\n"
                       "  %0 = param {value = 3, width = 64} : f32[T, 64]\n  %1 = linear %0, @w : f32[T, 64]\n"
                       "  output %1\n}\n";
    AwqcError err;
    Graph *g = ir_parse(text, "cpu.ir", &err);
    CHECK_MSG(g != NULL, "%s", err.msg);
    if (!g) return;
    CHECK(cuda_emit_source(g, &err) == NULL);
    CHECK_MSG(strstr(err.msg, "%0 = param") != NULL, "%s", err.msg);
    CudaNodeLaunches nl;
    CHECK(!cuda_node_launches(g, 1, 1, &nl, &err));
    CHECK_MSG(strstr(err.msg, "%1 = linear") && strstr(err.msg, "avx2-i4"), "%s", err.msg);
    ir_graph_free(g);
}

int main(void) {
    char *nvrtc = cuda_nvrtc_describe();
    printf("%s; ptxas: %s\n", nvrtc, cuda_find_ptxas() ? cuda_find_ptxas() : "not found (PTX only)");
    free(nvrtc);
    test_unsupported_fails_clearly();
    test_smollm2_plan();
    test_random_shapes();
    if (!cuda_find_ptxas()) printf("note: ptxas is not on PATH, in $CUDA_HOME/bin or /usr/local/cuda/bin: PTX checked by NVRTC only\n");
    return test_result();
}
#else
int main(void) { test_skip("built without NVRTC (AWQC_CUDA_RUNTIME_ONLY)"); }
#endif
