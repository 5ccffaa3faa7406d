// elementwise.c: the row-wise and element-wise ops: embedding lookup, RMS and
// layer norm, silu/gelu/relu, add/mul, softmax, awq_scale, slice and the
// fused silu_mul. Rows (tokens) are split over threads; the loops are plain
// and left to LLVM's vectoriser, since none of them reads weights at scale.
#include <string.h>

#include "codegen/cpu/abi.h"
#include "codegen/cpu/kernels.h"

// ----------------------------------------------------------------------------
// shared pieces

// Loops over this thread's token rows; the body is emitted by the caller
// between row_loop_begin and ll_loop_end.
static void row_loop_begin(Ll *l, LlLoop *lp) {
    LLVMValueRef lo, hi;
    ll_share(l, ll_arg_int(l, AWQC_ARG_T), 1, &lo, &hi);
    ll_loop_begin(l, lp, lo, hi, ll_i64(l, 1), 0, NULL);
}

static LLVMValueRef row_at(Ll *l, LLVMValueRef base, LLVMValueRef t, int64_t width, int64_t off) {
    return ll_at(l, l->f32, base, ll_add(l, ll_mul(l, t, ll_i64(l, width)), ll_i64(l, off)));
}

void kernel_rms_norm_row(Ll *l, LLVMValueRef x, LLVMValueRef g, LLVMValueRef y, int64_t K, double eps) {
    LLVMValueRef zero = LLVMConstReal(l->f64, 0);
    LlLoop lp;
    ll_loop_begin(l, &lp, ll_i64(l, 0), ll_i64(l, K), ll_i64(l, 1), 1, &zero);
    LLVMValueRef v = LLVMBuildFPExt(l->b, ll_load(l, l->f32, x, lp.iv), l->f64, "");
    ll_loop_set(&lp, 0, LLVMBuildFAdd(l->b, ll_loop_result(&lp, 0), LLVMBuildFMul(l->b, v, v, ""), ""));
    ll_loop_end(l, &lp);
    LLVMValueRef mean = LLVMBuildFDiv(l->b, ll_loop_result(&lp, 0), LLVMConstReal(l->f64, (double)K), "");
    LLVMValueRef denom = ll_unary_intrinsic(l, "llvm.sqrt", LLVMBuildFAdd(l->b, mean, LLVMConstReal(l->f64, (float)eps), ""));
    LLVMValueRef scale = LLVMBuildFPTrunc(l->b, LLVMBuildFDiv(l->b, LLVMConstReal(l->f64, 1.0), denom, ""), l->f32, "");
    ll_loop_begin(l, &lp, ll_i64(l, 0), ll_i64(l, K), ll_i64(l, 1), 0, NULL);
    LLVMValueRef xs = LLVMBuildFMul(l->b, ll_load(l, l->f32, x, lp.iv), scale, "");
    ll_store(l, l->f32, y, lp.iv, LLVMBuildFMul(l->b, xs, ll_load(l, l->f32, g, lp.iv), ""));
    ll_loop_end(l, &lp);
}

static LLVMValueRef call_libm(Ll *l, const char *name, LLVMValueRef x) {
    LLVMTypeRef fty = LLVMFunctionType(l->f32, &l->f32, 1, 0);
    LLVMValueRef fn = LLVMGetNamedFunction(l->mod, name);
    if (!fn) fn = LLVMAddFunction(l->mod, name, fty);
    return LLVMBuildCall2(l->b, fty, fn, &x, 1, "");
}

// silu, gelu (tanh form) or relu of one float, as the interpreter writes them.
static LLVMValueRef unary(Ll *l, OpKind op, LLVMValueRef v) {
    LLVMValueRef one = ll_f32(l, 1.0);
    switch (op) {
    case OP_SILU: {
        LLVMValueRef e = ll_exp(l, LLVMBuildFNeg(l->b, v, ""));
        return LLVMBuildFDiv(l->b, v, LLVMBuildFAdd(l->b, one, e, ""), "");
    }
    case OP_RELU:
        return LLVMBuildSelect(l->b, LLVMBuildFCmp(l->b, LLVMRealOGT, v, ll_f32(l, 0), ""), v, ll_f32(l, 0), "");
    case OP_GELU: {
        LLVMValueRef cube = LLVMBuildFMul(l->b, LLVMBuildFMul(l->b, LLVMBuildFMul(l->b, ll_f32(l, 0.044715f), v, ""), v, ""), v, "");
        LLVMValueRef inner = LLVMBuildFMul(l->b, ll_f32(l, 0.7978845608f), LLVMBuildFAdd(l->b, v, cube, ""), "");
        LLVMValueRef t = LLVMBuildFAdd(l->b, one, call_libm(l, "tanhf", inner), "");
        return LLVMBuildFMul(l->b, LLVMBuildFMul(l->b, ll_f32(l, 0.5f), v, ""), t, "");
    }
    default: AWQC_PANIC("not a unary op");
    }
}

// ----------------------------------------------------------------------------
// the ops

static void emit_embedding(KernelJob *j, int64_t D) {
    Ll *l = j->l;
    LLVMValueRef table = kernel_operand(j, 0, l->f32), ids = kernel_operand(j, 1, l->i32);
    LLVMValueRef out = ll_arg_ptr(l, AWQC_ARG_OUT, l->f32);
    LlLoop lp;
    row_loop_begin(l, &lp);
    LLVMValueRef id = LLVMBuildSExt(l->b, ll_load(l, l->i32, ids, lp.iv), l->i64, "");
    LLVMValueRef src = row_at(l, table, id, D, 0), dst = row_at(l, out, lp.iv, D, 0);
    LlLoop cp;
    ll_loop_begin(l, &cp, ll_i64(l, 0), ll_i64(l, D), ll_i64(l, 1), 0, NULL);
    ll_store(l, l->f32, dst, cp.iv, ll_load(l, l->f32, src, cp.iv));
    ll_loop_end(l, &cp);
    ll_loop_end(l, &lp);
}

static void emit_layer_norm_row(Ll *l, LLVMValueRef x, LLVMValueRef w, LLVMValueRef b, LLVMValueRef y, int64_t D,
                                double eps) {
    LLVMValueRef zero = LLVMConstReal(l->f64, 0), Dd = LLVMConstReal(l->f64, (double)D);
    LlLoop lp;
    ll_loop_begin(l, &lp, ll_i64(l, 0), ll_i64(l, D), ll_i64(l, 1), 1, &zero);
    ll_loop_set(&lp, 0, LLVMBuildFAdd(l->b, ll_loop_result(&lp, 0), LLVMBuildFPExt(l->b, ll_load(l, l->f32, x, lp.iv), l->f64, ""), ""));
    ll_loop_end(l, &lp);
    LLVMValueRef mean = LLVMBuildFDiv(l->b, ll_loop_result(&lp, 0), Dd, "");
    ll_loop_begin(l, &lp, ll_i64(l, 0), ll_i64(l, D), ll_i64(l, 1), 1, &zero);
    LLVMValueRef dv = LLVMBuildFSub(l->b, LLVMBuildFPExt(l->b, ll_load(l, l->f32, x, lp.iv), l->f64, ""), mean, "");
    ll_loop_set(&lp, 0, LLVMBuildFAdd(l->b, ll_loop_result(&lp, 0), LLVMBuildFMul(l->b, dv, dv, ""), ""));
    ll_loop_end(l, &lp);
    LLVMValueRef var = LLVMBuildFDiv(l->b, ll_loop_result(&lp, 0), Dd, "");
    LLVMValueRef denom = ll_unary_intrinsic(l, "llvm.sqrt", LLVMBuildFAdd(l->b, var, LLVMConstReal(l->f64, (float)eps), ""));
    LLVMValueRef inv = LLVMBuildFPTrunc(l->b, LLVMBuildFDiv(l->b, LLVMConstReal(l->f64, 1.0), denom, ""), l->f32, "");
    ll_loop_begin(l, &lp, ll_i64(l, 0), ll_i64(l, D), ll_i64(l, 1), 0, NULL);
    LLVMValueRef c = LLVMBuildFPTrunc(l->b, LLVMBuildFSub(l->b, LLVMBuildFPExt(l->b, ll_load(l, l->f32, x, lp.iv), l->f64, ""), mean, ""), l->f32, "");
    LLVMValueRef v = LLVMBuildFMul(l->b, LLVMBuildFMul(l->b, c, inv, ""), ll_load(l, l->f32, w, lp.iv), "");
    v = LLVMBuildFAdd(l->b, v, b ? ll_load(l, l->f32, b, lp.iv) : ll_f32(l, 0), "");
    ll_store(l, l->f32, y, lp.iv, v);
    ll_loop_end(l, &lp);
}

static void emit_norm(KernelJob *j, int64_t D) {
    Ll *l = j->l;
    double eps = ir_node_attr_float(j->n, "eps", 1e-5);
    LLVMValueRef x = kernel_operand(j, 0, l->f32), w = kernel_operand(j, 1, l->f32);
    LLVMValueRef b = j->n->op == OP_LAYER_NORM && j->n->n_in > 2 ? kernel_operand(j, 2, l->f32) : NULL;
    LLVMValueRef out = ll_arg_ptr(l, AWQC_ARG_OUT, l->f32);
    LlLoop lp;
    row_loop_begin(l, &lp);
    LLVMValueRef xr = row_at(l, x, lp.iv, D, 0), yr = row_at(l, out, lp.iv, D, 0);
    if (j->n->op == OP_RMS_NORM) kernel_rms_norm_row(l, xr, w, yr, D, eps);
    else emit_layer_norm_row(l, xr, w, b, yr, D, eps);
    ll_loop_end(l, &lp);
}

// One output element per (row, column): the op's formula on the operands
// (a, b: operands 0 and 1, loaded once before the loops).
static LLVMValueRef element(KernelJob *j, LLVMValueRef a, LLVMValueRef b, LLVMValueRef t, LLVMValueRef c, int64_t D) {
    Ll *l = j->l;
    const Node *n = j->n;
    switch (n->op) {
    case OP_SILU:
    case OP_GELU:
    case OP_RELU: return unary(l, n->op, ll_load(l, l->f32, row_at(l, a, t, D, 0), c));
    case OP_ADD:
    case OP_MUL: {
        LLVMValueRef x = ll_load(l, l->f32, row_at(l, a, t, D, 0), c);
        LLVMValueRef y = ll_load(l, l->f32, row_at(l, b, t, D, 0), c);
        return n->op == OP_ADD ? LLVMBuildFAdd(l->b, x, y, "") : LLVMBuildFMul(l->b, x, y, "");
    }
    case OP_AWQ_SCALE:
        return LLVMBuildFDiv(l->b, ll_load(l, l->f32, row_at(l, a, t, D, 0), c), ll_load(l, l->f32, b, c), "");
    case OP_SLICE:
        return ll_load(l, l->f32, row_at(l, a, t, kernel_operand_width(j, 0), ir_node_attr_int(n, "offset", 0)), c);
    case OP_SILU_MUL: {
        bool merged = b == NULL;
        LLVMValueRef up = merged ? row_at(l, a, t, 2 * D, D) : row_at(l, b, t, D, 0);
        LLVMValueRef gate = ll_load(l, l->f32, row_at(l, a, t, merged ? 2 * D : D, 0), c);
        return LLVMBuildFMul(l->b, unary(l, OP_SILU, gate), ll_load(l, l->f32, up, c), "");
    }
    default: AWQC_PANIC("not an element-wise op");
    }
}

// The operand pointers are read from the arguments before the loops: the
// stores to the output could alias the argument block as far as LLVM knows,
// so loads left in the loop would be repeated for every element.
static void emit_map(KernelJob *j, int64_t D) {
    Ll *l = j->l;
    LLVMValueRef out = ll_arg_ptr(l, AWQC_ARG_OUT, l->f32);
    LLVMValueRef a = kernel_operand(j, 0, l->f32), b = j->n->n_in > 1 ? kernel_operand(j, 1, l->f32) : NULL;
    LlLoop lp, cols;
    row_loop_begin(l, &lp);
    ll_loop_begin(l, &cols, ll_i64(l, 0), ll_i64(l, D), ll_i64(l, 1), 0, NULL);
    ll_store(l, l->f32, row_at(l, out, lp.iv, D, 0), cols.iv, element(j, a, b, lp.iv, cols.iv, D));
    ll_loop_end(l, &cols);
    ll_loop_end(l, &lp);
}

static void emit_softmax(KernelJob *j, int64_t D) {
    Ll *l = j->l;
    LLVMValueRef x = kernel_operand(j, 0, l->f32), out = ll_arg_ptr(l, AWQC_ARG_OUT, l->f32);
    LlLoop lp, k;
    row_loop_begin(l, &lp);
    LLVMValueRef xr = row_at(l, x, lp.iv, D, 0), yr = row_at(l, out, lp.iv, D, 0);
    LLVMValueRef first = ll_load(l, l->f32, xr, ll_i64(l, 0));
    ll_loop_begin(l, &k, ll_i64(l, 1), ll_i64(l, D), ll_i64(l, 1), 1, &first);
    LLVMValueRef v = ll_load(l, l->f32, xr, k.iv);
    ll_loop_set(&k, 0, LLVMBuildSelect(l->b, LLVMBuildFCmp(l->b, LLVMRealOGT, v, ll_loop_result(&k, 0), ""), v,
                                       ll_loop_result(&k, 0), ""));
    ll_loop_end(l, &k);
    LLVMValueRef mx = ll_loop_result(&k, 0), zero = LLVMConstReal(l->f64, 0);
    ll_loop_begin(l, &k, ll_i64(l, 0), ll_i64(l, D), ll_i64(l, 1), 1, &zero);
    LLVMValueRef e = ll_exp(l, LLVMBuildFSub(l->b, ll_load(l, l->f32, xr, k.iv), mx, ""));
    ll_store(l, l->f32, yr, k.iv, e);
    ll_loop_set(&k, 0, LLVMBuildFAdd(l->b, ll_loop_result(&k, 0), LLVMBuildFPExt(l->b, e, l->f64, ""), ""));
    ll_loop_end(l, &k);
    LLVMValueRef sum = ll_loop_result(&k, 0);
    ll_loop_begin(l, &k, ll_i64(l, 0), ll_i64(l, D), ll_i64(l, 1), 0, NULL);
    LLVMValueRef p = LLVMBuildFDiv(l->b, LLVMBuildFPExt(l->b, ll_load(l, l->f32, yr, k.iv), l->f64, ""), sum, "");
    ll_store(l, l->f32, yr, k.iv, LLVMBuildFPTrunc(l->b, p, l->f32, ""));
    ll_loop_end(l, &k);
    ll_loop_end(l, &lp);
}

bool emit_elementwise(KernelJob *j, AwqcError *err) {
    const Node *n = j->n;
    int64_t D = n->type.dims[n->type.rank - 1].size;
    for (int i = 0; i < n->n_in; i++) {
        const Weight *w = kernel_operand_weight(j, i);
        if (w && w->type.dtype != DT_F32)
            return kernel_fail(j, err, "operand %d (@%s) is %s; only f32 weights are generated here", i, w->name,
                               ir_dtype_name(w->type.dtype));
    }
    kernel_phase_begin(j);
    switch (n->op) {
    case OP_EMBEDDING: emit_embedding(j, D); break;
    case OP_RMS_NORM:
    case OP_LAYER_NORM: emit_norm(j, D); break;
    case OP_SOFTMAX: emit_softmax(j, D); break;
    default: emit_map(j, D); break;
    }
    ll_kernel_end(j->l);
    return true;
}
