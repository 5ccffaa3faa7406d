// emit.c: what CUDA kernels each plan node runs as, and the .cu text: the
// templates of kernels.cuh followed by one extern "C" wrapper per distinct
// (kernel, shape) the plan launches, so every kernel is specialised by the
// plan's constants. The runtime asks cuda_node_launches the same questions.
#include "codegen/cuda/cuda_codegen.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ir/layout.h"
#include "ir/uses.h"

extern const char cuda_kernels_cuh[]; // kernels.cuh, embedded by CMake

// A node's launches with the template call each wrapper makes.
typedef struct {
    CudaNodeLaunches *out;
    char call[CUDA_MAX_LAUNCHES][160];
} NodePlan;

// ----------------------------------------------------------------------------
// operands and shapes

static bool node_fail(AwqcError *err, const Graph *g, int i, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static bool node_fail(AwqcError *err, const Graph *g, int i, const char *fmt, ...) {
    char what[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return awqc_fail(err, "graph '%s': %%%d = %s: CUDA codegen: %s", g->name ? g->name : "?", i,
                     ir_op_name(g->nodes[i].op), what);
}

// Values must be f32 rows [T, constants...] (token ids for the input).
static bool check_rows(const Graph *g, int i, const Type *t, AwqcError *err) {
    bool ok = t->rank >= 1 && t->dims[0].kind == DIM_T;
    for (int d = 1; d < t->rank; d++) ok = ok && t->dims[d].kind == DIM_CONST;
    if (!ok) return node_fail(err, g, i, "values must be shaped [T, constant...]");
    if (t->dtype != DT_F32 && g->nodes[i].op != OP_INPUT)
        return node_fail(err, g, i, "values must be f32, not %s", ir_dtype_name(t->dtype));
    return true;
}

// Operands other than a linear's matrix: node values, or f32 weights.
static bool check_operands(const Graph *g, int i, int skip, AwqcError *err) {
    const Node *n = &g->nodes[i];
    for (int k = 0; k < n->n_in; k++) {
        if (k == skip || n->in[k].kind != OPND_WEIGHT) continue;
        const Weight *w = &g->weights[n->in[k].index];
        if (w->type.dtype != DT_F32)
            return node_fail(err, g, i, "operand %d (@%s) must be an f32 weight, not %s", k, w->name,
                             ir_dtype_name(w->type.dtype));
    }
    return true;
}

static int64_t opnd_width(const Graph *g, const Node *n, int k) { return ir_row_width(ir_operand_type(g, n->in[k])); }

// ----------------------------------------------------------------------------
// launches

// The kernel's name spells its template arguments (true/false as 1/0), so
// there is one wrapper per distinct shape: "gemv_q4_960_576_64_4_8_3_1_0_0_0_0_1".
static void spell_name(char *name, const char *tmpl, const char *targs) {
    StrBuf b = {0};
    sb_append(&b, tmpl);
    for (const char *c = targs; *c;) {
        size_t len = strcspn(c, ",");
        while (len && *c == ' ') c++, len--;
        sb_append(&b, "_");
        if (len == 4 && !strncmp(c, "true", 4)) sb_append(&b, "1");
        else if (len == 5 && !strncmp(c, "false", 5)) sb_append(&b, "0");
        else sb_append_n(&b, c, len);
        c += len + (c[len] == ',');
    }
    char *s = sb_finish(&b);
    AWQC_ASSERT(strlen(s) < CUDA_KERNEL_NAME_MAX);
    strcpy(name, s);
    free(s);
}

static void add_launch(NodePlan *p, const char *tmpl, int gx, CudaGridY gy, int bx, int by, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
static void add_launch(NodePlan *p, const char *tmpl, int gx, CudaGridY gy, int bx, int by, const char *fmt, ...) {
    AWQC_ASSERT(p->out->n < CUDA_MAX_LAUNCHES);
    int k = p->out->n++;
    CudaLaunch *l = &p->out->l[k];
    char targs[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(targs, sizeof targs, fmt, ap);
    va_end(ap);
    *l = (CudaLaunch){.grid_x = gx, .grid_y = gy, .block_x = bx, .block_y = by};
    snprintf(p->call[k], sizeof p->call[k], "%s<%s>(a)", tmpl, targs);
    spell_name(l->name, tmpl, targs);
}

static int ceil_div(int64_t a, int64_t b) { return (int)((a + b - 1) / b); }

// The q4 GEMV's thread shape (gemv_q4 in kernels.cuh): VW words per load,
// the widest that divides the row; R rows per thread, the most (the fewest
// partial sums) that still give >= 256 blocks per token, at least 8 and a
// divisor of the group; S blocks splitting K (1 unless split).
typedef struct {
    int vw, rows, splits, col_blocks;
} GemvShape;

static GemvShape gemv_shape(int64_t N, int64_t K, int G, bool split) {
    int64_t words = N / 8;
    GemvShape s = {.vw = words % 4 == 0 ? 4 : words % 2 == 0 ? 2 : 1, .rows = G, .col_blocks = ceil_div(words, 32)};
    int64_t per_block = 8 * s.vw; // units of R rows a block's threads take at once
    while (split && s.rows > 8 && s.rows % 2 == 0 && s.col_blocks * ceil_div(K, per_block * s.rows) < 256) s.rows /= 2;
    s.splits = split ? ceil_div(K, per_block * s.rows) : 1;
    return s;
}

static const char *tf(bool b) { return b ? "true" : "false"; }

// The graph's cuda_gemv_stages (awqc compile --gemv-stages): 1 when absent;
// 0 (after node_fail) when it is not 1 or 2.
#define GEMV_STAGES_META "cuda_gemv_stages"
static int gemv_stages(const Graph *g, int i, AwqcError *err) {
    const Meta *m = ir_get_meta(g, GEMV_STAGES_META);
    if (!m) return 1;
    if (m->value.kind != ATTR_INT || (m->value.i != 1 && m->value.i != 2))
        return node_fail(err, g, i, "graph attribute " GEMV_STAGES_META " must be 1 or 2 (the q4 GEMV's copy "
                         "stages)"), 0;
    return (int)m->value.i;
}


// Whether node i is a silu_mul of a merged gate|up that the q4 GEMV of node
// i + 1 computes in its loads of x (T < CUDA_MMA_MIN_T: one launch fewer per
// layer at decode). Only when i + 1 is its one reader (not a graph output),
// reads it as operand 0, and does not write where gate|up lives (a GEMV
// writes outputs while other blocks still read x; plan-memory keeps the two
// apart for GPU targets).
static bool silu_folds(const Graph *g, int i, int T) {
    if (T >= CUDA_MMA_MIN_T || (size_t)i + 1 >= g->n_nodes) return false;
    const Node *n = &g->nodes[i], *c = &g->nodes[i + 1];
    if (n->op != OP_SILU_MUL || n->n_in != 1 || n->in[0].kind != OPND_NODE) return false;
    if ((c->op != OP_LINEAR && c->op != OP_LINEAR_ADD) || c->in[0].kind != OPND_NODE || c->in[0].index != i) return false;
    const Weight *w = ir_linear_weight(g, c);
    if (!w || w->type.dtype != DT_Q4 || ir_sole_reader(g, i) != i + 1) return false;
    int64_t out_buf = ir_node_attr_int(c, "buf", -1);
    return out_buf < 0 || out_buf != ir_node_attr_int(&g->nodes[n->in[0].index], "buf", -2);
}

// linear, rms_norm_linear, linear_add: the matrix is operand wi.
static bool plan_linear(const Graph *g, int i, int T, bool norm, bool res, NodePlan *p, AwqcError *err) {
    const Node *n = &g->nodes[i];
    int wi = ir_linear_matrix_operand(n);
    bool bias = n->n_in > wi + 1 + res;
    if (n->in[wi].kind != OPND_WEIGHT) return node_fail(err, g, i, "the matrix must be a weight, not a computed value");
    if (!check_operands(g, i, wi, err)) return false;
    const Weight *w = &g->weights[n->in[wi].index];
    int64_t N = ir_row_width(&n->type), K = opnd_width(g, n, 0);
    if (norm) p->out->scratch_per_token = K;
    if (w->type.dtype == DT_F32) { // read as f16: the runtime uploads f32 matrices so
        add_launch(p, "gemv_h16", ceil_div(N, 8), CUDA_GRID_T, 256, 1, "%lld, %lld, %s, %s, %s", (long long)N,
                   (long long)K, tf(norm), tf(res), tf(bias));
        return true;
    }
    if (!ir_weight_is_q4_gemm(w))
        return node_fail(err, g, i, "weight @%s is %s%s%s; the CUDA kernels read f32 or q4 in layout awq-gemm "
                         "(compile with --target cuda:sm_XX so pack-weights packs it)", w->name,
                         ir_dtype_name(w->type.dtype), w->layout ? " in layout " : " (not packed)",
                         w->layout ? w->layout : "");
    int G = w->type.group;
    if (T >= CUDA_MMA_MIN_T && K % 16 == 0) {
        if (norm) add_launch(p, "rms_norm", 1, CUDA_GRID_T, 256, 1, "%lld, true", (long long)K);
        add_launch(p, "gemm_q4_mma", ceil_div(N, 64), CUDA_GRID_T64, 128, 1, "%lld, %lld, %d, %s, %s, %s",
                   (long long)N, (long long)K, G, tf(norm), tf(res), tf(bias));
        return true;
    }
    // Split K only below the GEMM's T: the partials buffer holds CUDA_MMA_MIN_T - 1 tokens.
    GemvShape s = gemv_shape(N, K, G, T < CUDA_MMA_MIN_T);
    bool silu = n->in[0].kind == OPND_NODE && silu_folds(g, n->in[0].index, T);
    bool f16 = ir_node_attr_int(n, "act_f16", 0) != 0; // quantize-acts: f16x2 arithmetic
    int stages = gemv_stages(g, i, err);
    if (!stages) return false;
    add_launch(p, "gemv_q4", s.col_blocks * s.splits, CUDA_GRID_T, 32 / s.vw, 8 * s.vw,
               "%lld, %lld, %d, %d, %d, %d, %s, %s, %s, %s, %s, %d", (long long)N, (long long)K, G, s.vw, s.rows,
               s.splits, tf(norm), tf(res), tf(bias), tf(silu), tf(f16), stages);
    p->out->l[p->out->n - 1].x_through_producer = silu;
    if (s.splits > 1) p->out->part_per_token = (int64_t)s.splits * s.col_blocks * 256, p->out->done_per_token = s.col_blocks;
    return true;
}

static bool attn_attrs(const Graph *g, int i, int *h, int *kvh, int *hd, AwqcError *err) {
    const Node *n = &g->nodes[i];
    *h = (int)ir_node_attr_int(n, "heads", 0), *kvh = (int)ir_node_attr_int(n, "kv_heads", *h);
    *hd = (int)ir_node_attr_int(n, "head_dim", 0);
    if (*h <= 0 || *kvh <= 0 || *h % *kvh != 0 || *hd <= 0 || *hd % 2 != 0 || *hd > 256)
        return node_fail(err, g, i, "heads %d, kv_heads %d, head_dim %d: need heads a multiple of kv_heads and an "
                         "even head_dim of at most 256", *h, *kvh, *hd);
    return true;
}

static bool halves_mode(const Node *n) { return strcmp(ir_node_attr_string(n, "mode", "pairs"), "halves") == 0; }

// How many blocks split a head's context in a decode step: about 256 blocks
// in all (a GPU's SMs twice over), at most 32 partials to combine.
static int attention_splits(int heads) {
    int s = ceil_div(256, heads);
    return s > 32 ? 32 : s;
}

// attention and rope_attention: store K/V (rotated or not), then attend; a
// decode step (T = 1) does both in one kernel, split over the context.
static bool plan_attention(const Graph *g, int i, int T, bool rot, NodePlan *p, AwqcError *err) {
    const Node *n = &g->nodes[i];
    int h, kvh, hd;
    if (!attn_attrs(g, i, &h, &kvh, &hd, err)) return false;
    if (n->n_in != 1 && n->n_in != 3) return node_fail(err, g, i, "expects q, k, v or one merged q|k|v operand");
    bool merged = n->n_in == 1;
    p->out->uses_kv = true;
    if (T == 1) {
        int splits = attention_splits(h);
        add_launch(p, "attention_step", h * splits, CUDA_GRID_ONE, 128, 1, "%d, %d, %d, %d, %s, %s, %s", h, kvh, hd,
                   splits, tf(merged), tf(rot), tf(halves_mode(n)));
        p->out->l[0].smem_ctx = true;
        p->out->l[0].smem_head_dim = 256 + 3 * hd; // the V sums, the query, the new key and value
        // About 2 blocks share an SM. Told nothing, ptxas plans for many,
        // keeps to 32 registers and issues each cache load next to its use
        // (one row in flight); told 1, it issues a round's loads together
        // (seen in the sm_90 SASS).
        p->out->l[0].min_blocks = 1;
        p->out->part_per_token = (int64_t)h * splits * (hd + 2), p->out->done_per_token = h;
        return true;
    }
    add_launch(p, "qkv_store", 1, CUDA_GRID_T, 128, 1, "%d, %d, %d, %s, %s, %s", h, kvh, hd, tf(merged), tf(rot),
               tf(halves_mode(n)));
    add_launch(p, "attention", h, CUDA_GRID_T, 128, 1, "%d, %d, %d", h, kvh, hd);
    p->out->l[1].smem_ctx = true;
    p->out->l[1].smem_head_dim = hd;
    p->out->scratch_per_token = (int64_t)h * hd;
    return true;
}

static void plan_pointwise(NodePlan *p, int64_t W, int op) {
    add_launch(p, "pointwise", ceil_div(W, 256), CUDA_GRID_T, 256, 1, "%lld, %d", (long long)W, op);
}

static bool plan_rows(const Graph *g, int i, int T, NodePlan *p, AwqcError *err) {
    const Node *n = &g->nodes[i];
    int64_t W = ir_row_width(&n->type);
    switch (n->op) {
    case OP_EMBEDDING: {
        if (n->in[0].kind != OPND_WEIGHT || g->weights[n->in[0].index].type.dtype != DT_F32)
            return node_fail(err, g, i, "the table must be an f32 weight");
        add_launch(p, "embedding", 1, CUDA_GRID_T, 256, 1, "%lld", (long long)W);
        return true;
    }
    case OP_RMS_NORM: add_launch(p, "rms_norm", 1, CUDA_GRID_T, 256, 1, "%lld, false", (long long)W); return true;
    case OP_LAYER_NORM: add_launch(p, "layer_norm", 1, CUDA_GRID_T, 256, 1, "%lld", (long long)W); return true;
    case OP_SOFTMAX: add_launch(p, "softmax", 1, CUDA_GRID_T, 256, 1, "%lld", (long long)W); return true;
    case OP_ROPE: {
        int h = (int)ir_node_attr_int(n, "heads", 0), hd = (int)ir_node_attr_int(n, "head_dim", 0);
        if (h <= 0 || hd <= 0 || hd % 2 || (int64_t)h * hd != W)
            return node_fail(err, g, i, "heads %d x head_dim %d must be the row width %lld", h, hd, (long long)W);
        add_launch(p, "rope", 1, CUDA_GRID_T, 128, 1, "%d, %d, %s", h, hd, tf(halves_mode(n)));
        return true;
    }
    case OP_SLICE:
        add_launch(p, "slice", ceil_div(W, 256), CUDA_GRID_T, 256, 1, "%lld, %lld, %lld",
                   (long long)opnd_width(g, n, 0), (long long)ir_node_attr_int(n, "offset", 0), (long long)W);
        return true;
    case OP_SILU_MUL:
        if (silu_folds(g, i, T)) return true; // node i + 1 computes it
        add_launch(p, "silu_mul", ceil_div(W, 256), CUDA_GRID_T, 256, 1, "%lld, %s", (long long)W, tf(n->n_in == 1));
        return true;
    case OP_SILU: plan_pointwise(p, W, 0); return true;
    case OP_RELU: plan_pointwise(p, W, 1); return true;
    case OP_GELU: plan_pointwise(p, W, 2); return true;
    case OP_ADD: plan_pointwise(p, W, 3); return true;
    case OP_MUL: plan_pointwise(p, W, 4); return true;
    case OP_AWQ_SCALE: plan_pointwise(p, W, 5); return true;
    default: return node_fail(err, g, i, "no CUDA kernel for this op");
    }
}

static bool plan_node(const Graph *g, int i, int T, NodePlan *p, AwqcError *err) {
    const Node *n = &g->nodes[i];
    memset(p->out, 0, sizeof *p->out);
    if (!check_rows(g, i, &n->type, err)) return false;
    switch (n->op) {
    case OP_INPUT: return true; // the token ids are copied in by the runtime
    case OP_LINEAR: return plan_linear(g, i, T, false, false, p, err);
    case OP_RMS_NORM_LINEAR: return plan_linear(g, i, T, true, false, p, err);
    case OP_LINEAR_ADD: return plan_linear(g, i, T, false, true, p, err);
    case OP_ATTENTION: return check_operands(g, i, -1, err) && plan_attention(g, i, T, false, p, err);
    case OP_ROPE_ATTENTION: return check_operands(g, i, -1, err) && plan_attention(g, i, T, true, p, err);
    case OP_PARAM: return node_fail(err, g, i, "a param (a value from a filtered dump) has nothing to compute it");
    default: return check_operands(g, i, -1, err) && plan_rows(g, i, T, p, err);
    }
}

bool cuda_node_launches(const Graph *g, int i, int T, CudaNodeLaunches *out, AwqcError *err) {
    AWQC_ASSERT(i >= 0 && (size_t)i < g->n_nodes && T >= 1);
    NodePlan p = {.out = out};
    return plan_node(g, i, T, &p, err);
}

static void plan_argmax(NodePlan *p, int64_t vocab) {
    add_launch(p, "argmax_last", 1, CUDA_GRID_ONE, 1024, 1, "%lld", (long long)vocab);
}

void cuda_argmax_launch(int64_t vocab, CudaLaunch *out) {
    CudaNodeLaunches nl = {0};
    NodePlan p = {.out = &nl};
    plan_argmax(&p, vocab);
    *out = nl.l[0];
}

// ----------------------------------------------------------------------------
// the source

typedef struct {
    char **names;
    size_t n, cap;
} NameSet;

static bool name_seen(NameSet *s, const char *name) {
    for (size_t k = 0; k < s->n; k++)
        if (strcmp(s->names[k], name) == 0) return true;
    GROW(s->names, s->cap, s->n + 1);
    s->names[s->n++] = xstrdup(name);
    return false;
}

static void emit_wrappers(const NodePlan *p, NameSet *seen, StrBuf *b) {
    for (int k = 0; k < p->out->n; k++) {
        const CudaLaunch *l = &p->out->l[k];
        if (name_seen(seen, l->name)) continue;
        char bounds[32];
        int n = snprintf(bounds, sizeof bounds, "%d", l->block_x * l->block_y);
        if (l->min_blocks) snprintf(bounds + n, sizeof bounds - (size_t)n, ", %d", l->min_blocks);
        char *w = awqc_asprintf("extern \"C\" __global__ void __launch_bounds__(%s) %s(KArgs a) { %s; }\n", bounds,
                                l->name, p->call[k]);
        sb_append(b, w);
        free(w);
    }
}

// Decode (T = 1) and prefill (T >= CUDA_MMA_MIN_T) may launch different kernels: both are emitted.
static bool emit_node(const Graph *g, int i, NameSet *seen, StrBuf *b, AwqcError *err) {
    static const int steps[2] = {1, CUDA_MMA_MIN_T};
    for (int s = 0; s < 2; s++) {
        CudaNodeLaunches nl;
        NodePlan p = {.out = &nl};
        if (!plan_node(g, i, steps[s], &p, err)) return false;
        emit_wrappers(&p, seen, b);
    }
    return true;
}

static void free_names(NameSet *s) {
    for (size_t k = 0; k < s->n; k++) free(s->names[k]);
    free(s->names);
}

char *cuda_emit_source(const Graph *g, AwqcError *err) {
    StrBuf b = {0};
    NameSet seen = {0};
    sb_append(&b, cuda_kernels_cuh);
    sb_append(&b, "\n// ----------------------------------------------------------------------------\n");
    char *head = awqc_asprintf("// the kernels of plan '%s', one per distinct shape\n\n", g->name ? g->name : "?");
    sb_append(&b, head);
    free(head);
    bool ok = true;
    for (size_t i = 0; ok && i < g->n_nodes; i++) ok = emit_node(g, (int)i, &seen, &b, err);
    if (ok && g->n_outputs > 0) {
        CudaNodeLaunches nl = {0};
        NodePlan p = {.out = &nl};
        plan_argmax(&p, ir_row_width(&g->nodes[g->outputs[0]].type));
        emit_wrappers(&p, &seen, &b);
    }
    free_names(&seen);
    char *s = sb_finish(&b);
    if (!ok) {
        free(s);
        return NULL;
    }
    return s;
}
