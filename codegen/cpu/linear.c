// linear.c: the linear family (linear, rms_norm_linear, linear_add) for f32,
// 4-bit (avx2-i4 / neon-i4) and 3-bit (u3-packed) weights. Decode (one row
// of activations) dequantises 4-bit codes in registers, several weight rows
// at a time so each activation vector is loaded once; more rows (prefill)
// dequantise a weight row once into scratch and take its dot with each.
#include <string.h>

#include "codegen/cpu/abi.h"
#include "codegen/cpu/kernels.h"
#include "ir/layout.h"

typedef struct {
    int x, g, w, bias, res; // operand indices (-1: absent)
    int64_t K, N;
    double eps;
    const Weight *W;
    int bits, group;
    int half;               // 4-bit layouts: codes per half block (32 avx2-i4, 16 neon-i4)
} LinearShape;

// ----------------------------------------------------------------------------
// the node's form

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
    s->bits = s->W->type.dtype == DT_Q4 ? 4 : 3;
    s->group = s->W->type.group;
    const char *want = s->bits == 4 ? NULL : "u3-packed";
    if (!s->W->layout) return kernel_fail(j, err, "weight @%s is not packed (run pack-weights)", s->W->name);
    if (s->bits == 4 && strcmp(s->W->layout, "avx2-i4") == 0) s->half = 32;
    else if (s->bits == 4 && strcmp(s->W->layout, "neon-i4") == 0) s->half = 16;
    else if (!want || strcmp(s->W->layout, want) != 0)
        return kernel_fail(j, err, "weight @%s: layout '%s' has no CPU kernel", s->W->name, s->W->layout);
    return true;
}

// ----------------------------------------------------------------------------
// packed weights: where a row's codes, scales and zeros are

typedef struct {
    LLVMValueRef codes;  // i8*: the first row's codes
    LLVMValueRef scales; // half*: [N, K/group]
    LLVMValueRef zeros;  // i8*: [N, K/group]
} PackedParts;

static PackedParts packed_parts(Ll *l, const LinearShape *s, LLVMValueRef base) {
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

// ----------------------------------------------------------------------------
// the epilogue: bias and residual

typedef struct {
    LLVMValueRef x, w, bias, res, out; // activations, weight (f32* or i8*), optional bias/res, output
    LLVMValueRef T, row0;
} LinearArgs;

static void store_result(Ll *l, const LinearShape *s, const LinearArgs *a, LLVMValueRef t, LLVMValueRef n,
                         LLVMValueRef v) {
    LLVMValueRef at = ll_add(l, ll_mul(l, t, ll_i64(l, s->N)), n);
    if (a->bias) v = LLVMBuildFAdd(l->b, v, ll_load(l, l->f32, a->bias, n), "");
    if (a->res) v = LLVMBuildFAdd(l->b, ll_load(l, l->f32, a->res, at), v, "");
    ll_store(l, l->f32, a->out, at, v);
}

// ----------------------------------------------------------------------------
// rows [lo, hi) for every token row in [row0, T): a float weight row, then
// its dot with each activation row

static void rows_by_dot(Ll *l, const LinearShape *s, const LinearArgs *a, LLVMValueRef lo, LLVMValueRef hi,
                        LLVMValueRef scratch_row) {
    PackedParts p = s->bits ? packed_parts(l, s, a->w) : (PackedParts){0};
    LlLoop rows;
    ll_loop_begin(l, &rows, lo, hi, ll_i64(l, 1), 0, NULL);
    LLVMValueRef wrow;
    if (s->bits == 0) {
        wrow = ll_at(l, l->f32, a->w, ll_mul(l, rows.iv, ll_i64(l, s->K)));
    } else {
        (s->bits == 4 ? dequant_row_q4 : dequant_row_q3)(l, s, &p, rows.iv, scratch_row);
        wrow = scratch_row;
    }
    LlLoop toks;
    ll_loop_begin(l, &toks, a->row0, a->T, ll_i64(l, 1), 0, NULL);
    LLVMValueRef xrow = ll_at(l, l->f32, a->x, ll_mul(l, toks.iv, ll_i64(l, s->K)));
    store_result(l, s, a, toks.iv, rows.iv, ll_dot(l, xrow, wrow, s->K));
    ll_loop_end(l, &toks);
    ll_loop_end(l, &rows);
}

// ----------------------------------------------------------------------------
// decode: R rows of 4-bit codes against one activation row, dequantised in
// registers. The row is walked in super-blocks of S = max(group, 2*half)
// codes so that, inside one, every chunk of `half` codes has a constant block,
// half and group.

static void gemv_q4_rows(Ll *l, const LinearShape *s, const LinearArgs *a, const PackedParts *p, LLVMValueRef n0,
                         int R, LLVMValueRef t) {
    int H = s->half;
    int64_t S = s->group > 2 * H ? s->group : 2 * H, row_bytes = s->K / 2;
    LLVMValueRef x = ll_at(l, l->f32, a->x, ll_mul(l, t, ll_i64(l, s->K)));
    LLVMValueRef zero = LLVMConstNull(LLVMVectorType(l->f32, (unsigned)H)), init[LL_MAX_CARRIED];
    for (int r = 0; r < R; r++) init[r] = zero;
    LlLoop sb;
    ll_loop_begin(l, &sb, ll_i64(l, 0), ll_i64(l, s->K), ll_i64(l, S), R, init);
    LLVMValueRef gacc[8] = {0}, scale[8] = {0}, zp[8] = {0}, bytes[8][64] = {{0}};
    for (int64_t c = 0; c < S / H; c++) {
        LLVMValueRef k0 = ll_add(l, sb.iv, ll_i64(l, c * H));
        LLVMValueRef xv = ll_vload(l, l->f32, H, x, k0);
        int64_t gl = c * H / s->group; // group within the super-block
        bool group_starts = (c * H) % s->group == 0, group_ends = ((c + 1) * H) % s->group == 0;
        for (int r = 0; r < R; r++) {
            LLVMValueRef n = ll_add(l, n0, ll_i64(l, r));
            if (c % 2 == 0) {
                LLVMValueRef row = ll_at(l, l->i8, p->codes, ll_mul(l, n, ll_i64(l, row_bytes)));
                bytes[r][c / 2] = ll_vload(l, l->i8, H, row, LLVMBuildSDiv(l->b, k0, ll_i64(l, 2), ""));
            }
            if (group_starts) { // the group's scale and zero, once per row
                LLVMValueRef g = ll_add(l, LLVMBuildSDiv(l->b, sb.iv, ll_i64(l, s->group), ""), ll_i64(l, gl));
                group_params(l, s, p, n, g, &scale[r], &zp[r]);
            }
            LLVMValueRef w = nibbles_minus_zero(l, s, bytes[r][c / 2], (int)(c % 2), zp[r]);
            gacc[r] = group_starts ? LLVMBuildFMul(l->b, w, xv, "") : ll_fma(l, w, xv, gacc[r]);
            if (group_ends) ll_loop_set(&sb, r, ll_fma(l, gacc[r], ll_splat(l, scale[r], H), sb.next[r]));
        }
    }
    ll_loop_end(l, &sb);
    for (int r = 0; r < R; r++)
        store_result(l, s, a, t, ll_add(l, n0, ll_i64(l, r)), ll_reduce_fadd(l, ll_loop_result(&sb, r)));
}

static void gemv_q4(Ll *l, const LinearShape *s, const LinearArgs *a, LLVMValueRef lo, LLVMValueRef hi) {
    PackedParts p = packed_parts(l, s, a->w);
    int R = l->vw >= 16 ? 4 : 2;
    LLVMValueRef t = ll_sub(l, a->T, ll_i64(l, 1));
    // whole groups of R rows, then one at a time
    LLVMValueRef span = ll_sub(l, hi, lo);
    LLVMValueRef mid = ll_add(l, lo, ll_mul(l, LLVMBuildSDiv(l->b, span, ll_i64(l, R), ""), ll_i64(l, R)));
    LlLoop lp;
    ll_loop_begin(l, &lp, lo, mid, ll_i64(l, R), 0, NULL);
    gemv_q4_rows(l, s, a, &p, lp.iv, R, t);
    ll_loop_end(l, &lp);
    ll_loop_begin(l, &lp, mid, hi, ll_i64(l, 1), 0, NULL);
    gemv_q4_rows(l, s, a, &p, lp.iv, 1, t);
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
    int64_t row_room = (s.K + 15) / 16 * 16; // scratch: a weight row, then normalised activations
    if (s.g >= 0) {
        LLVMValueRef g = kernel_operand(j, s.g, l->f32), xn = ll_at(l, l->f32, scratch, ll_i64(l, row_room));
        LlLoop lp;
        ll_loop_begin(l, &lp, a.row0, a.T, ll_i64(l, 1), 0, NULL);
        LLVMValueRef off = ll_mul(l, lp.iv, ll_i64(l, s.K));
        kernel_rms_norm_row(l, ll_at(l, l->f32, a.x, off), g, ll_at(l, l->f32, xn, off), s.K, s.eps);
        ll_loop_end(l, &lp);
        a.x = xn;
    }
    LLVMValueRef lo, hi;
    ll_share(l, ll_i64(l, s.N), 4, &lo, &hi);
    if (s.bits == 4) {
        LlIf one;
        LLVMValueRef single = LLVMBuildICmp(l->b, LLVMIntEQ, ll_sub(l, a.T, a.row0), ll_i64(l, 1), "");
        LLVMBasicBlockRef many = LLVMAppendBasicBlockInContext(l->ctx, l->fn, "many");
        one.then = LLVMAppendBasicBlockInContext(l->ctx, l->fn, "one");
        one.after = LLVMAppendBasicBlockInContext(l->ctx, l->fn, "done");
        LLVMBuildCondBr(l->b, single, one.then, many);
        LLVMPositionBuilderAtEnd(l->b, one.then);
        gemv_q4(l, &s, &a, lo, hi);
        LLVMBuildBr(l->b, one.after);
        LLVMPositionBuilderAtEnd(l->b, many);
        rows_by_dot(l, &s, &a, lo, hi, scratch);
        LLVMBuildBr(l->b, one.after);
        LLVMPositionBuilderAtEnd(l->b, one.after);
    } else {
        rows_by_dot(l, &s, &a, lo, hi, scratch);
    }
    ll_kernel_end(l);
    return true;
}
