// attention.c: rotary embedding and causal attention over the KV cache
// (rope_attention, attention, rope). rope_attention runs in two phases: first
// each token's q is rotated into the output and its k and v are written to
// the cache (split by token), then every (token, head) attends over the cache
// (split by token and head), so no thread reads a cache row being written.
#include <math.h>
#include <string.h>

#include "codegen/cpu/abi.h"
#include "codegen/cpu/kernels.h"

typedef struct {
    int heads, kv_heads, hd;
    bool rope, halves;
    float theta;
    int q, k, v;          // operand indices, or all 0 for one merged qkv operand
    int64_t q_off, k_off, v_off, stride; // columns within the operand rows
} AttnShape;

static bool attn_shape(KernelJob *j, AttnShape *s, AwqcError *err) {
    const Node *n = j->n;
    s->heads = (int)ir_node_attr_int(n, "heads", 0);
    s->kv_heads = (int)ir_node_attr_int(n, "kv_heads", s->heads);
    s->hd = (int)ir_node_attr_int(n, "head_dim", 0);
    s->rope = n->op != OP_ATTENTION;
    s->halves = strcmp(ir_node_attr_string(n, "mode", "pairs"), "halves") == 0;
    s->theta = (float)ir_node_attr_float(n, "theta", 10000.0);
    if (s->heads <= 0 || s->hd <= 0 || s->hd % 2 || s->kv_heads <= 0 || s->heads % s->kv_heads)
        return kernel_fail(j, err, "heads %d, kv_heads %d, head_dim %d cannot be generated", s->heads, s->kv_heads,
                           s->hd);
    int64_t qd = (int64_t)s->heads * s->hd, kvd = (int64_t)s->kv_heads * s->hd;
    if (n->n_in == 1) {
        *s = (AttnShape){.heads = s->heads, .kv_heads = s->kv_heads, .hd = s->hd, .rope = s->rope,
                         .halves = s->halves, .theta = s->theta, .q_off = 0, .k_off = qd, .v_off = qd + kvd,
                         .stride = qd + 2 * kvd};
    } else {
        s->q = 0, s->k = 1, s->v = 2;
        s->q_off = s->k_off = s->v_off = 0;
        s->stride = -1; // each operand its own width
    }
    return true;
}

// ----------------------------------------------------------------------------
// rotary

// cos and sin of (pos + t) * theta^(-2i/hd) for i < hd/2 into cs[0..hd/2) and
// cs[hd/2..hd). The frequencies are constants, computed here as the
// interpreter computes them.
static void rope_table(Ll *l, const AttnShape *s, LLVMValueRef position, LLVMValueRef cs) {
    LLVMValueRef p = LLVMBuildSIToFP(l->b, position, l->f32, "");
    for (int i = 0; i < s->hd / 2; i++) {
        float inv_freq = 1.0f / powf(s->theta, (float)(2 * i) / (float)s->hd);
        LLVMValueRef angle = LLVMBuildFMul(l->b, p, ll_f32(l, inv_freq), "");
        ll_store(l, l->f32, cs, ll_i64(l, i), ll_unary_intrinsic(l, "llvm.cos", angle));
        ll_store(l, l->f32, cs, ll_i64(l, s->hd / 2 + i), ll_unary_intrinsic(l, "llvm.sin", angle));
    }
}

// y[0..hd) = x[0..hd) rotated (or copied when the node has no rope).
static void rotate_head(Ll *l, const AttnShape *s, LLVMValueRef x, LLVMValueRef y, LLVMValueRef cs) {
    if (!s->rope) {
        for (int d = 0; d < s->hd; d++) ll_store(l, l->f32, y, ll_i64(l, d), ll_load(l, l->f32, x, ll_i64(l, d)));
        return;
    }
    for (int i = 0; i < s->hd / 2; i++) {
        int a = s->halves ? i : 2 * i, b = s->halves ? i + s->hd / 2 : 2 * i + 1;
        LLVMValueRef c = ll_load(l, l->f32, cs, ll_i64(l, i)), sn = ll_load(l, l->f32, cs, ll_i64(l, s->hd / 2 + i));
        LLVMValueRef x0 = ll_load(l, l->f32, x, ll_i64(l, a)), x1 = ll_load(l, l->f32, x, ll_i64(l, b));
        LLVMValueRef ya = LLVMBuildFSub(l->b, LLVMBuildFMul(l->b, x0, c, ""), LLVMBuildFMul(l->b, x1, sn, ""), "");
        LLVMValueRef yb = LLVMBuildFAdd(l->b, LLVMBuildFMul(l->b, x0, sn, ""), LLVMBuildFMul(l->b, x1, c, ""), "");
        ll_store(l, l->f32, y, ll_i64(l, a), ya);
        ll_store(l, l->f32, y, ll_i64(l, b), yb);
    }
}

static void copy_floats(Ll *l, LLVMValueRef x, LLVMValueRef y, int64_t n) {
    for (int64_t d = 0; d < n; d++) ll_store(l, l->f32, y, ll_i64(l, d), ll_load(l, l->f32, x, ll_i64(l, d)));
}

// What both phases read from the arguments, once, before their loops.
typedef struct {
    LLVMValueRef T, pos, out, scratch, kc, vc;
    LLVMValueRef part[3]; // q, k, v bases (one merged operand: all three the same)
} PhaseArgs;

static PhaseArgs phase_args(KernelJob *j, const AttnShape *s) {
    Ll *l = j->l;
    PhaseArgs a = {ll_arg_int(l, AWQC_ARG_T), ll_arg_int(l, AWQC_ARG_POS), ll_arg_ptr(l, AWQC_ARG_OUT, l->f32),
                   ll_arg_ptr(l, AWQC_ARG_SCRATCH, l->f32), ll_arg_ptr(l, AWQC_ARG_K, l->f32),
                   ll_arg_ptr(l, AWQC_ARG_V, l->f32), {NULL, NULL, NULL}};
    int which[3] = {s->q, s->k, s->v};
    for (int i = 0; i < 3 && j->n->op != OP_ROPE; i++) a.part[i] = kernel_operand(j, s->stride > 0 ? 0 : which[i], l->f32);
    return a;
}

// Part i (0 q, 1 k, 2 v) of token t, head h: a float*.
static LLVMValueRef part_at(Ll *l, const AttnShape *s, const PhaseArgs *a, int i, int64_t off, int64_t width,
                            LLVMValueRef t, int h) {
    int64_t stride = s->stride > 0 ? s->stride : width;
    LLVMValueRef at = ll_add(l, ll_mul(l, t, ll_i64(l, stride)), ll_i64(l, off + (int64_t)h * s->hd));
    return ll_at(l, l->f32, a->part[i], at);
}

// Phase 0, for the tokens of this thread: q rotated into the output, k
// rotated and v copied into the cache rows pos + t.
static void emit_store_phase(KernelJob *j, const AttnShape *s) {
    Ll *l = j->l;
    kernel_phase_begin(j);
    PhaseArgs a = phase_args(j, s);
    int64_t qd = (int64_t)s->heads * s->hd, kvd = (int64_t)s->kv_heads * s->hd;
    LLVMValueRef lo, hi;
    ll_share(l, a.T, 1, &lo, &hi);
    LlLoop lp;
    ll_loop_begin(l, &lp, lo, hi, ll_i64(l, 1), 0, NULL);
    LLVMValueRef t = lp.iv, row = ll_add(l, a.pos, t);
    if (s->rope) rope_table(l, s, row, a.scratch);
    for (int h = 0; h < s->heads; h++) {
        LLVMValueRef y = ll_at(l, l->f32, a.out, ll_add(l, ll_mul(l, t, ll_i64(l, qd)), ll_i64(l, (int64_t)h * s->hd)));
        rotate_head(l, s, part_at(l, s, &a, 0, s->q_off, qd, t, h), y, a.scratch);
    }
    for (int h = 0; h < s->kv_heads; h++) {
        LLVMValueRef at = ll_add(l, ll_mul(l, row, ll_i64(l, kvd)), ll_i64(l, (int64_t)h * s->hd));
        rotate_head(l, s, part_at(l, s, &a, 1, s->k_off, kvd, t, h), ll_at(l, l->f32, a.kc, at), a.scratch);
        copy_floats(l, part_at(l, s, &a, 2, s->v_off, kvd, t, h), ll_at(l, l->f32, a.vc, at), s->hd);
    }
    ll_loop_end(l, &lp);
    ll_kernel_end(l);
}

// ----------------------------------------------------------------------------
// attention

// out = sum_j softmax(q.k_j / sqrt(hd))_j v_j over cache rows 0..n_keys-1
// (kc, vc point at the kv head's column); q is copied first because out is where it was written.
static void attend_one(Ll *l, const AttnShape *s, LLVMValueRef out, LLVMValueRef kc, LLVMValueRef vc,
                       LLVMValueRef scratch, LLVMValueRef n_keys) {
    int64_t kvd = (int64_t)s->kv_heads * s->hd;
    LLVMValueRef q = scratch, score = ll_at(l, l->f32, scratch, ll_i64(l, (s->hd + 15) / 16 * 16));
    copy_floats(l, out, q, s->hd);
    LLVMValueRef scale = ll_f32(l, 1.0f / sqrtf((float)s->hd)), neg_inf = ll_f32(l, -INFINITY);
    LlLoop lp;
    ll_loop_begin(l, &lp, ll_i64(l, 0), n_keys, ll_i64(l, 1), 1, &neg_inf);
    LLVMValueRef krow = ll_at(l, l->f32, kc, ll_mul(l, lp.iv, ll_i64(l, kvd)));
    LLVMValueRef sc = LLVMBuildFMul(l->b, ll_dot(l, q, krow, s->hd), scale, "");
    ll_store(l, l->f32, score, lp.iv, sc);
    LLVMValueRef args_max = LLVMBuildSelect(l->b, LLVMBuildFCmp(l->b, LLVMRealOGT, sc, ll_loop_result(&lp, 0), ""),
                                            sc, ll_loop_result(&lp, 0), "");
    ll_loop_set(&lp, 0, args_max);
    ll_loop_end(l, &lp);
    LLVMValueRef mx = ll_loop_result(&lp, 0), zero_d = LLVMConstReal(l->f64, 0);
    ll_loop_begin(l, &lp, ll_i64(l, 0), n_keys, ll_i64(l, 1), 1, &zero_d);
    LLVMValueRef e = ll_exp(l, LLVMBuildFSub(l->b, ll_load(l, l->f32, score, lp.iv), mx, ""));
    ll_store(l, l->f32, score, lp.iv, e);
    ll_loop_set(&lp, 0, LLVMBuildFAdd(l->b, ll_loop_result(&lp, 0), LLVMBuildFPExt(l->b, e, l->f64, ""), ""));
    ll_loop_end(l, &lp);
    LLVMValueRef sum = ll_loop_result(&lp, 0);
    for (int d = 0; d < s->hd; d++) ll_store(l, l->f32, out, ll_i64(l, d), ll_f32(l, 0));
    ll_loop_begin(l, &lp, ll_i64(l, 0), n_keys, ll_i64(l, 1), 0, NULL);
    LLVMValueRef pd = LLVMBuildFDiv(l->b, LLVMBuildFPExt(l->b, ll_load(l, l->f32, score, lp.iv), l->f64, ""), sum, "");
    LLVMValueRef p = LLVMBuildFPTrunc(l->b, pd, l->f32, "");
    LLVMValueRef vrow = ll_at(l, l->f32, vc, ll_mul(l, lp.iv, ll_i64(l, kvd)));
    int vw = s->hd % l->vw == 0 ? l->vw : 1;
    LLVMValueRef pv = vw > 1 ? ll_splat(l, p, vw) : p;
    for (int d = 0; d < s->hd; d += vw) {
        LLVMValueRef at = ll_i64(l, d);
        LLVMValueRef o = vw > 1 ? ll_vload(l, l->f32, vw, out, at) : ll_load(l, l->f32, out, at);
        LLVMValueRef v = vw > 1 ? ll_vload(l, l->f32, vw, vrow, at) : ll_load(l, l->f32, vrow, at);
        LLVMValueRef r = LLVMBuildFAdd(l->b, o, LLVMBuildFMul(l->b, pv, v, ""), "");
        if (vw > 1) ll_vstore(l, l->f32, out, at, r);
        else ll_store(l, l->f32, out, at, r);
    }
    ll_loop_end(l, &lp);
}

// Phase 1: the (token, head) pairs of this thread.
static void emit_attend_phase(KernelJob *j, const AttnShape *s) {
    Ll *l = j->l;
    kernel_phase_begin(j);
    PhaseArgs a = phase_args(j, s);
    int group = s->heads / s->kv_heads;
    LLVMValueRef lo, hi;
    ll_share(l, ll_mul(l, a.T, ll_i64(l, s->heads)), 1, &lo, &hi);
    LlLoop lp;
    ll_loop_begin(l, &lp, lo, hi, ll_i64(l, 1), 0, NULL);
    LLVMValueRef t = LLVMBuildSDiv(l->b, lp.iv, ll_i64(l, s->heads), "");
    LLVMValueRef h = LLVMBuildSRem(l->b, lp.iv, ll_i64(l, s->heads), "");
    LLVMValueRef n_keys = ll_add(l, ll_add(l, a.pos, t), ll_i64(l, 1));
    LLVMValueRef y = ll_at(l, l->f32, a.out, ll_mul(l, lp.iv, ll_i64(l, s->hd)));
    // the kv head is a runtime value: offset the cache pointers by its column
    LLVMValueRef col = ll_mul(l, LLVMBuildSDiv(l->b, h, ll_i64(l, group), ""), ll_i64(l, s->hd));
    attend_one(l, s, y, ll_at(l, l->f32, a.kc, col), ll_at(l, l->f32, a.vc, col), a.scratch, n_keys);
    ll_loop_end(l, &lp);
    ll_kernel_end(l);
}

// ----------------------------------------------------------------------------
// rope alone: rotate every head of each token

static void emit_rope(KernelJob *j, const AttnShape *s) {
    Ll *l = j->l;
    kernel_phase_begin(j);
    PhaseArgs a = phase_args(j, s);
    LLVMValueRef x = kernel_operand(j, 0, l->f32);
    int64_t D = (int64_t)s->heads * s->hd;
    LLVMValueRef lo, hi;
    ll_share(l, a.T, 1, &lo, &hi);
    LlLoop lp;
    ll_loop_begin(l, &lp, lo, hi, ll_i64(l, 1), 0, NULL);
    rope_table(l, s, ll_add(l, a.pos, lp.iv), a.scratch);
    for (int h = 0; h < s->heads; h++) {
        LLVMValueRef at = ll_add(l, ll_mul(l, lp.iv, ll_i64(l, D)), ll_i64(l, (int64_t)h * s->hd));
        rotate_head(l, s, ll_at(l, l->f32, x, at), ll_at(l, l->f32, a.out, at), a.scratch);
    }
    ll_loop_end(l, &lp);
    ll_kernel_end(l);
}

bool emit_attention(KernelJob *j, AwqcError *err) {
    AttnShape s = {0};
    if (j->n->op == OP_ROPE) {
        s.heads = (int)ir_node_attr_int(j->n, "heads", 0);
        s.hd = (int)ir_node_attr_int(j->n, "head_dim", 0);
        s.rope = true;
        s.halves = strcmp(ir_node_attr_string(j->n, "mode", "pairs"), "halves") == 0;
        s.theta = (float)ir_node_attr_float(j->n, "theta", 10000.0);
        if (s.heads <= 0 || s.hd <= 0 || s.hd % 2) return kernel_fail(j, err, "bad heads or head_dim");
        emit_rope(j, &s);
        return true;
    }
    if (!attn_shape(j, &s, err)) return false;
    emit_store_phase(j, &s);
    emit_attend_phase(j, &s);
    return true;
}
