// test_codegen_kernels.c: every kernel the CPU code generator emits, against
// the reference interpreter on the same plan (test-backend-ops style). Tiny
// LLaMAs of odd shapes, unfused (linear, rms_norm, rope, attention, silu,
// mul, add) and through the pass pipeline (rms_norm_linear, rope_attention,
// silu_mul, linear_add), in f32 and with 4-bit (avx2-i4, neon-i4; groups 32,
// 64, 128; vnni-i4 with 8-bit activations where the CPU has AVX-512 VNNI) and
// 3-bit weights, quantized heads (quantize-head: 8-bit u8-rows, and vnni-i8
// with 8-bit activations for vocabularies a multiple of 16; 4-bit; vocab 11, so
// the decode GEMV's odd rows run too); plus single ops
// (softmax, gelu, relu, layer norm). Each runs a prompt then decode steps,
// comparing all logits and, from a second engine, the last rows; prompts of
// 13 in one pass cover the prefill kernel's token and row tails.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/cpu/cpu_codegen.h"
#include "passes/manager.h"
#include "quantizer/quant.h"
#include "runtime/cpu_engine.h"
#include "ir/uses.h"
#include "runtime/interp.h"
#include "test_support.h"
#include "test_tiny_graph.h"

#define CTX 16

// ----------------------------------------------------------------------------
// comparing the compiled plan with the interpreter

// The logits of the last token only (the head's kernels start at row0 =
// T - 1) from a second engine, against the last row the interpreter gave.
static double last_row_diff(CpuEngine *last, const int32_t *ids, int n, const float *want, int64_t vocab,
                            const char *what) {
    AwqcError err;
    const float *got = cpu_engine_forward(last, ids, n, false, &err);
    CHECK_MSG(got != NULL, "%s (last row): %s", what, err.msg);
    return got ? interp_relative_diff(want + (size_t)(n - 1) * (size_t)vocab, got, (size_t)vocab) : INFINITY;
}

// Runs ids in the steps given (a prompt, then single tokens) on both, the
// compiled plan taking at most t_max tokens per pass; the worst
// max|a-b|/max|a| over the steps, all rows and last rows.
static double compare_chunked(const Graph *g, const char *what, const int *steps, int n_steps, int t_max) {
    AwqcError err;
    CpuCode code;
    if (!cpu_codegen(g, "host", NULL, &code, &err)) {
        CHECK_MSG(false, "%s: codegen: %s", what, err.msg);
        return INFINITY;
    }
    CpuEngine *cpu = cpu_engine_new(g, code.so, code.so_size, what, CTX, 2, t_max, &err);
    CpuEngine *last = cpu ? cpu_engine_new(g, code.so, code.so_size, what, CTX, 2, t_max, &err) : NULL;
    Interp *ref = interp_new(g, CTX, 1, &err);
    CHECK_MSG(cpu && last && ref, "%s: %s", what, err.msg);
    double worst = 0;
    int32_t ids[CTX];
    for (int i = 0; i < CTX; i++) ids[i] = (int32_t)((i * 7 + 3) % 11);
    for (int s = 0, at = 0; cpu && last && ref && s < n_steps; at += steps[s++]) {
        const float *a = interp_forward(ref, ids + at, steps[s], true, &err);
        int64_t vocab = interp_vocab(ref);
        float *want = xmalloc(sizeof(float) * (size_t)(steps[s] * vocab));
        memcpy(want, a, sizeof(float) * (size_t)(steps[s] * vocab));
        const float *got = cpu_engine_forward(cpu, ids + at, steps[s], true, &err);
        CHECK_MSG(got != NULL, "%s: %s", what, err.msg);
        if (got) worst = fmax(worst, interp_relative_diff(want, got, (size_t)(steps[s] * vocab)));
        worst = fmax(worst, last_row_diff(last, ids + at, steps[s], want, vocab, what));
        const float *none = cpu_engine_forward(cpu, ids + at, 0, false, &err); // 0 tokens: refused
        CHECK(none == NULL);
        free(want);
    }
    printf("%-44s max rel diff %.2e\n", what, worst);
    CHECK_MSG(worst < 1e-4, "%s: compiled and reference differ by %g", what, worst);
    cpu_engine_free(cpu);
    cpu_engine_free(last);
    interp_free(ref);
    cpu_code_free(&code);
    return worst;
}

static double compare(const Graph *g, const char *what, const int *steps, int n_steps) {
    return compare_chunked(g, what, steps, n_steps, 4);
}

// A prompt of 5 (more than t_max = 4: two chunks), then 3 decode steps.
static const int STEPS[] = {5, 1, 1, 1};

// ----------------------------------------------------------------------------
// models

static TinyLlamaSpec spec(int dim, int heads, int kv_heads, int ffn, const char *rope) {
    return (TinyLlamaSpec){.dim = dim, .heads = heads, .kv_heads = kv_heads, .ffn = ffn, .vocab = 11, .layers = 2,
                           .rope = rope, .scale_by_fan_in = true, .seed = 7};
}

// Replaces every 2-D weight but the embedding and the head by its RTN codes.
static void quantize_linears(Graph *g, int bits, int group) {
    const Node *out = &g->nodes[g->outputs[0]];
    int embd = g->nodes[1].in[0].index, head = out->in[out->n_in - 1].index;
    for (size_t i = 0; i < g->n_weights; i++) {
        Weight *w = &g->weights[i];
        if ((int)i == embd || (int)i == head || w->type.rank != 2) continue;
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

// The vnni target must really give vnni-i4 weights whose nodes read 8-bit
// activations (a fallback to avx2-i4 would pass the comparison untested).
static void check_vnni_plan(const Graph *g, const char *what, const char *target) {
    if (strcmp(target, "x86-64-vnni") != 0) return;
    int marked = 0;
    for (size_t i = 0; i < g->n_nodes; i++) {
        const Weight *wt = ir_linear_weight(g, &g->nodes[i]);
        if (wt && wt->layout && strcmp(wt->layout, "vnni-i4") == 0)
            marked += ir_node_attr_int(&g->nodes[i], "act_q8", 0) == wt->type.group;
    }
    CHECK_MSG(marked >= 3, "%s: only %d linears are vnni-i4 with act_q8", what, marked);
}

static void model_case(const char *what, TinyLlamaSpec s, bool fused, int bits, int group, const char *target) {
    Graph *g = tiny_llama(&s);
    if (bits) quantize_linears(g, bits, group);
    if (fused || bits) run_pipeline(g, target);
    check_vnni_plan(g, what, target);
    compare(g, what, STEPS, 4);
    ir_graph_free(g);
}

// 4-bit g32 layers and a head rounded by quantize-head ("q8" or "q4"),
// which pack-weights must lay out as `layout`; a vnni-i8 head must also read
// 8-bit activations.
static void head_case(const char *what, TinyLlamaSpec s, const char *head, const char *target, const char *layout) {
    Graph *g = tiny_llama(&s);
    quantize_linears(g, 4, 32);
    ir_set_meta(g, "quantize_head", ir_attr_string("", head));
    run_pipeline(g, target);
    const Node *out = &g->nodes[g->outputs[0]];
    const Weight *w = ir_linear_weight(g, out);
    CHECK_MSG(w->type.dtype == (strcmp(head, "q8") ? DT_Q4 : DT_Q8) && w->layout && !strcmp(w->layout, layout),
              "%s: head @%s is %s in %s, want %s", what, w->name, ir_dtype_name(w->type.dtype),
              w->layout ? w->layout : "no layout", layout);
    if (!strcmp(layout, "vnni-i8"))
        CHECK_MSG(ir_node_attr_int(out, "act_q8", 0) == w->type.group, "%s: the vnni-i8 head has no act_q8", what);
    compare(g, what, STEPS, 4);
    ir_graph_free(g);
}

static TinyLlamaSpec untied(TinyLlamaSpec s) {
    s.untied_head = true;
    return s;
}

static TinyLlamaSpec vocab(TinyLlamaSpec s, int n) {
    s.vocab = n;
    return s;
}

// One pass over a prompt of 13 (three tiles of 4 tokens and a single one),
// then 1 and 2 tokens (two singles): the prefill kernel's token tails, with
// t_max = CTX so nothing is chunked. Odd dims give weight row counts that are
// not a multiple of 4 and rows whose length is not a whole vector.
static const int TAIL_STEPS[] = {13, 1, 2};

static void prefill_tail_case(const char *what, TinyLlamaSpec s, bool fused, int bits, int group,
                              const char *head, const char *target) {
    Graph *g = tiny_llama(&s);
    if (bits) quantize_linears(g, bits, group);
    if (head) ir_set_meta(g, "quantize_head", ir_attr_string("", head));
    if (fused || bits || head) run_pipeline(g, target);
    check_vnni_plan(g, what, target);
    compare_chunked(g, what, TAIL_STEPS, 3, CTX);
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
    // vnni-i4: 8-bit activations (act_q8) with VNNI; rows per thread of 4
    // tiles and more (decode's quads), 2 and 1 (dim 96: qkv 160 rows split
    // 96 + 64, down 96 split 64 + 32)
    if (awqc_cpu_feature("avx512vnni") == 1) {
        model_case("q4 g32 vnni-i4 dim 64 ffn 128", spec(64, 4, 2, 128, NULL), true, 4, 32, "x86-64-vnni");
        model_case("q4 g64 vnni-i4 dim 128 ffn 256", spec(128, 4, 4, 256, NULL), true, 4, 64, "x86-64-vnni");
        model_case("q4 g128 vnni-i4 dim 128 ffn 256", spec(128, 8, 2, 256, NULL), true, 4, 128, "x86-64-vnni");
        model_case("q4 g32 vnni-i4 dim 96 ffn 64", spec(96, 3, 1, 64, NULL), true, 4, 32, "x86-64-vnni");
        prefill_tail_case("prefill tails q4 g32 vnni-i4 + q8 head dim 64", spec(64, 4, 2, 128, NULL), true, 4, 32,
                          "q8", "x86-64-vnni");
        prefill_tail_case("prefill tails q4 g64 vnni-i4 + q4 head dim 128", untied(spec(128, 4, 2, 192, NULL)), true,
                          4, 64, "q4", "x86-64-vnni");
        // vnni-i8 q8 heads: 3 tiles (one quad short), 5 (a quad and a single);
        // a vocabulary of 11 rows falls back to u8-rows with f32 activations
        head_case("q8 head vnni-i8 vocab 48 dim 64 (tied)", vocab(spec(64, 4, 2, 128, NULL), 48), "q8", "x86-64-vnni",
                  "vnni-i8");
        head_case("q8 head vnni-i8 vocab 80 dim 128 untied", untied(vocab(spec(128, 4, 2, 64, NULL), 80)), "q8",
                  "x86-64-vnni", "vnni-i8");
        head_case("q8 head vocab 11 on vnni: u8-rows", spec(64, 4, 2, 128, NULL), "q8", "x86-64-vnni", "u8-rows");
        prefill_tail_case("prefill tails q4 g32 vnni-i4 + q8 vnni-i8 head vocab 64",
                          vocab(spec(64, 4, 2, 128, NULL), 64), true, 4, 32, "q8", "x86-64-vnni");
    } else {
        printf("SKIP the vnni-i4/i8 cases: this CPU has no AVX-512 VNNI\n");
    }
    // 3-bit
    model_case("q3 g32 u3-packed dim 64 ffn 96", spec(64, 4, 2, 96, NULL), true, 3, 32, "host");
    model_case("q3 g64 u3-packed dim 128 ffn 128", spec(128, 4, 2, 128, NULL), true, 3, 64, "host");
    // quantized heads, tied and untied
    head_case("q8 head u8-rows dim 64 (tied)", spec(64, 4, 2, 128, NULL), "q8", "x86-64", "u8-rows");
    head_case("q8 head u8-rows dim 160 untied", untied(spec(160, 5, 1, 64, NULL)), "q8", "aarch64", "u8-rows");
    head_case("q8 head u8-rows dim 128 untied", untied(spec(128, 4, 2, 64, NULL)), "q8", "x86-64", "u8-rows");
    head_case("q4 head avx2-i4 dim 128 (tied)", spec(128, 4, 2, 128, NULL), "q4", "x86-64", "avx2-i4");
    head_case("q4 head neon-i4 dim 96 untied", untied(spec(96, 4, 2, 64, NULL)), "q4", "aarch64", "neon-i4");
    // prefill tiles: tokens not a multiple of 4, rows not a multiple of 4 (qkv
    // 30, down 18, vocab 11), K not a multiple of the vector (18, 42)
    TinyLlamaSpec odd = spec(18, 3, 1, 42, NULL);
    prefill_tail_case("prefill tails f32 unfused dim 18 ffn 42", odd, false, 0, 0, NULL, "host");
    prefill_tail_case("prefill tails f32 fused dim 18 ffn 42", odd, true, 0, 0, NULL, "host");
    prefill_tail_case("prefill tails q4 g32 avx2-i4 dim 64 ffn 128", spec(64, 4, 2, 128, NULL), true, 4, 32, NULL,
                      "x86-64");
    prefill_tail_case("prefill tails q3 g32 dim 64 ffn 96", spec(64, 4, 2, 96, NULL), true, 3, 32, NULL, "host");
    prefill_tail_case("prefill tails q4 neon-i4 + q8 head dim 96", untied(spec(96, 4, 2, 64, NULL)), true, 4, 32,
                      "q8", "aarch64");
    prefill_tail_case("prefill tails q4 avx2-i4 + q4 head dim 128", spec(128, 4, 2, 128, NULL), true, 4, 32, "q4",
                      "x86-64");
    // single ops of odd widths
    single_op_case("softmax width 13", OP_SOFTMAX, 13);
    single_op_case("gelu width 7", OP_GELU, 7);
    single_op_case("relu width 33", OP_RELU, 33);
    single_op_case("silu width 5", OP_SILU, 5);
    single_op_case("layer_norm width 19", OP_LAYER_NORM, 19);
    return test_result();
}
