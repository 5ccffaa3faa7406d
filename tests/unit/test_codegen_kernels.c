// test_codegen_kernels.c: every kernel the CPU code generator emits, against
// the reference interpreter on the same plan (test-backend-ops style). Tiny
// LLaMAs of odd shapes, unfused (linear, rms_norm, rope, attention, silu,
// mul, add) and through the pass pipeline (rms_norm_linear, rope_attention,
// silu_mul, linear_add), in f32 and with 4-bit (avx2-i4, neon-i4; groups 32,
// 64, 128) and 3-bit weights; plus single ops (softmax, gelu, relu, layer
// norm). Each runs a prompt then decode steps, comparing all logits.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/cpu/cpu_codegen.h"
#include "passes/manager.h"
#include "quantizer/quant.h"
#include "runtime/cpu_engine.h"
#include "runtime/interp.h"
#include "test_support.h"
#include "test_tiny_graph.h"

#define CTX 16

// ----------------------------------------------------------------------------
// comparing the compiled plan with the interpreter

// Runs ids in the steps given (a prompt, then single tokens) on both; the
// worst max|a-b|/max|a| over the steps.
static double compare(const Graph *g, const char *what, const int *steps, int n_steps) {
    AwqcError err;
    CpuCode code;
    if (!cpu_codegen(g, "host", NULL, &code, &err)) {
        CHECK_MSG(false, "%s: codegen: %s", what, err.msg);
        return INFINITY;
    }
    CpuEngine *cpu = cpu_engine_new(g, code.so, code.so_size, what, CTX, 2, 4, &err);
    Interp *ref = interp_new(g, CTX, 1, &err);
    CHECK_MSG(cpu && ref, "%s: %s", what, err.msg);
    double worst = 0;
    int32_t ids[CTX];
    for (int i = 0; i < CTX; i++) ids[i] = (int32_t)((i * 7 + 3) % 11);
    for (int s = 0, at = 0; cpu && ref && s < n_steps; at += steps[s++]) {
        const float *a = interp_forward(ref, ids + at, steps[s], true, &err);
        int64_t vocab = interp_vocab(ref);
        float *want = xmalloc(sizeof(float) * (size_t)(steps[s] * vocab));
        memcpy(want, a, sizeof(float) * (size_t)(steps[s] * vocab));
        const float *got = cpu_engine_forward(cpu, ids + at, steps[s], true, &err);
        CHECK_MSG(got != NULL, "%s: %s", what, err.msg);
        if (got) worst = fmax(worst, interp_relative_diff(want, got, (size_t)(steps[s] * vocab)));
        const float *last = cpu_engine_forward(cpu, ids + at, 0, false, &err); // 0 tokens: refused
        CHECK(last == NULL);
        free(want);
    }
    printf("%-44s max rel diff %.2e\n", what, worst);
    CHECK_MSG(worst < 1e-4, "%s: compiled and reference differ by %g", what, worst);
    cpu_engine_free(cpu);
    interp_free(ref);
    cpu_code_free(&code);
    return worst;
}

// A prompt of 5 (more than t_max = 4: two chunks), then 3 decode steps.
static const int STEPS[] = {5, 1, 1, 1};

// ----------------------------------------------------------------------------
// models

static TinyLlamaSpec spec(int dim, int heads, int kv_heads, int ffn, const char *rope) {
    return (TinyLlamaSpec){.dim = dim, .heads = heads, .kv_heads = kv_heads, .ffn = ffn, .vocab = 11, .layers = 2,
                           .rope = rope, .scale_by_fan_in = true, .seed = 7};
}

// Replaces every 2-D weight but the embedding by its RTN codes.
static void quantize_linears(Graph *g, int bits, int group) {
    int embd = g->nodes[1].in[0].index;
    for (size_t i = 0; i < g->n_weights; i++) {
        Weight *w = &g->weights[i];
        if ((int)i == embd || w->type.rank != 2) continue;
        QuantMatrix *q = xmalloc(sizeof *q);
        AwqcError err;
        bool ok = quant_rtn(w->data, w->type.dims[0].size, w->type.dims[1].size, bits, group, q, &err);
        AWQC_ASSERT(ok);
        free(w->data);
        w->data = NULL;
        w->quant = q;
        w->type.dtype = bits == 4 ? DT_Q4 : DT_Q3;
        w->type.group = group;
    }
}

static void run_pipeline(Graph *g, const char *target) {
    AwqcError err;
    PassContext ctx = {.target = target, .ctx = CTX, .log = NULL};
    PassOptions o = {0};
    bool ok = pass_run_pipeline(g, &ctx, &o, &err);
    CHECK_MSG(ok, "pipeline: %s", err.msg);
}

static void model_case(const char *what, TinyLlamaSpec s, bool fused, int bits, int group, const char *target) {
    Graph *g = tiny_llama(&s);
    if (bits) quantize_linears(g, bits, group);
    if (fused || bits) run_pipeline(g, target);
    compare(g, what, STEPS, 4);
    ir_graph_free(g);
}

// ----------------------------------------------------------------------------
// single ops

static void single_op_case(const char *what, OpKind op, int64_t D) {
    TinyRng r = {11};
    Graph *g = ir_graph_new("op");
    int tokens = tiny_input(g);
    int table = tiny_weight(g, &r, "embd", 11, D, 0.0f, 1.0f);
    int x = tiny_embedding(g, -1, table, tokens), y;
    if (op == OP_LAYER_NORM) {
        int w = tiny_weight(g, &r, "w", D, 0, 1.0f, 0.5f), b = tiny_weight(g, &r, "b", D, 0, 0.0f, 0.5f);
        y = tiny_layer_norm(g, -1, x, w, b);
    } else {
        y = tiny_unary(g, op, -1, x);
    }
    ir_add_output(g, y);
    compare(g, what, STEPS, 4);
    ir_graph_free(g);
}

int main(void) {
    // unfused: linear, rms_norm, rope, attention, silu, mul, add
    model_case("f32 unfused dim 24 heads 3 kv 1 ffn 40", spec(24, 3, 1, 40, NULL), false, 0, 0, "host");
    model_case("f32 unfused dim 20 heads 5 pairs", spec(20, 5, 5, 36, "pairs"), false, 0, 0, "host");
    // fused: rms_norm_linear, rope_attention, silu_mul, linear_add
    model_case("f32 fused dim 24 heads 3 kv 1 ffn 40", spec(24, 3, 1, 40, NULL), true, 0, 0, "host");
    model_case("f32 fused dim 36 heads 6 kv 2 ffn 52", spec(36, 6, 2, 52, "pairs"), true, 0, 0, "host");
    // 4-bit: in-register GEMV (decode) and dequantised rows (prompt)
    model_case("q4 g32 avx2-i4 dim 64 ffn 128", spec(64, 4, 2, 128, NULL), true, 4, 32, "x86-64");
    model_case("q4 g64 avx2-i4 dim 128 ffn 192", spec(128, 4, 4, 192, NULL), true, 4, 64, "x86-64");
    model_case("q4 g128 avx2-i4 dim 128 ffn 256", spec(128, 8, 2, 256, NULL), true, 4, 128, "x86-64");
    model_case("q4 g32 neon-i4 dim 64 ffn 96", spec(64, 4, 2, 96, NULL), true, 4, 32, "aarch64");
    model_case("q4 g128 neon-i4 dim 128 ffn 128", spec(128, 4, 1, 128, NULL), true, 4, 128, "aarch64");
    // 3-bit
    model_case("q3 g32 u3-packed dim 64 ffn 96", spec(64, 4, 2, 96, NULL), true, 3, 32, "host");
    model_case("q3 g64 u3-packed dim 128 ffn 128", spec(128, 4, 2, 128, NULL), true, 3, 64, "host");
    // single ops of odd widths
    single_op_case("softmax width 13", OP_SOFTMAX, 13);
    single_op_case("gelu width 7", OP_GELU, 7);
    single_op_case("relu width 33", OP_RELU, 33);
    single_op_case("silu width 5", OP_SILU, 5);
    single_op_case("layer_norm width 19", OP_LAYER_NORM, 19);
    return test_result();
}
