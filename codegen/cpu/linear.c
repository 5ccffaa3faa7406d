// linear.c: the linear family (linear, rms_norm_linear, linear_add) for f32,
// 4-bit (avx2-i4 / neon-i4), 8-bit (u8-rows, a quantized head) and 3-bit
// (u3-packed) weights. Decode (one row of activations) converts 4- and 8-bit
// codes in registers, several weight rows at a time so each activation vector
// is loaded once, with the zero points taken out of the inner loop; more rows
// (prefill) dequantise 4 weight rows into scratch and meet 4 token rows at a
// time in a register-blocked tile of vector accumulators.
#include <string.h>

#include "codegen/cpu/abi.h"
#include "codegen/cpu/kernels.h"
#include "codegen/cpu/linear.h"
#include "ir/layout.h"

// Codes the decode GEMV converts at a time: a half block of 4-bit codes, or
// one 16-byte vector of 8-bit ones (u8-rows groups are whole vectors of them).
#define Q8_LANES 16
static int gemv_lanes(const LinearShape *s) { return s->bits == 4 ? s->half : Q8_LANES; }

// ----------------------------------------------------------------------------
// the node's form

// vnni-i4 / vnni-i8: the kernel rounds the activations to 8 bits in blocks
// of the weight's group (the node's act_q8, set by quantize-acts) and needs
// the target's VNNI instructions.
static bool is_vnni_layout(const LinearShape *s) {
    const WeightLayout *l = ir_find_layout(s->W->layout);
    return l && l->acts8 && l->bits == s->bits;
}

static bool vnni_shape(KernelJob *j, LinearShape *s, AwqcError *err) {
    s->vnni = true;
    int64_t act = ir_node_attr_int(j->n, "act_q8", 0);
    const char *layout = s->W->layout;
    if (!j->l->vnni)
        return kernel_fail(j, err, "weight @%s is in %s, which needs a target with AVX-512 VNNI "
                                   "(x86-64-vnni, or host on such a CPU)", s->W->name, layout);
    if (act != s->group)
        return kernel_fail(j, err, "weight @%s is in %s but the node's act_q8 is %lld, not its group %d "
                                   "(run quantize-acts)", s->W->name, layout, (long long)act, s->group);
    if (s->group % 16 || s->N % 16 || s->K % 8)
        return kernel_fail(j, err, "weight @%s [%lld, %lld] group %d does not fit %s's kernel", s->W->name,
                           (long long)s->N, (long long)s->K, s->group, layout);
    return true;
}

static bool linear_shape(KernelJob *j, LinearShape *s, AwqcError *err) {
    const Node *n = j->n;
    *s = (LinearShape){.x = 0, .g = -1, .bias = -1, .res = -1};
    switch (n->op) {
    case OP_LINEAR: s->w = 1, s->bias = n->n_in > 2 ? 2 : -1; break;
    case OP_RMS_NORM_LINEAR: s->g = 1, s->w = 2, s->bias = n->n_in > 3 ? 3 : -1; break;
    case OP_LINEAR_ADD: s->w = 1, s->res = 2, s->bias = n->n_in > 3 ? 3 : -1; break;
    default: AWQC_PANIC("not a linear");
    }
    s->W = kernel_operand_weight(j, s->w);
    if (!s->W) return kernel_fail(j, err, "the weight operand is a node value, not a weight");
    s->K = s->W->type.dims[1].size;
    s->N = s->W->type.dims[0].size;
    s->eps = ir_node_attr_float(n, "eps", 1e-5);
    if (s->W->type.dtype == DT_F32) return s->W->layout == NULL || kernel_fail(j, err, "f32 weight with a layout");
    s->bits = ir_dtype_bits(s->W->type.dtype);
    s->group = s->W->type.group;
    const char *want = s->bits == 4 ? NULL : s->bits == 8 ? "u8-rows" : "u3-packed";
    if (!s->W->layout) return kernel_fail(j, err, "weight @%s is not packed (run pack-weights)", s->W->name);
    if (is_vnni_layout(s)) return vnni_shape(j, s, err);
    if (s->bits == 4 && awqc_cpu_layout4_half(s->W->layout)) s->half = awqc_cpu_layout4_half(s->W->layout);
    // Another target's 4-bit layout (an orin artifact's awq-gemm, kept for its
    // GPU half): the kernel reads this target's own, the runtime repacks at load.
    else if (s->bits == 4 && ir_find_layout(s->W->layout))
        s->half = awqc_cpu_layout4_half(cpu_native_layout4(j->l));
    else if (!want || strcmp(s->W->layout, want) != 0)
        return kernel_fail(j, err, "weight @%s: layout '%s' has no CPU kernel", s->W->name, s->W->layout);
    return true;
}

// ----------------------------------------------------------------------------
// packed weights: where a row's codes, scales and zeros are

PackedParts linear_packed_parts(Ll *l, const LinearShape *s, LLVMValueRef base) {
    int64_t code_bytes = s->N * s->K * s->bits / 8, n_groups = s->N * (s->K / s->group);
    PackedParts p = {base, NULL, NULL};
    p.scales = ll_cast_ptr(l, ll_at(l, l->i8, base, ll_i64(l, code_bytes)), l->f16);
    p.zeros = ll_at(l, l->i8, base, ll_i64(l, code_bytes + 2 * n_groups));
    return p;
}

// scale and zero of row n, group g: (float s, i32 z)
static void group_params(Ll *l, const LinearShape *s, const PackedParts *p, LLVMValueRef n, LLVMValueRef g,
                         LLVMValueRef *scale, LLVMValueRef *zero) {
    LLVMValueRef idx = ll_add(l, ll_mul(l, n, ll_i64(l, s->K / s->group)), g);
    *scale = LLVMBuildFPExt(l->b, ll_load(l, l->f16, p->scales, idx), l->f32, "");
    *zero = LLVMBuildZExt(l->b, ll_load(l, l->i8, p->zeros, idx), l->i32, "");
}

// The codes of half h (0: low nibbles, 1: high) of the block at byte offset
// `at` of a 4-bit row, minus zero, as floats: <half x float>.
static LLVMValueRef nibbles_minus_zero(Ll *l, const LinearShape *s, LLVMValueRef bytes, int h, LLVMValueRef zero) {
    LLVMTypeRef vi = LLVMVectorType(l->i32, (unsigned)s->half);
    LLVMValueRef wide = LLVMBuildZExt(l->b, bytes, vi, "");
    LLVMValueRef q = h == 0 ? LLVMBuildAnd(l->b, wide, ll_splat(l, ll_i32(l, 15), s->half), "")
                            : LLVMBuildLShr(l->b, wide, ll_splat(l, ll_i32(l, 4), s->half), "");
    q = LLVMBuildSub(l->b, q, ll_splat(l, zero, s->half), "");
    return LLVMBuildSIToFP(l->b, q, LLVMVectorType(l->f32, (unsigned)s->half), "");
}

// ----------------------------------------------------------------------------
// dequantising one row into scratch (prefill, and every 3-bit row)

static void dequant_row_q4(Ll *l, const LinearShape *s, const PackedParts *p, LLVMValueRef n, LLVMValueRef y) {
    int64_t block = 2 * s->half, row_bytes = s->K / 2;
    LLVMValueRef row = ll_at(l, l->i8, p->codes, ll_mul(l, n, ll_i64(l, row_bytes)));
    LlLoop lp;
    ll_loop_begin(l, &lp, ll_i64(l, 0), ll_i64(l, s->K), ll_i64(l, block), 0, NULL);
    LLVMValueRef bytes = ll_vload(l, l->i8, s->half, row, LLVMBuildSDiv(l->b, lp.iv, ll_i64(l, 2), ""));
    for (int h = 0; h < 2; h++) {
        LLVMValueRef k0 = ll_add(l, lp.iv, ll_i64(l, h * s->half));
        LLVMValueRef scale, zero;
        group_params(l, s, p, n, LLVMBuildSDiv(l->b, k0, ll_i64(l, s->group), ""), &scale, &zero);
        LLVMValueRef w = LLVMBuildFMul(l->b, nibbles_minus_zero(l, s, bytes, h, zero), ll_splat(l, scale, s->half), "");
        ll_vstore(l, l->f32, y, k0, w);
    }
    ll_loop_end(l, &lp);
}

// u3-packed: 8 codes per 3 bytes, code i at bits 3i..3i+2 of the 24-bit word.
static void dequant_row_q3(Ll *l, const LinearShape *s, const PackedParts *p, LLVMValueRef n, LLVMValueRef y) {
    LLVMValueRef row = ll_at(l, l->i8, p->codes, ll_mul(l, n, ll_i64(l, s->K / 8 * 3)));
    LlLoop lp;
    ll_loop_begin(l, &lp, ll_i64(l, 0), ll_i64(l, s->K / 8), ll_i64(l, 1), 0, NULL);
    LLVMValueRef word = ll_i32(l, 0);
    for (int b = 0; b < 3; b++) {
        LLVMValueRef byte = ll_load(l, l->i8, row, ll_add(l, ll_mul(l, lp.iv, ll_i64(l, 3)), ll_i64(l, b)));
        LLVMValueRef shifted = LLVMBuildShl(l->b, LLVMBuildZExt(l->b, byte, l->i32, ""), ll_i32(l, 8 * b), "");
        word = LLVMBuildOr(l->b, word, shifted, "");
    }
    LLVMValueRef k0 = ll_mul(l, lp.iv, ll_i64(l, 8)), scale, zero;
    group_params(l, s, p, n, LLVMBuildSDiv(l->b, k0, ll_i64(l, s->group), ""), &scale, &zero);
    for (int i = 0; i < 8; i++) {
        LLVMValueRef q = LLVMBuildAnd(l->b, LLVMBuildLShr(l->b, word, ll_i32(l, 3 * i), ""), ll_i32(l, 7), "");
        LLVMValueRef w = LLVMBuildSIToFP(l->b, LLVMBuildSub(l->b, q, zero, ""), l->f32, "");
        ll_store(l, l->f32, y, ll_add(l, k0, ll_i64(l, i)), LLVMBuildFMul(l->b, w, scale, ""));
    }
    ll_loop_end(l, &lp);
}

// u8-rows: the codes of a row as they are, Q8_LANES at a time (a group is a
// whole number of such vectors).
static void dequant_row_q8(Ll *l, const LinearShape *s, const PackedParts *p, LLVMValueRef n, LLVMValueRef y) {
    LLVMValueRef row = ll_at(l, l->i8, p->codes, ll_mul(l, n, ll_i64(l, s->K)));
    LLVMTypeRef vi = LLVMVectorType(l->i32, Q8_LANES), vf = LLVMVectorType(l->f32, Q8_LANES);
    LlLoop lp;
    ll_loop_begin(l, &lp, ll_i64(l, 0), ll_i64(l, s->K), ll_i64(l, Q8_LANES), 0, NULL);
    LLVMValueRef scale, zero;
    group_params(l, s, p, n, LLVMBuildSDiv(l->b, lp.iv, ll_i64(l, s->group), ""), &scale, &zero);
    LLVMValueRef q = LLVMBuildZExt(l->b, ll_vload(l, l->i8, Q8_LANES, row, lp.iv), vi, "");
    q = LLVMBuildSIToFP(l->b, LLVMBuildSub(l->b, q, ll_splat(l, zero, Q8_LANES), ""), vf, "");
    ll_vstore(l, l->f32, y, lp.iv, LLVMBuildFMul(l->b, q, ll_splat(l, scale, Q8_LANES), ""));
    ll_loop_end(l, &lp);
}

// ----------------------------------------------------------------------------
// the epilogue: bias and residual

static void store_result(Ll *l, const LinearShape *s, const LinearArgs *a, LLVMValueRef t, LLVMValueRef n,
                         LLVMValueRef v) {
    LLVMValueRef at = ll_add(l, ll_mul(l, t, ll_i64(l, s->N)), n);
    if (a->bias) v = LLVMBuildFAdd(l->b, v, ll_load(l, l->f32, a->bias, n), "");
    if (a->res) v = LLVMBuildFAdd(l->b, ll_load(l, l->f32, a->res, at), v, "");
    ll_store(l, l->f32, a->out, at, v);
}

void linear_store_results(Ll *l, const LinearShape *s, const LinearArgs *a, LLVMValueRef t, LLVMValueRef n,
                          LLVMValueRef v, int lanes) {
    LLVMValueRef at = ll_add(l, ll_mul(l, t, ll_i64(l, s->N)), n);
    if (a->bias) v = LLVMBuildFAdd(l->b, v, ll_vload(l, l->f32, lanes, a->bias, n), "");
    if (a->res) v = LLVMBuildFAdd(l->b, ll_vload(l, l->f32, lanes, a->res, at), v, "");
    ll_vstore(l, l->f32, a->out, at, v);
}

// ----------------------------------------------------------------------------
// prefill (more than one token row): a register-blocked product in
// dot-product form. NR float weight rows (dequantised into scratch, or f32
// weights in place) meet MR token rows at a time: per chunk of V = vw lanes
// of K, MR activation vectors and NR weight vectors are loaded for MR x NR
// FMAs into as many vector accumulators, summed lane-wise together at the
// end. A row dequantised once serves a whole block of tokens; the blocks are
// sized so their activations stay in L2 while the thread's rows pass over them.

#define PREFILL_NR AWQC_CPU_WEIGHT_ROWS
#define PREFILL_BLOCK_FLOATS (128 * 1024) // activations per token block (512 KiB)

// Tokens per tile: MR x NR accumulators plus MR + NR loaded vectors must fit
// the vector registers (32 zmm or NEON q: 16 + 8; AVX2's 16 ymm: 8 + 6).
static int prefill_mr(const Ll *l) { return l->vw == 8 ? 2 : 4; }

typedef struct {
    LLVMValueRef base; // f32*: the first of the rows
    int64_t stride;    // floats from one row to the next
} WeightRows;

// One chunk of K at k (n_valid lanes of V; fewer only at a row's tail): the
// loads and the MR x NR FMAs, acc[t * nr + r] += x[t] * w[r].
static void tile_chunk(Ll *l, const LinearShape *s, const WeightRows *w, LLVMValueRef x, LLVMValueRef k, int mr,
                       int nr, int n_valid, LLVMValueRef *acc) {
    int V = l->vw;
    AWQC_ASSERT(mr <= PREFILL_NR && nr <= PREFILL_NR);
    LLVMValueRef xv[PREFILL_NR], wv[PREFILL_NR];
    for (int t = 0; t < mr; t++) {
        LLVMValueRef at = ll_add(l, k, ll_i64(l, t * s->K));
        xv[t] = n_valid == V ? ll_vload(l, l->f32, V, x, at) : ll_vload_first(l, l->f32, V, n_valid, x, at);
    }
    for (int r = 0; r < nr; r++) {
        LLVMValueRef at = ll_add(l, k, ll_i64(l, r * w->stride));
        wv[r] = n_valid == V ? ll_vload(l, l->f32, V, w->base, at)
                             : ll_vload_first(l, l->f32, V, n_valid, w->base, at);
    }
    for (int t = 0; t < mr; t++)
        for (int r = 0; r < nr; r++) acc[t * nr + r] = ll_fma(l, xv[t], wv[r], acc[t * nr + r]);
}

// The accumulators' lane sums, through the epilogue: rows n0.. of tokens t0..
static void tile_store(Ll *l, const LinearShape *s, const LinearArgs *a, const LLVMValueRef *acc, LLVMValueRef t0,
                       LLVMValueRef n0, int mr, int nr) {
    int A = mr * nr, G = A < l->vw ? A : l->vw; // accumulators summed per ll_reduce_each
    AWQC_ASSERT(A >= 1 && A / G <= LL_MAX_CARRIED);
    LLVMValueRef sums[LL_MAX_CARRIED] = {0}; // GCC -O3 cannot see that A / G >= 1 fills sums[0]
    for (int g = 0; g < A / G; g++)
        sums[g] = G == 1 ? ll_reduce_fadd(l, acc[g]) : ll_reduce_each(l, acc + g * G, G);
    for (int t = 0; t < mr; t++) {
        LLVMValueRef tok = ll_add(l, t0, ll_i64(l, t)), v = sums[t * nr / G];
        int lane = t * nr % G;
        if (nr > 1) linear_store_results(l, s, a, tok, n0, ll_subvector(l, v, lane, nr), nr);
        else store_result(l, s, a, tok, n0, G == 1 ? v : LLVMBuildExtractElement(l->b, v, ll_i32(l, lane), ""));
    }
}

// Rows n0..n0+nr-1 against tokens t0..t0+mr-1.
static void prefill_tile(Ll *l, const LinearShape *s, const LinearArgs *a, const WeightRows *w, LLVMValueRef n0,
                         int nr, LLVMValueRef t0, int mr) {
    int V = l->vw, A = mr * nr;
    int64_t whole = s->K / V * V;
    LLVMValueRef x = ll_at(l, l->f32, a->x, ll_mul(l, t0, ll_i64(l, s->K))), acc[LL_MAX_CARRIED];
    for (int i = 0; i < A; i++) acc[i] = LLVMConstNull(LLVMVectorType(l->f32, (unsigned)V));
    LlLoop lp;
    ll_loop_begin(l, &lp, ll_i64(l, 0), ll_i64(l, whole), ll_i64(l, V), A, acc);
    tile_chunk(l, s, w, x, lp.iv, mr, nr, V, lp.next); // next starts as the carried values: updated in place
    ll_loop_end(l, &lp);
    for (int i = 0; i < A; i++) acc[i] = ll_loop_result(&lp, i);
    if (s->K > whole) tile_chunk(l, s, w, x, ll_i64(l, whole), mr, nr, (int)(s->K - whole), acc);
    tile_store(l, s, a, acc, t0, n0, mr, nr);
}

// Rows n0..n0+nr-1 as float rows: in place for f32 weights, else
// dequantised into scratch, one row every row_room floats.
static WeightRows weight_rows(Ll *l, const LinearShape *s, const LinearArgs *a, const PackedParts *p,
                              LLVMValueRef n0, int nr, LLVMValueRef scratch, int64_t row_room) {
    if (s->bits == 0) return (WeightRows){ll_at(l, l->f32, a->w, ll_mul(l, n0, ll_i64(l, s->K))), s->K};
    LlLoop lp;
    ll_loop_begin(l, &lp, ll_i64(l, 0), ll_i64(l, nr), ll_i64(l, 1), 0, NULL);
    LLVMValueRef y = ll_at(l, l->f32, scratch, ll_mul(l, lp.iv, ll_i64(l, row_room)));
    (s->bits == 4 ? dequant_row_q4 : s->bits == 8 ? dequant_row_q8 : dequant_row_q3)(l, s, p, ll_add(l, n0, lp.iv), y);
    ll_loop_end(l, &lp);
    return (WeightRows){scratch, row_room};
}

LLVMValueRef linear_whole_steps_end(Ll *l, LLVMValueRef start, LLVMValueRef end, int step) {
    LLVMValueRef whole = LLVMBuildSDiv(l->b, ll_sub(l, end, start), ll_i64(l, step), "");
    return ll_add(l, start, ll_mul(l, whole, ll_i64(l, step)));
}

typedef struct {
    LLVMValueRef scratch;
    int64_t row_room;
    PackedParts p;
    LLVMValueRef t_lo, t_hi; // the token block
} PrefillBlock;

// nr rows from n0 against every token of the block: MR at a time, then singly.
static void prefill_rows(Ll *l, const LinearShape *s, const LinearArgs *a, const PrefillBlock *b, LLVMValueRef n0,
                         int nr) {
    int MR = prefill_mr(l);
    WeightRows w = weight_rows(l, s, a, &b->p, n0, nr, b->scratch, b->row_room);
    LLVMValueRef mid = linear_whole_steps_end(l, b->t_lo, b->t_hi, MR);
    LlLoop lp;
    ll_loop_begin(l, &lp, b->t_lo, mid, ll_i64(l, MR), 0, NULL);
    prefill_tile(l, s, a, &w, n0, nr, lp.iv, MR);
    ll_loop_end(l, &lp);
    ll_loop_begin(l, &lp, mid, b->t_hi, ll_i64(l, 1), 0, NULL);
    prefill_tile(l, s, a, &w, n0, nr, lp.iv, 1);
    ll_loop_end(l, &lp);
}

// Rows [lo, hi) for every token row in [row0, T).
static void prefill(Ll *l, const LinearShape *s, const LinearArgs *a, LLVMValueRef lo, LLVMValueRef hi,
                    LLVMValueRef scratch, int64_t row_room) {
    int MR = prefill_mr(l);
    int64_t tb = PREFILL_BLOCK_FLOATS / s->K / MR * MR;
    if (tb < MR) tb = MR;
    PrefillBlock b = {.scratch = scratch, .row_room = row_room};
    if (s->bits) b.p = linear_packed_parts(l, s, a->w);
    LlLoop blocks, lp;
    ll_loop_begin(l, &blocks, a->row0, a->T, ll_i64(l, tb), 0, NULL);
    b.t_lo = blocks.iv;
    b.t_hi = ll_min(l, ll_add(l, blocks.iv, ll_i64(l, tb)), a->T);
    LLVMValueRef mid = linear_whole_steps_end(l, lo, hi, PREFILL_NR);
    ll_loop_begin(l, &lp, lo, mid, ll_i64(l, PREFILL_NR), 0, NULL);
    prefill_rows(l, s, a, &b, lp.iv, PREFILL_NR);
    ll_loop_end(l, &lp);
    ll_loop_begin(l, &lp, mid, hi, ll_i64(l, 1), 0, NULL);
    prefill_rows(l, s, a, &b, lp.iv, 1);
    ll_loop_end(l, &lp);
    ll_loop_end(l, &blocks);
}

// ----------------------------------------------------------------------------
// decode: R rows of 4- or 8-bit codes against one activation row, converted
// in registers. Per group, sum_k (q - z) s x = s (sum_k q x) - s z (sum_k x):
// the inner loop is one conversion and one FMA per V codes, and the group
// sums of x, shared by every row, are computed once per call into scratch.
// The row is walked in super-blocks of S codes (4-bit: max(group, 2*half))
// so that, inside one, every chunk of V codes has a constant block, half
// and group.

// The R rows from n0 on: their codes, scales and zeros. Row r is reached by
// a constant offset from row n0's, so all R rows share one address register
// per part (R separate row pointers run x86-64 out of registers).
static PackedParts rows_from(Ll *l, const LinearShape *s, const PackedParts *p, LLVMValueRef n0) {
    LLVMValueRef groups = ll_mul(l, n0, ll_i64(l, s->K / s->group));
    return (PackedParts){ll_at(l, l->i8, p->codes, ll_mul(l, n0, ll_i64(l, s->K * s->bits / 8))),
                         ll_at(l, l->f16, p->scales, groups), ll_at(l, l->i8, p->zeros, groups)};
}

// Row r's scale (float) and zero (float) of group g, from rows_from's parts.
static void row_group_params(Ll *l, const LinearShape *s, const PackedParts *rows, int r, LLVMValueRef g,
                             LLVMValueRef *scale, LLVMValueRef *zero) {
    LLVMValueRef idx = ll_add(l, g, ll_i64(l, r * (s->K / s->group)));
    *scale = LLVMBuildFPExt(l->b, ll_load(l, l->f16, rows->scales, idx), l->f32, "");
    *zero = LLVMBuildUIToFP(l->b, ll_load(l, l->i8, rows->zeros, idx), l->f32, "");
}

// The V codes of chunk c (at k0) of row r as floats; a 4-bit chunk's bytes are
// loaded with its even half and kept in *bytes for the odd.
static LLVMValueRef codes_as_float(Ll *l, const LinearShape *s, const PackedParts *rows, int r, int64_t c,
                                   LLVMValueRef k0, LLVMValueRef *bytes) {
    int V = gemv_lanes(s);
    LLVMTypeRef vi = LLVMVectorType(l->i32, (unsigned)V), vf = LLVMVectorType(l->f32, (unsigned)V);
    int64_t row_bytes = s->K * s->bits / 8;
    if (s->bits == 8) {
        LLVMValueRef at = ll_add(l, k0, ll_i64(l, r * row_bytes));
        return LLVMBuildSIToFP(l->b, LLVMBuildZExt(l->b, ll_vload(l, l->i8, V, rows->codes, at), vi, ""), vf, "");
    }
    if (c % 2 == 0) {
        LLVMValueRef at = ll_add(l, LLVMBuildSDiv(l->b, k0, ll_i64(l, 2), ""), ll_i64(l, r * row_bytes));
        *bytes = ll_vload(l, l->i8, V, rows->codes, at);
    }
    LLVMValueRef wide = LLVMBuildZExt(l->b, *bytes, vi, "");
    LLVMValueRef q = c % 2 == 0 ? LLVMBuildAnd(l->b, wide, ll_splat(l, ll_i32(l, 15), V), "")
                                : LLVMBuildLShr(l->b, wide, ll_splat(l, ll_i32(l, 4), V), "");
    return LLVMBuildSIToFP(l->b, q, vf, "");
}

// xs[g] = sum of x over group g, for the K/group groups of the row x.
static void group_sums(Ll *l, const LinearShape *s, LLVMValueRef x, LLVMValueRef xs) {
    int V = s->group % 16 == 0 ? 16 : s->group % 8 == 0 ? 8 : 1;
    LLVMTypeRef vf = LLVMVectorType(l->f32, (unsigned)V);
    LlLoop gl;
    ll_loop_begin(l, &gl, ll_i64(l, 0), ll_i64(l, s->K / s->group), ll_i64(l, 1), 0, NULL);
    LLVMValueRef base = ll_mul(l, gl.iv, ll_i64(l, s->group)), init = LLVMConstNull(vf);
    LlLoop in;
    ll_loop_begin(l, &in, ll_i64(l, 0), ll_i64(l, s->group), ll_i64(l, V), 1, &init);
    LLVMValueRef v = ll_vload(l, l->f32, V, x, ll_add(l, base, in.iv));
    ll_loop_set(&in, 0, LLVMBuildFAdd(l->b, in.carried[0], v, ""));
    ll_loop_end(l, &in);
    ll_store(l, l->f32, xs, gl.iv, ll_reduce_fadd(l, ll_loop_result(&in, 0)));
    ll_loop_end(l, &gl);
}

typedef struct {
    LLVMValueRef x, xs; // the activation row and its group sums
    LLVMValueRef t;     // its token index
} GemvRow;

static void gemv_rows(Ll *l, const LinearShape *s, const LinearArgs *a, const PackedParts *p, const GemvRow *x,
                      LLVMValueRef n0, int R) {
    int V = gemv_lanes(s);
    int64_t S = s->bits == 4 && s->group < 2 * V ? 2 * V : s->group;
    LLVMValueRef init[LL_MAX_CARRIED];
    for (int r = 0; r < R; r++) init[r] = LLVMConstNull(LLVMVectorType(l->f32, (unsigned)V)); // s * sum q x
    for (int r = 0; r < R; r++) init[R + r] = ll_f32(l, 0);                                  // s * z * sum x
    PackedParts rows = rows_from(l, s, p, n0);
    LlLoop sb;
    ll_loop_begin(l, &sb, ll_i64(l, 0), ll_i64(l, s->K), ll_i64(l, S), 2 * R, init);
    LLVMValueRef gacc[4] = {0}, scale[4] = {0}, zero[4] = {0}, bytes[4] = {0};
    for (int64_t c = 0; c < S / V; c++) {
        LLVMValueRef k0 = ll_add(l, sb.iv, ll_i64(l, c * V)), xv = ll_vload(l, l->f32, V, x->x, k0), xsum = NULL;
        bool group_starts = (c * V) % s->group == 0, group_ends = ((c + 1) * V) % s->group == 0;
        LLVMValueRef g = ll_add(l, LLVMBuildSDiv(l->b, sb.iv, ll_i64(l, s->group), ""), ll_i64(l, c * V / s->group));
        if (group_ends) xsum = ll_load(l, l->f32, x->xs, g);
        for (int r = 0; r < R; r++) {
            if (group_starts) row_group_params(l, s, &rows, r, g, &scale[r], &zero[r]); // once per group and row
            LLVMValueRef w = codes_as_float(l, s, &rows, r, c, k0, &bytes[r]);
            gacc[r] = group_starts ? LLVMBuildFMul(l->b, w, xv, "") : ll_fma(l, w, xv, gacc[r]);
            if (!group_ends) continue;
            ll_loop_set(&sb, r, ll_fma(l, gacc[r], ll_splat(l, scale[r], V), sb.next[r]));
            LLVMValueRef sz = LLVMBuildFMul(l->b, scale[r], zero[r], "");
            ll_loop_set(&sb, R + r, ll_fma(l, sz, xsum, sb.next[R + r]));
        }
    }
    ll_loop_end(l, &sb);
    for (int r = 0; r < R; r++) {
        LLVMValueRef v = LLVMBuildFSub(l->b, ll_reduce_fadd(l, ll_loop_result(&sb, r)), ll_loop_result(&sb, R + r), "");
        store_result(l, s, a, x->t, ll_add(l, n0, ll_i64(l, r)), v);
    }
}

static void gemv(Ll *l, const LinearShape *s, const LinearArgs *a, LLVMValueRef lo, LLVMValueRef hi,
                 LLVMValueRef scratch) {
    PackedParts p = linear_packed_parts(l, s, a->w);
    int R = l->vw >= 16 ? 4 : 2;
    GemvRow x = {.t = ll_sub(l, a->T, ll_i64(l, 1)), .xs = scratch}; // scratch's weight-row room is free here
    x.x = ll_at(l, l->f32, a->x, ll_mul(l, x.t, ll_i64(l, s->K)));
    group_sums(l, s, x.x, x.xs);
    // whole groups of R rows, then one at a time
    LLVMValueRef mid = linear_whole_steps_end(l, lo, hi, R);
    LlLoop lp;
    ll_loop_begin(l, &lp, lo, mid, ll_i64(l, R), 0, NULL);
    gemv_rows(l, s, a, &p, &x, lp.iv, R);
    ll_loop_end(l, &lp);
    ll_loop_begin(l, &lp, mid, hi, ll_i64(l, 1), 0, NULL);
    gemv_rows(l, s, a, &p, &x, lp.iv, 1);
    ll_loop_end(l, &lp);
}

// ----------------------------------------------------------------------------
// the kernel

bool emit_linear(KernelJob *j, AwqcError *err) {
    LinearShape s;
    if (!linear_shape(j, &s, err)) return false;
    Ll *l = j->l;
    kernel_phase_begin(j);
    LinearArgs a = {.T = ll_arg_int(l, AWQC_ARG_T), .row0 = ll_arg_int(l, AWQC_ARG_ROW0)};
    a.out = ll_arg_ptr(l, AWQC_ARG_OUT, l->f32);
    a.x = kernel_operand(j, s.x, l->f32);
    a.w = kernel_operand(j, s.w, s.bits ? l->i8 : l->f32);
    a.bias = s.bias >= 0 ? kernel_operand(j, s.bias, l->f32) : NULL;
    a.res = s.res >= 0 ? kernel_operand(j, s.res, l->f32) : NULL;
    LLVMValueRef scratch = ll_arg_ptr(l, AWQC_ARG_SCRATCH, l->f32);
    // scratch: PREFILL_NR weight rows, then the normalised activations
    int64_t row_room = (s.K + 15) / 16 * 16;
    if (s.g >= 0) {
        LLVMValueRef g = kernel_operand(j, s.g, l->f32);
        LLVMValueRef xn = ll_at(l, l->f32, scratch, ll_i64(l, PREFILL_NR * row_room));
        LlLoop lp;
        ll_loop_begin(l, &lp, a.row0, a.T, ll_i64(l, 1), 0, NULL);
        LLVMValueRef off = ll_mul(l, lp.iv, ll_i64(l, s.K));
        kernel_rms_norm_row(l, ll_at(l, l->f32, a.x, off), g, ll_at(l, l->f32, xn, off), s.K, s.eps);
        ll_loop_end(l, &lp);
        a.x = xn;
    }
    LLVMValueRef lo, hi;
    ll_share(l, ll_i64(l, s.N), s.vnni ? 32 : 4, &lo, &hi);
    if (s.vnni) {
        emit_linear_vnni(l, &s, &a, lo, hi, ll_at(l, l->f32, scratch, ll_i64(l, PREFILL_NR * row_room)));
    } else if (s.bits == 4 || s.bits == 8) {
        LlIf one;
        LLVMValueRef single = LLVMBuildICmp(l->b, LLVMIntEQ, ll_sub(l, a.T, a.row0), ll_i64(l, 1), "");
        LLVMBasicBlockRef many = LLVMAppendBasicBlockInContext(l->ctx, l->fn, "many");
        one.then = LLVMAppendBasicBlockInContext(l->ctx, l->fn, "one");
        one.after = LLVMAppendBasicBlockInContext(l->ctx, l->fn, "done");
        LLVMBuildCondBr(l->b, single, one.then, many);
        LLVMPositionBuilderAtEnd(l->b, one.then);
        gemv(l, &s, &a, lo, hi, scratch);
        LLVMBuildBr(l->b, one.after);
        LLVMPositionBuilderAtEnd(l->b, many);
        prefill(l, &s, &a, lo, hi, scratch, row_room);
        LLVMBuildBr(l->b, one.after);
        LLVMPositionBuilderAtEnd(l->b, one.after);
    } else {
        prefill(l, &s, &a, lo, hi, scratch, row_room);
    }
    ll_kernel_end(l);
    return true;
}
