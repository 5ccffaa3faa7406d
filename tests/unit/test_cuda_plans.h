// test_cuda_plans.h: random plans for the CUDA tests: odd but legal LLaMA-like
// shapes whose plan uses every op the CUDA generator handles (fused and
// unfused), as IR text, and binding such a parsed plan to random weights
// (q4 weights as packed awq-gemm bytes) so both runtimes can execute it.
#ifndef TEST_CUDA_PLANS_H
#define TEST_CUDA_PLANS_H

#include <stdlib.h>
#include <string.h>

#include "ir/ir.h"
#include "ir/layout.h"
#include "test_support.h"

// A plan's IR text parsed and verified, or NULL after a failed check.
static inline Graph *parse_or_fail(const char *text, const char *name) {
    AwqcError err;
    Graph *g = ir_parse(text, name, &err);
    CHECK_MSG(g != NULL, "%s", err.msg);
    if (g) CHECK_MSG(ir_verify(g, &err), "%s", err.msg);
    return g;
}

// ----------------------------------------------------------------------------
// a random plan: fused LLaMA ops plus every unfused op, odd but legal shapes

typedef struct {
    int dim, heads, kv_heads, head_dim, ffn, vocab, group;
} Shape;

static uint32_t rng = 12345;
static inline int pick(int lo, int hi) {
    rng = rng * 1664525u + 1013904223u;
    return lo + (int)((rng >> 8) % (uint32_t)(hi - lo + 1));
}

static inline Shape random_shape(void) {
    Shape s;
    s.group = pick(0, 1) ? 32 : 128;
    s.kv_heads = pick(1, 3);
    s.head_dim = 8 * pick(2, 12);                          // awq-gemm rows come in eights
    s.heads = s.kv_heads * pick(1, 4);
    while (s.heads * s.head_dim % s.group) s.heads += s.kv_heads; // o_proj's in_features: whole groups
    s.dim = s.group * pick(1, 5);                           // K of q/k/v, divisible by the group
    s.ffn = s.group * pick(2, 6);                           // a multiple of the group
    s.vocab = 8 * pick(50, 300) + 3;                        // f32 head: any width
    return s;
}

static inline char *plan_text(const Shape *s) {
    int qd = s->heads * s->head_dim, kvd = s->kv_heads * s->head_dim, qkv = qd + 2 * kvd;
    return awqc_asprintf(
        "graph \"odd\" {\n"
        "  weight @emb : f32[%d, %d]\n  weight @g : f32[%d]\n  weight @b : f32[%d]\n"
        "  weight @qkv : q4g%d[%d, %d] {layout = \"awq-gemm\"}\n"
        "  weight @o : q4g%d[%d, %d] {layout = \"awq-gemm\"}\n"
        "  weight @o_bias : f32[%d]\n  weight @gu : q4g%d[%d, %d] {layout = \"awq-gemm\"}\n"
        "  weight @down : q4g%d[%d, %d] {layout = \"awq-gemm\"}\n"
        "  weight @wq : f32[%d, %d]\n  weight @wk : f32[%d, %d]\n  weight @wv : f32[%d, %d]\n  weight @s : f32[%d]\n"
        "  %%0 = input {name = \"tokens\"} : i32[T]\n"
        "  %%1 = embedding @emb, %%0 : f32[T, %d]\n"
        "  %%2 = rms_norm_linear %%1, @g, @qkv {eps = 1e-05} : f32[T, %d]\n"
        "  %%3 = rope_attention %%2 {heads = %d, kv_heads = %d, head_dim = %d, theta = 10000.0, mode = \"pairs\"} : f32[T, %d]\n"
        "  %%4 = linear_add %%3, @o, %%1, @o_bias : f32[T, %d]\n"
        "  %%5 = rms_norm_linear %%4, @g, @gu {eps = 1e-05} : f32[T, %d]\n"
        "  %%6 = silu_mul %%5 : f32[T, %d]\n"
        "  %%7 = linear_add %%6, @down, %%4 : f32[T, %d]\n"
        "  %%8 = layer_norm %%7, @g, @b {eps = 1e-05} : f32[T, %d]\n"
        "  %%9 = awq_scale %%8, @s : f32[T, %d]\n"
        "  %%10 = linear %%9, @wq : f32[T, %d]\n  %%11 = linear %%9, @wk : f32[T, %d]\n  %%12 = linear %%9, @wv : f32[T, %d]\n"
        "  %%13 = rope %%10 {heads = %d, head_dim = %d, theta = 500000.0, mode = \"halves\"} : f32[T, %d]\n"
        "  %%14 = rope %%11 {heads = %d, head_dim = %d, theta = 500000.0, mode = \"halves\"} : f32[T, %d]\n"
        "  %%15 = attention %%13, %%14, %%12 {heads = %d, kv_heads = %d, head_dim = %d} : f32[T, %d]\n"
        "  %%16 = slice %%5 {offset = %d, size = %d} : f32[T, %d]\n"
        "  %%17 = silu %%16 : f32[T, %d]\n  %%18 = gelu %%17 : f32[T, %d]\n  %%19 = relu %%18 : f32[T, %d]\n"
        "  %%20 = mul %%19, %%6 : f32[T, %d]\n  %%21 = add %%20, %%6 : f32[T, %d]\n  %%22 = softmax %%21 : f32[T, %d]\n"
        "  %%23 = rms_norm %%7, @g {eps = 1e-06} : f32[T, %d]\n"
        "  %%24 = linear %%23, @emb : f32[T, %d]\n"
        "  output %%24, %%22, %%15\n}\n",
        s->vocab, s->dim, s->dim, s->dim, s->group, qkv, s->dim, s->group, s->dim, qd, s->dim, s->group, 2 * s->ffn,
        s->dim, s->group, s->dim, s->ffn, qd, s->dim, kvd, s->dim, kvd, s->dim, s->dim, s->dim, qkv, s->heads,
        s->kv_heads, s->head_dim, qd, s->dim, 2 * s->ffn, s->ffn, s->dim, s->dim, s->dim, qd, kvd, kvd, s->heads,
        s->head_dim, qd, s->kv_heads, s->head_dim, kvd, s->heads, s->kv_heads, s->head_dim, qd, s->ffn / 2, s->ffn,
        s->ffn, s->ffn, s->ffn, s->ffn, s->ffn, s->ffn, s->ffn, s->dim, s->vocab);
}

// Random weights for a parsed plan: f32 near 1 for 1-d (norm gains, scales),
// small elsewhere; q4 codes with random scales and zeros, packed as awq-gemm.
static inline float plan_frand(void) { return (float)pick(0, 1 << 20) / (float)(1 << 20) - 0.5f; }

// Matrices get values f16 holds exactly (k / 2^14, |k| < 2^11): the GPU
// uploads f32 matrices as f16, and the comparison should see the kernels'
// arithmetic, not that rounding.
static inline float plan_frand_f16(void) { return (float)pick(-1638, 1638) / 16384.0f; }

static inline void bind_f32(Weight *w) {
    int64_t n = ir_type_elements(&w->type);
    w->data = xmalloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++) w->data[i] = w->type.rank == 1 ? 1.0f + 0.2f * plan_frand() : plan_frand_f16();
}

static inline void bind_q4(Weight *w) {
    QuantMatrix *m = xcalloc(1, sizeof *m);
    AWQC_ASSERT(quant_matrix_init(m, w->type.dims[0].size, w->type.dims[1].size, 4, w->type.group, NULL));
    for (int64_t i = 0; i < m->rows * m->cols; i++) m->q[i] = (uint8_t)pick(0, 15);
    for (int64_t i = 0; i < m->rows * quant_n_groups(m); i++) {
        m->zeros[i] = (uint8_t)pick(6, 9);
        m->scales[i] = (uint16_t)(0x2000 + pick(0, 0x400)); // f16 around 0.008
    }
    free(w->layout);
    w->layout = NULL;
    w->quant = m;
    AwqcError err;
    if (!ir_pack_weight(w, ir_find_layout("awq-gemm"), &err)) AWQC_PANIC("%s", err.msg);
}

static inline void bind_plan(Graph *g) {
    for (size_t i = 0; i < g->n_weights; i++) {
        if (g->weights[i].type.dtype == DT_F32) bind_f32(&g->weights[i]);
        else bind_q4(&g->weights[i]);
    }
}

#endif
