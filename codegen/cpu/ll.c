// ll.c: the kernel-writing layer of ll.h over the LLVM C API (LLVM 14, typed
// pointers).
#include "codegen/cpu/ll.h"

#include <string.h>

#include "codegen/cpu/abi.h"
#include "common/util.h"

void ll_init(Ll *l, LLVMContextRef ctx, LLVMModuleRef mod, int vector_lanes) {
    memset(l, 0, sizeof *l);
    l->ctx = ctx;
    l->mod = mod;
    l->b = LLVMCreateBuilderInContext(ctx);
    l->i1 = LLVMInt1TypeInContext(ctx);
    l->i8 = LLVMInt8TypeInContext(ctx);
    l->i16 = LLVMInt16TypeInContext(ctx);
    l->i32 = LLVMInt32TypeInContext(ctx);
    l->i64 = LLVMInt64TypeInContext(ctx);
    l->f16 = LLVMHalfTypeInContext(ctx);
    l->f32 = LLVMFloatTypeInContext(ctx);
    l->f64 = LLVMDoubleTypeInContext(ctx);
    l->v = LLVMVoidTypeInContext(ctx);
    l->p8 = LLVMPointerType(l->i8, 0);
    l->p32f = LLVMPointerType(l->f32, 0);
    l->pi32 = LLVMPointerType(l->i32, 0);
    l->p16 = LLVMPointerType(l->f16, 0);
    l->vw = vector_lanes;
}

void ll_dispose(Ll *l) { LLVMDisposeBuilder(l->b); }

// ----------------------------------------------------------------------------
// functions and arguments

LLVMValueRef ll_kernel_begin(Ll *l, const char *name) {
    LLVMTypeRef params[3] = {LLVMPointerType(l->p8, 0), l->i64, l->i64};
    LLVMTypeRef ty = LLVMFunctionType(l->v, params, 3, 0);
    l->fn = LLVMAddFunction(l->mod, name, ty);
    LLVMSetLinkage(l->fn, LLVMInternalLinkage);
    LLVMPositionBuilderAtEnd(l->b, LLVMAppendBasicBlockInContext(l->ctx, l->fn, "entry"));
    return l->fn;
}

void ll_kernel_end(Ll *l) { LLVMBuildRetVoid(l->b); }

static LLVMValueRef arg_slot(Ll *l, int field) {
    AWQC_ASSERT(field >= 0 && field < AWQC_ARG_COUNT);
    LLVMValueRef args = LLVMGetParam(l->fn, 0);
    LLVMValueRef idx = ll_i64(l, field);
    return LLVMBuildGEP2(l->b, l->p8, args, &idx, 1, "");
}

LLVMValueRef ll_arg_ptr(Ll *l, int field, LLVMTypeRef elem) {
    LLVMValueRef p = LLVMBuildLoad2(l->b, l->p8, arg_slot(l, field), "");
    return ll_cast_ptr(l, p, elem);
}

LLVMValueRef ll_arg_int(Ll *l, int field) {
    LLVMValueRef slot = LLVMBuildBitCast(l->b, arg_slot(l, field), LLVMPointerType(l->i64, 0), "");
    return LLVMBuildLoad2(l->b, l->i64, slot, "");
}

LLVMValueRef ll_ith(Ll *l) { return LLVMGetParam(l->fn, 1); }
LLVMValueRef ll_nth(Ll *l) { return LLVMGetParam(l->fn, 2); }

// ----------------------------------------------------------------------------
// constants, memory, arithmetic

LLVMValueRef ll_i64(Ll *l, int64_t v) { return LLVMConstInt(l->i64, (unsigned long long)v, 1); }
LLVMValueRef ll_i32(Ll *l, int32_t v) { return LLVMConstInt(l->i32, (unsigned long long)(int64_t)v, 1); }
LLVMValueRef ll_f32(Ll *l, double v) { return LLVMConstReal(l->f32, v); }

LLVMValueRef ll_splat(Ll *l, LLVMValueRef scalar, int lanes) {
    LLVMTypeRef vt = LLVMVectorType(LLVMTypeOf(scalar), (unsigned)lanes);
    LLVMValueRef one = LLVMBuildInsertElement(l->b, LLVMGetUndef(vt), scalar, ll_i32(l, 0), "");
    LLVMValueRef zeros = LLVMConstNull(LLVMVectorType(l->i32, (unsigned)lanes));
    return LLVMBuildShuffleVector(l->b, one, LLVMGetUndef(vt), zeros, "");
}

LLVMValueRef ll_cast_ptr(Ll *l, LLVMValueRef p, LLVMTypeRef elem) {
    return LLVMBuildBitCast(l->b, p, LLVMPointerType(elem, 0), "");
}

LLVMValueRef ll_at(Ll *l, LLVMTypeRef elem, LLVMValueRef p, LLVMValueRef i) {
    return LLVMBuildGEP2(l->b, elem, p, &i, 1, "");
}

LLVMValueRef ll_load(Ll *l, LLVMTypeRef elem, LLVMValueRef p, LLVMValueRef i) {
    return LLVMBuildLoad2(l->b, elem, ll_at(l, elem, p, i), "");
}

void ll_store(Ll *l, LLVMTypeRef elem, LLVMValueRef p, LLVMValueRef i, LLVMValueRef v) {
    LLVMBuildStore(l->b, v, ll_at(l, elem, p, i));
}

LLVMValueRef ll_vload(Ll *l, LLVMTypeRef elem, int lanes, LLVMValueRef p, LLVMValueRef i) {
    LLVMTypeRef vt = LLVMVectorType(elem, (unsigned)lanes);
    LLVMValueRef vp = LLVMBuildBitCast(l->b, ll_at(l, elem, p, i), LLVMPointerType(vt, 0), "");
    LLVMValueRef v = LLVMBuildLoad2(l->b, vt, vp, "");
    LLVMSetAlignment(v, 1);
    return v;
}

void ll_vstore(Ll *l, LLVMTypeRef elem, LLVMValueRef p, LLVMValueRef i, LLVMValueRef v) {
    LLVMValueRef vp = LLVMBuildBitCast(l->b, ll_at(l, elem, p, i), LLVMPointerType(LLVMTypeOf(v), 0), "");
    LLVMSetAlignment(LLVMBuildStore(l->b, v, vp), 1);
}

// llvm.masked.load with a constant mask: the masked-off lanes are not
// touched, so a row's tail is read without running past its end.
LLVMValueRef ll_vload_first(Ll *l, LLVMTypeRef elem, int lanes, int n, LLVMValueRef p, LLVMValueRef i) {
    AWQC_ASSERT(n > 0 && n < lanes && lanes <= 64);
    LLVMTypeRef vt = LLVMVectorType(elem, (unsigned)lanes), pt = LLVMPointerType(vt, 0);
    LLVMValueRef bits[64];
    for (int k = 0; k < lanes; k++) bits[k] = LLVMConstInt(l->i1, k < n, 0);
    const char *name = "llvm.masked.load";
    unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
    AWQC_ASSERT(id != 0);
    LLVMTypeRef over[2] = {vt, pt};
    LLVMValueRef fn = LLVMGetIntrinsicDeclaration(l->mod, id, over, 2);
    LLVMTypeRef fty = LLVMIntrinsicGetType(l->ctx, id, over, 2);
    LLVMValueRef args[4] = {LLVMBuildBitCast(l->b, ll_at(l, elem, p, i), pt, ""), ll_i32(l, 1),
                            LLVMConstVector(bits, (unsigned)lanes), LLVMConstNull(vt)};
    return LLVMBuildCall2(l->b, fty, fn, args, 4, "");
}

LLVMValueRef ll_add(Ll *l, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildAdd(l->b, a, b, ""); }
LLVMValueRef ll_sub(Ll *l, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildSub(l->b, a, b, ""); }
LLVMValueRef ll_mul(Ll *l, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildMul(l->b, a, b, ""); }
LLVMValueRef ll_min(Ll *l, LLVMValueRef a, LLVMValueRef b) {
    return LLVMBuildSelect(l->b, LLVMBuildICmp(l->b, LLVMIntSLT, a, b, ""), a, b, "");
}

// ----------------------------------------------------------------------------
// intrinsics

// overload: the intrinsic's one overloaded type, or NULL for one that has none.
static LLVMValueRef call_intrinsic(Ll *l, const char *name, LLVMTypeRef overload, LLVMValueRef *args, int n) {
    unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
    AWQC_ASSERT(id != 0);
    size_t n_overload = overload ? 1 : 0;
    LLVMValueRef fn = LLVMGetIntrinsicDeclaration(l->mod, id, &overload, n_overload);
    LLVMTypeRef fty = LLVMIntrinsicGetType(l->ctx, id, &overload, n_overload);
    return LLVMBuildCall2(l->b, fty, fn, args, (unsigned)n, "");
}

LLVMValueRef ll_fma(Ll *l, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c) {
    LLVMValueRef args[3] = {a, b, c};
    return call_intrinsic(l, "llvm.fma", LLVMTypeOf(a), args, 3);
}

LLVMValueRef ll_unary_intrinsic(Ll *l, const char *name, LLVMValueRef x) {
    return call_intrinsic(l, name, LLVMTypeOf(x), &x, 1);
}

LLVMValueRef ll_binary_intrinsic(Ll *l, const char *name, LLVMValueRef a, LLVMValueRef b) {
    LLVMValueRef args[2] = {a, b};
    return call_intrinsic(l, name, LLVMTypeOf(a), args, 2);
}

LLVMValueRef ll_target_intrinsic(Ll *l, const char *name, LLVMValueRef *args, int n) {
    return call_intrinsic(l, name, NULL, args, n);
}

// A constant of x's type (a float, or a vector of floats like x).
static LLVMValueRef like(Ll *l, LLVMValueRef x, double v) {
    LLVMTypeRef t = LLVMTypeOf(x);
    LLVMValueRef c = ll_f32(l, v);
    return LLVMGetTypeKind(t) == LLVMVectorTypeKind ? ll_splat(l, c, (int)LLVMGetVectorSize(t)) : c;
}

// exp(x) = 2^n * exp(r), n = round(x / ln 2), r = x - n ln 2 in [-ln2/2, ln2/2]
// (ln 2 split in two so r is exact), exp(r) = 1 + r + r^2 P(r) with the
// classic degree-5 minimax P for single precision (within 2 ulp of expf);
// 2^n is built in the exponent bits. x is clamped to where that is a normal
// float: expf's overflow to inf and its denormals become the clamp's values,
// which no caller here can tell apart (1 / (1 + e^88) and e^-87 both vanish).
LLVMValueRef ll_exp(Ll *l, LLVMValueRef x) {
    static const double P[] = {1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3,
                               4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1};
    LLVMTypeRef t = LLVMTypeOf(x);
    bool vec = LLVMGetTypeKind(t) == LLVMVectorTypeKind;
    LLVMTypeRef ti = vec ? LLVMVectorType(l->i32, LLVMGetVectorSize(t)) : l->i32;
    LLVMValueRef lo = like(l, x, -87.3), hi = like(l, x, 88.3);
    x = call_intrinsic(l, "llvm.maxnum", t, (LLVMValueRef[]){x, lo}, 2);
    x = call_intrinsic(l, "llvm.minnum", t, (LLVMValueRef[]){x, hi}, 2);
    LLVMValueRef n = ll_unary_intrinsic(l, "llvm.rint", LLVMBuildFMul(l->b, x, like(l, x, 1.44269504088896341), ""));
    LLVMValueRef r = ll_fma(l, n, like(l, x, -0.693359375), x);
    r = ll_fma(l, n, like(l, x, 2.12194440e-4), r);
    LLVMValueRef p = like(l, x, P[0]);
    for (int i = 1; i < 6; i++) p = ll_fma(l, p, r, like(l, x, P[i]));
    LLVMValueRef e = ll_fma(l, LLVMBuildFMul(l->b, r, r, ""), p, LLVMBuildFAdd(l->b, r, like(l, x, 1.0), ""));
    LLVMValueRef bias = vec ? ll_splat(l, ll_i32(l, 127), (int)LLVMGetVectorSize(t)) : ll_i32(l, 127);
    LLVMValueRef bits = LLVMBuildShl(l->b, LLVMBuildAdd(l->b, LLVMBuildFPToSI(l->b, n, ti, ""), bias, ""),
                                     vec ? ll_splat(l, ll_i32(l, 23), (int)LLVMGetVectorSize(t)) : ll_i32(l, 23), "");
    return LLVMBuildFMul(l->b, e, LLVMBuildBitCast(l->b, bits, t, ""), "");
}

// Halves the vector until one lane is left: log2(lanes) steps instead of a
// sequential chain (an in-order reduction would be exact but slow).
static LLVMValueRef reduce_tree(Ll *l, LLVMValueRef v, bool is_max) {
    unsigned lanes = LLVMGetVectorSize(LLVMTypeOf(v));
    while (lanes > 1) {
        unsigned half = lanes / 2;
        LLVMValueRef lo_idx[32], hi_idx[32];
        for (unsigned i = 0; i < half; i++) {
            lo_idx[i] = ll_i32(l, (int32_t)i);
            hi_idx[i] = ll_i32(l, (int32_t)(i + half));
        }
        LLVMValueRef lo = LLVMBuildShuffleVector(l->b, v, v, LLVMConstVector(lo_idx, half), "");
        LLVMValueRef hi = LLVMBuildShuffleVector(l->b, v, v, LLVMConstVector(hi_idx, half), "");
        if (is_max) {
            LLVMValueRef args[2] = {lo, hi};
            v = call_intrinsic(l, "llvm.maxnum", LLVMTypeOf(lo), args, 2);
        } else {
            v = LLVMBuildFAdd(l->b, lo, hi, "");
        }
        lanes = half;
    }
    return LLVMBuildExtractElement(l->b, v, ll_i32(l, 0), "");
}

LLVMValueRef ll_reduce_fadd(Ll *l, LLVMValueRef v) { return reduce_tree(l, v, false); }
LLVMValueRef ll_reduce_fmax(Ll *l, LLVMValueRef v) { return reduce_tree(l, v, true); }

// Folds x and y, each made of segments of seg lanes, into one vector of
// twice as many segments of seg/2 lanes: x's then y's, each the sum of its
// segment's two halves.
static LLVMValueRef fold_pair(Ll *l, LLVMValueRef x, LLVMValueRef y, unsigned seg) {
    unsigned lanes = LLVMGetVectorSize(LLVMTypeOf(x)), k = 0;
    LLVMValueRef lo[64], hi[64];
    for (unsigned src = 0; src < 2; src++)
        for (unsigned j = 0; j < lanes / seg; j++)
            for (unsigned i = 0; i < seg / 2; i++, k++) {
                lo[k] = ll_i32(l, (int32_t)(src * lanes + j * seg + i));
                hi[k] = ll_i32(l, (int32_t)(src * lanes + j * seg + seg / 2 + i));
            }
    LLVMValueRef a = LLVMBuildShuffleVector(l->b, x, y, LLVMConstVector(lo, k), "");
    LLVMValueRef b = LLVMBuildShuffleVector(l->b, x, y, LLVMConstVector(hi, k), "");
    return LLVMBuildFAdd(l->b, a, b, "");
}

// Each segment of seg lanes of v summed by halves: a vector half as wide.
static LLVMValueRef halve_segments(Ll *l, LLVMValueRef v, unsigned seg) {
    unsigned lanes = LLVMGetVectorSize(LLVMTypeOf(v)), k = 0;
    LLVMValueRef lo[64], hi[64];
    for (unsigned j = 0; j < lanes / seg; j++)
        for (unsigned i = 0; i < seg / 2; i++, k++) {
            lo[k] = ll_i32(l, (int32_t)(j * seg + i));
            hi[k] = ll_i32(l, (int32_t)(j * seg + seg / 2 + i));
        }
    LLVMValueRef a = LLVMBuildShuffleVector(l->b, v, v, LLVMConstVector(lo, k), "");
    LLVMValueRef b = LLVMBuildShuffleVector(l->b, v, v, LLVMConstVector(hi, k), "");
    return LLVMBuildFAdd(l->b, a, b, "");
}

LLVMValueRef ll_reduce_each(Ll *l, const LLVMValueRef *v, int n) {
    unsigned lanes = LLVMGetVectorSize(LLVMTypeOf(v[0])), seg = lanes;
    AWQC_ASSERT(n >= 1 && (unsigned)n <= lanes && lanes <= 32 && (n & (n - 1)) == 0);
    LLVMValueRef cur[32];
    memcpy(cur, v, sizeof *v * (size_t)n);
    for (int m = n; m > 1; m /= 2, seg /= 2)
        for (int i = 0; i < m / 2; i++) cur[i] = fold_pair(l, cur[2 * i], cur[2 * i + 1], seg);
    LLVMValueRef r = cur[0];
    for (; seg > 1; seg /= 2) r = halve_segments(l, r, seg);
    return r;
}

LLVMValueRef ll_subvector(Ll *l, LLVMValueRef v, int first, int count) {
    AWQC_ASSERT(count >= 1 && count <= 64);
    LLVMValueRef idx[64];
    for (int i = 0; i < count; i++) idx[i] = ll_i32(l, first + i);
    return LLVMBuildShuffleVector(l->b, v, v, LLVMConstVector(idx, (unsigned)count), "");
}

// ----------------------------------------------------------------------------
// control flow

void ll_loop_begin(Ll *l, LlLoop *lp, LLVMValueRef start, LLVMValueRef end, LLVMValueRef step, int n_carried,
                   const LLVMValueRef *init) {
    AWQC_ASSERT(n_carried <= LL_MAX_CARRIED);
    memset(lp, 0, sizeof *lp);
    lp->end = end;
    lp->step = step;
    lp->pre = LLVMGetInsertBlock(l->b);
    lp->header = LLVMAppendBasicBlockInContext(l->ctx, l->fn, "loop");
    lp->body = LLVMAppendBasicBlockInContext(l->ctx, l->fn, "body");
    lp->exit = LLVMAppendBasicBlockInContext(l->ctx, l->fn, "after");
    LLVMBuildBr(l->b, lp->header);
    LLVMPositionBuilderAtEnd(l->b, lp->header);
    lp->iv = LLVMBuildPhi(l->b, l->i64, "i");
    LLVMAddIncoming(lp->iv, &start, &lp->pre, 1);
    lp->n_carried = n_carried;
    for (int k = 0; k < n_carried; k++) {
        lp->carried[k] = LLVMBuildPhi(l->b, LLVMTypeOf(init[k]), "");
        LLVMValueRef v = init[k];
        LLVMAddIncoming(lp->carried[k], &v, &lp->pre, 1);
        lp->next[k] = lp->carried[k];
    }
    LLVMBuildCondBr(l->b, LLVMBuildICmp(l->b, LLVMIntSLT, lp->iv, end, ""), lp->body, lp->exit);
    LLVMPositionBuilderAtEnd(l->b, lp->body);
}

void ll_loop_set(LlLoop *lp, int k, LLVMValueRef next) {
    AWQC_ASSERT(k < lp->n_carried);
    lp->next[k] = next;
}

void ll_loop_end(Ll *l, LlLoop *lp) {
    LLVMBasicBlockRef latch = LLVMGetInsertBlock(l->b);
    LLVMValueRef inc = LLVMBuildAdd(l->b, lp->iv, lp->step, "");
    LLVMAddIncoming(lp->iv, &inc, &latch, 1);
    for (int k = 0; k < lp->n_carried; k++) LLVMAddIncoming(lp->carried[k], &lp->next[k], &latch, 1);
    LLVMBuildBr(l->b, lp->header);
    LLVMPositionBuilderAtEnd(l->b, lp->exit);
}

void ll_if_begin(Ll *l, LlIf *c, LLVMValueRef cond) {
    c->then = LLVMAppendBasicBlockInContext(l->ctx, l->fn, "then");
    c->after = LLVMAppendBasicBlockInContext(l->ctx, l->fn, "endif");
    LLVMBuildCondBr(l->b, cond, c->then, c->after);
    LLVMPositionBuilderAtEnd(l->b, c->then);
}

void ll_if_end(Ll *l, LlIf *c) {
    LLVMBuildBr(l->b, c->after);
    LLVMPositionBuilderAtEnd(l->b, c->after);
}

void ll_share(Ll *l, LLVMValueRef n, int64_t align, LLVMValueRef *lo, LLVMValueRef *hi) {
    // chunk = ceil(ceil(n / align) / nth) * align
    LLVMValueRef units = LLVMBuildSDiv(l->b, ll_add(l, n, ll_i64(l, align - 1)), ll_i64(l, align), "");
    LLVMValueRef per = LLVMBuildSDiv(l->b, ll_sub(l, ll_add(l, units, ll_nth(l)), ll_i64(l, 1)), ll_nth(l), "");
    LLVMValueRef chunk = ll_mul(l, per, ll_i64(l, align));
    *lo = ll_min(l, ll_mul(l, ll_ith(l), chunk), n);
    *hi = ll_min(l, ll_add(l, *lo, chunk), n);
}

// ----------------------------------------------------------------------------
// dot product

LLVMValueRef ll_dot(Ll *l, LLVMValueRef a, LLVMValueRef b, int64_t n) {
    enum { ACCS = 4 };
    int vw = l->vw;
    int64_t wide = n / (vw * ACCS) * (vw * ACCS);
    LLVMValueRef zero = LLVMConstNull(LLVMVectorType(l->f32, (unsigned)vw));
    LLVMValueRef init[ACCS] = {zero, zero, zero, zero};
    LlLoop lp;
    ll_loop_begin(l, &lp, ll_i64(l, 0), ll_i64(l, wide), ll_i64(l, vw * ACCS), ACCS, init);
    for (int k = 0; k < ACCS; k++) {
        LLVMValueRef at = ll_add(l, lp.iv, ll_i64(l, k * vw));
        LLVMValueRef va = ll_vload(l, l->f32, vw, a, at), vb = ll_vload(l, l->f32, vw, b, at);
        ll_loop_set(&lp, k, ll_fma(l, va, vb, ll_loop_result(&lp, k)));
    }
    ll_loop_end(l, &lp);
    LLVMValueRef acc = LLVMBuildFAdd(l->b, LLVMBuildFAdd(l->b, ll_loop_result(&lp, 0), ll_loop_result(&lp, 1), ""),
                                     LLVMBuildFAdd(l->b, ll_loop_result(&lp, 2), ll_loop_result(&lp, 3), ""), "");
    for (int64_t k = wide; k + vw <= n; k += vw)
        acc = ll_fma(l, ll_vload(l, l->f32, vw, a, ll_i64(l, k)), ll_vload(l, l->f32, vw, b, ll_i64(l, k)), acc);
    LLVMValueRef sum = ll_reduce_fadd(l, acc);
    for (int64_t k = n / vw * vw; k < n; k++)
        sum = ll_fma(l, ll_load(l, l->f32, a, ll_i64(l, k)), ll_load(l, l->f32, b, ll_i64(l, k)), sum);
    return sum;
}
