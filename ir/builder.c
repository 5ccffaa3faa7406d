// builder.c: building graphs: names of ops and dtypes, attributes, blocks,
// weights, and the op schemas that infer (and so check) every node's type.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"

// ----------------------------------------------------------------------------
// names

static const char *const op_names[OP_COUNT] = {
    [OP_INPUT] = "input",     [OP_EMBEDDING] = "embedding", [OP_RMS_NORM] = "rms_norm",
    [OP_LAYER_NORM] = "layer_norm", [OP_LINEAR] = "linear", [OP_ROPE] = "rope",
    [OP_ATTENTION] = "attention", [OP_SILU] = "silu",       [OP_GELU] = "gelu",
    [OP_RELU] = "relu",       [OP_ADD] = "add",             [OP_MUL] = "mul",
    [OP_SOFTMAX] = "softmax", [OP_AWQ_SCALE] = "awq_scale", [OP_SLICE] = "slice", [OP_PARAM] = "param",
    [OP_RMS_NORM_LINEAR] = "rms_norm_linear", [OP_ROPE_ATTENTION] = "rope_attention",
    [OP_SILU_MUL] = "silu_mul", [OP_LINEAR_ADD] = "linear_add",
};

static const char *const dtype_names[DT_COUNT] = {
    [DT_F32] = "f32", [DT_F16] = "f16", [DT_BF16] = "bf16", [DT_I32] = "i32", [DT_Q4] = "q4", [DT_Q3] = "q3",
    [DT_Q8] = "q8",
};

const char *ir_op_name(OpKind op) {
    AWQC_ASSERT(op >= 0 && op < OP_COUNT);
    return op_names[op];
}

bool ir_op_from_name(const char *name, OpKind *op) {
    for (int i = 0; i < OP_COUNT; i++)
        if (strcmp(op_names[i], name) == 0) {
            *op = (OpKind)i;
            return true;
        }
    return false;
}

const char *ir_dtype_name(DType dt) {
    AWQC_ASSERT(dt >= 0 && dt < DT_COUNT);
    return dtype_names[dt];
}

int ir_dtype_bits(DType dt) { return dt == DT_Q4 ? 4 : dt == DT_Q3 ? 3 : dt == DT_Q8 ? 8 : 0; }

bool ir_dtype_from_name(const char *name, DType *dt) {
    for (int i = 0; i < DT_COUNT; i++)
        if (strcmp(dtype_names[i], name) == 0) {
            *dt = (DType)i;
            return true;
        }
    return false;
}

// ----------------------------------------------------------------------------
// types

Type ir_type_const(DType dt, int rank, const int64_t *dims) {
    AWQC_ASSERT(rank >= 0 && rank <= IR_MAX_RANK);
    Type t = {.dtype = dt, .rank = rank};
    for (int i = 0; i < rank; i++) t.dims[i] = (Dim){DIM_CONST, dims[i]};
    return t;
}

static bool dim_equal(Dim a, Dim b) {
    return a.kind == b.kind && (a.kind != DIM_CONST || a.size == b.size);
}

static bool shape_equal(const Type *a, const Type *b) {
    if (a->rank != b->rank) return false;
    for (int i = 0; i < a->rank; i++)
        if (!dim_equal(a->dims[i], b->dims[i])) return false;
    return true;
}

bool ir_type_equal(const Type *a, const Type *b) {
    return a->dtype == b->dtype && a->group == b->group && shape_equal(a, b);
}

int64_t ir_type_elements(const Type *t) {
    int64_t n = 1;
    for (int i = 0; i < t->rank; i++) {
        if (t->dims[i].kind != DIM_CONST) return -1;
        n *= t->dims[i].size;
    }
    return n;
}

int64_t ir_row_width(const Type *t) {
    int64_t w = 1;
    for (int i = t->rank > 1 ? 1 : 0; i < t->rank; i++)
        if (t->dims[i].kind == DIM_CONST) w *= t->dims[i].size;
    return w;
}

static void dim_str(Dim d, char *buf, size_t cap) {
    if (d.kind == DIM_T) snprintf(buf, cap, "T");
    else if (d.kind == DIM_P) snprintf(buf, cap, "P");
    else snprintf(buf, cap, "%lld", (long long)d.size);
}

char *ir_type_str(const Type *t, char *buf, size_t cap) {
    size_t n = (size_t)snprintf(buf, cap, "%s", ir_dtype_name(t->dtype));
    if (t->group && n < cap) n += (size_t)snprintf(buf + n, cap - n, "g%d", t->group);
    if (n < cap) n += (size_t)snprintf(buf + n, cap - n, "[");
    for (int i = 0; i < t->rank && n < cap; i++) {
        char d[32];
        dim_str(t->dims[i], d, sizeof d);
        n += (size_t)snprintf(buf + n, cap - n, "%s%s", i ? ", " : "", d);
    }
    if (n < cap) snprintf(buf + n, cap - n, "]");
    return buf;
}

// ----------------------------------------------------------------------------
// attributes

Attr ir_attr_int(const char *key, int64_t v) {
    return (Attr){.key = xstrdup(key), .kind = ATTR_INT, .i = v};
}

Attr ir_attr_float(const char *key, double v) {
    return (Attr){.key = xstrdup(key), .kind = ATTR_FLOAT, .f = v};
}

Attr ir_attr_string(const char *key, const char *v) {
    return (Attr){.key = xstrdup(key), .kind = ATTR_STRING, .s = xstrdup(v)};
}

static const Attr *find_attr(const Attr *attrs, int n, const char *key) {
    for (int i = 0; i < n; i++)
        if (strcmp(attrs[i].key, key) == 0) return &attrs[i];
    return NULL;
}

const Attr *ir_node_attr(const Node *n, const char *key) {
    return find_attr(n->attrs, n->n_attrs, key);
}

int64_t ir_node_attr_int(const Node *n, const char *key, int64_t dflt) {
    const Attr *a = ir_node_attr(n, key);
    if (!a) return dflt;
    return a->kind == ATTR_INT ? a->i : a->kind == ATTR_FLOAT ? (int64_t)a->f : dflt;
}

double ir_node_attr_float(const Node *n, const char *key, double dflt) {
    const Attr *a = ir_node_attr(n, key);
    if (!a) return dflt;
    return a->kind == ATTR_FLOAT ? a->f : a->kind == ATTR_INT ? (double)a->i : dflt;
}

const char *ir_node_attr_string(const Node *n, const char *key, const char *dflt) {
    const Attr *a = ir_node_attr(n, key);
    return a && a->kind == ATTR_STRING ? a->s : dflt;
}

Attr ir_attr_copy(const Attr *a) {
    Attr c = *a;
    c.key = xstrdup(a->key);
    if (a->kind == ATTR_STRING) c.s = xstrdup(a->s);
    return c;
}

void ir_attr_free(Attr *a) {
    free(a->key);
    free(a->s);
}

// ----------------------------------------------------------------------------
// graph

Graph *ir_graph_new(const char *name) {
    Graph *g = xcalloc(1, sizeof *g);
    g->name = xstrdup(name);
    return g;
}

void ir_graph_free(Graph *g) {
    if (!g) return;
    for (size_t i = 0; i < g->n_nodes; i++)
        for (int j = 0; j < g->nodes[i].n_attrs; j++) ir_attr_free(&g->nodes[i].attrs[j]);
    for (size_t i = 0; i < g->n_weights; i++) {
        free(g->weights[i].name);
        free(g->weights[i].hf_name);
        ir_weight_release(&g->weights[i]);
    }
    for (size_t i = 0; i < g->n_blocks; i++) free(g->blocks[i]);
    for (size_t i = 0; i < g->n_meta; i++) {
        free(g->meta[i].key);
        ir_attr_free(&g->meta[i].value);
    }
    free(g->nodes);
    free(g->weights);
    free(g->blocks);
    free(g->meta);
    free(g->outputs);
    free(g->name);
    free(g->origin);
    free(g);
}

int ir_find_block(const Graph *g, const char *name) {
    for (size_t i = 0; i < g->n_blocks; i++)
        if (strcmp(g->blocks[i], name) == 0) return (int)i;
    return -1;
}

int ir_block(Graph *g, const char *name) {
    int b = ir_find_block(g, name);
    if (b >= 0) return b;
    GROW(g->blocks, g->cap_blocks, g->n_blocks + 1);
    g->blocks[g->n_blocks] = xstrdup(name);
    return (int)g->n_blocks++;
}

int ir_find_weight(const Graph *g, const char *name) {
    for (size_t i = 0; i < g->n_weights; i++)
        if (strcmp(g->weights[i].name, name) == 0) return (int)i;
    return -1;
}

int ir_add_weight(Graph *g, const char *name, Type type, AwqcError *err) {
    if (ir_find_weight(g, name) >= 0) {
        awqc_fail(err, "weight '%s' defined twice", name);
        return -1;
    }
    GROW(g->weights, g->cap_weights, g->n_weights + 1);
    g->weights[g->n_weights] = (Weight){.name = xstrdup(name), .type = type};
    return (int)g->n_weights++;
}

bool ir_weight_bound(const Weight *w) { return w->data || w->quant || w->packed; }

void ir_weight_release(Weight *w) {
    if (!w->borrowed) {
        free(w->data);
        free(w->packed);
    }
    w->borrowed = false;
    w->data = NULL;
    if (w->quant) quant_matrix_free(w->quant);
    free(w->quant);
    w->quant = NULL;
    free(w->layout);
    w->layout = NULL;
    w->packed = NULL;
    w->packed_size = 0;
}

const Type *ir_operand_type(const Graph *g, Operand o) {
    if (o.kind == OPND_NODE) {
        AWQC_ASSERT(o.index >= 0 && (size_t)o.index < g->n_nodes);
        return &g->nodes[o.index].type;
    }
    AWQC_ASSERT(o.index >= 0 && (size_t)o.index < g->n_weights);
    return &g->weights[o.index].type;
}

void ir_add_output(Graph *g, int node) {
    AWQC_ASSERT(node >= 0 && (size_t)node < g->n_nodes);
    GROW(g->outputs, g->cap_outputs, g->n_outputs + 1);
    g->outputs[g->n_outputs++] = node;
}

const Meta *ir_get_meta(const Graph *g, const char *key) {
    for (size_t i = 0; i < g->n_meta; i++)
        if (strcmp(g->meta[i].key, key) == 0) return &g->meta[i];
    return NULL;
}

void ir_set_meta(Graph *g, const char *key, Attr value) {
    for (size_t i = 0; i < g->n_meta; i++)
        if (strcmp(g->meta[i].key, key) == 0) {
            ir_attr_free(&g->meta[i].value);
            g->meta[i].value = value;
            return;
        }
    GROW(g->meta, g->cap_meta, g->n_meta + 1);
    g->meta[g->n_meta++] = (Meta){.key = xstrdup(key), .value = value};
}

// ----------------------------------------------------------------------------
// op schemas and shape inference

typedef struct {
    int min_in, max_in;
    const char *required[4]; // attribute names that must be present
} OpSchema;

static const OpSchema schemas[OP_COUNT] = {
    [OP_INPUT] = {0, 0, {"name"}},
    [OP_EMBEDDING] = {2, 2, {0}},
    [OP_RMS_NORM] = {2, 2, {"eps"}},
    [OP_LAYER_NORM] = {2, 3, {"eps"}},
    [OP_LINEAR] = {2, 3, {0}},
    [OP_ROPE] = {1, 1, {"heads", "head_dim", "theta", "mode"}},
    [OP_ATTENTION] = {3, 3, {"heads", "kv_heads", "head_dim"}},
    [OP_SILU] = {1, 1, {0}},
    [OP_GELU] = {1, 1, {0}},
    [OP_RELU] = {1, 1, {0}},
    [OP_ADD] = {2, 2, {0}},
    [OP_MUL] = {2, 2, {0}},
    [OP_SOFTMAX] = {1, 1, {0}},
    [OP_AWQ_SCALE] = {2, 2, {0}},
    [OP_SLICE] = {1, 1, {"offset", "size"}},
    [OP_PARAM] = {0, 0, {"value", "width"}},
    [OP_RMS_NORM_LINEAR] = {3, 4, {"eps"}},
    [OP_ROPE_ATTENTION] = {1, 3, {"heads", "kv_heads", "head_dim", "theta"}},
    [OP_SILU_MUL] = {1, 2, {0}},
    [OP_LINEAR_ADD] = {3, 4, {0}},
};

// The inputs of one node while its type is inferred.
typedef struct {
    const Graph *g;
    OpKind op;
    const Type *t[IR_MAX_OPERANDS];
    int n_in;
    const Attr *attrs;
    int n_attrs;
    AwqcError *err;
} InferCtx;

static int64_t attr_int(const InferCtx *c, const char *key) {
    const Attr *a = find_attr(c->attrs, c->n_attrs, key);
    return a && a->kind == ATTR_INT ? a->i : -1;
}

static bool last_dim_is(const Type *t, int64_t n) {
    return t->rank >= 1 && t->dims[t->rank - 1].kind == DIM_CONST && t->dims[t->rank - 1].size == n;
}

static int64_t last_dim(const Type *t) {
    return t->rank >= 1 && t->dims[t->rank - 1].kind == DIM_CONST ? t->dims[t->rank - 1].size : -1;
}

static bool fail_shapes(const InferCtx *c, const char *what) {
    char a[128] = "", b[128] = "";
    if (c->n_in > 0) ir_type_str(c->t[0], a, sizeof a);
    if (c->n_in > 1) ir_type_str(c->t[1], b, sizeof b);
    return awqc_fail(c->err, "%s: %s (operands %s%s%s)", ir_op_name(c->op), what, a, c->n_in > 1 ? ", " : "", b);
}

static bool infer_embedding(const InferCtx *c, Type *out) {
    const Type *table = c->t[0], *ids = c->t[1];
    if (table->rank != 2) return fail_shapes(c, "table must be 2-D [vocab, dim]");
    if (ids->dtype != DT_I32 || ids->rank != 1) return fail_shapes(c, "ids must be i32[T]");
    *out = (Type){.dtype = DT_F32, .rank = 2, .dims = {ids->dims[0], table->dims[1]}};
    return true;
}

static bool infer_norm(const InferCtx *c, Type *out) {
    const Type *x = c->t[0];
    for (int i = 1; i < c->n_in; i++)
        if (c->t[i]->rank != 1 || !last_dim_is(x, last_dim(c->t[i])))
            return fail_shapes(c, "weight length must equal the input's last dimension");
    *out = *x;
    return true;
}

static bool infer_linear(const InferCtx *c, Type *out) {
    const Type *x = c->t[0], *w = c->t[1];
    if (w->rank != 2) return fail_shapes(c, "weight must be 2-D [out, in]");
    int64_t k = last_dim(w);
    if (!last_dim_is(x, k)) {
        char xs[128], ws[128];
        return awqc_fail(c->err, "linear: input %s has %lld features but weight %s expects %lld",
                         ir_type_str(x, xs, sizeof xs), (long long)last_dim(x), ir_type_str(w, ws, sizeof ws),
                         (long long)k);
    }
    if (c->n_in == 3 && (c->t[2]->rank != 1 || !dim_equal(c->t[2]->dims[0], w->dims[0])))
        return fail_shapes(c, "bias length must equal the weight's output dimension");
    *out = *x;
    out->dtype = DT_F32;
    out->group = 0;
    out->dims[x->rank - 1] = w->dims[0];
    return true;
}

// Bounds on heads / head_dim so that their products cannot overflow int64
// (the values may come from a parsed text file).
#define MAX_HEAD_ATTR (INT64_C(1) << 24)

// "pairs" or "halves" (ROPE_PAIRS, ROPE_HALVES); rope requires it, rope_attention defaults to pairs.
static bool rope_mode_ok(const InferCtx *c, const Attr *mode) {
    if (!mode || (mode->kind == ATTR_STRING && (!strcmp(mode->s, "pairs") || !strcmp(mode->s, "halves")))) return true;
    return awqc_fail(c->err, "%s: mode must be \"pairs\" or \"halves\"", ir_op_name(c->op));
}

static bool infer_rope(const InferCtx *c, Type *out) {
    int64_t heads = attr_int(c, "heads"), hd = attr_int(c, "head_dim");
    const Attr *mode = find_attr(c->attrs, c->n_attrs, "mode");
    if (heads <= 0 || hd <= 0 || hd % 2 || heads > MAX_HEAD_ATTR || hd > MAX_HEAD_ATTR)
        return awqc_fail(c->err, "rope: heads and an even head_dim must be positive integers (at most 2^24)");
    if (!rope_mode_ok(c, mode)) return false;
    if (!last_dim_is(c->t[0], heads * hd)) return fail_shapes(c, "last dimension must equal heads * head_dim");
    *out = *c->t[0];
    return true;
}

static bool infer_attention(const InferCtx *c, Type *out) {
    int64_t h = attr_int(c, "heads"), hkv = attr_int(c, "kv_heads"), hd = attr_int(c, "head_dim");
    if (h <= 0 || hkv <= 0 || hd <= 0 || h > MAX_HEAD_ATTR || hkv > MAX_HEAD_ATTR || hd > MAX_HEAD_ATTR)
        return awqc_fail(c->err, "attention: heads, kv_heads, head_dim must be positive integers (at most 2^24)");
    if (h % hkv)
        return awqc_fail(c->err, "attention: heads (%lld) must be a multiple of kv_heads (%lld)", (long long)h,
                         (long long)hkv);
    // q, k and v are per-token rows of the same tokens: [T, features] each.
    for (int i = 0; i < 3; i++)
        if (c->t[i]->rank != 2 || !dim_equal(c->t[i]->dims[0], c->t[0]->dims[0]))
            return awqc_fail(c->err, "attention: q, k and v must be 2-D [tokens, features] over the same tokens");
    if (!last_dim_is(c->t[0], h * hd)) return fail_shapes(c, "q's last dimension must equal heads * head_dim");
    if (!last_dim_is(c->t[1], hkv * hd) || !last_dim_is(c->t[2], hkv * hd))
        return awqc_fail(c->err, "attention: k and v must have kv_heads * head_dim = %lld features", (long long)(hkv * hd));
    *out = *c->t[0];
    return true;
}

static bool infer_binary(const InferCtx *c, Type *out);

static bool infer_slice(const InferCtx *c, Type *out) {
    int64_t off = attr_int(c, "offset"), size = attr_int(c, "size"), n = last_dim(c->t[0]);
    if (off < 0 || size <= 0 || n < 0 || off > n || size > n - off)
        return awqc_fail(c->err, "slice: [offset %lld, size %lld] is not a non-empty range inside the last dimension (%lld)",
                         (long long)off, (long long)size, (long long)n);
    *out = *c->t[0];
    out->dims[out->rank - 1] = (Dim){DIM_CONST, size};
    return true;
}

// rms_norm_linear is rms_norm then linear: each part's rule applies to its operands.
static bool infer_norm_linear(const InferCtx *c, Type *out) {
    InferCtx norm = *c, lin = *c;
    norm.n_in = 2;
    Type normed;
    if (!infer_norm(&norm, &normed)) return false;
    lin.t[0] = &normed;
    lin.t[1] = c->t[2];
    lin.t[2] = c->t[3];
    lin.n_in = c->n_in - 1;
    return infer_linear(&lin, out);
}

// linear_add: linear (x, W, bias?) plus a residual shaped like its result.
static bool infer_linear_add(const InferCtx *c, Type *out) {
    InferCtx lin = *c;
    lin.t[2] = c->t[3];
    lin.n_in = c->n_in - 1;
    if (!infer_linear(&lin, out)) return false;
    if (!shape_equal(out, c->t[2])) return fail_shapes(c, "the residual must have the linear's result shape");
    return true;
}

// One operand: q, k and v side by side in its last dimension.
static bool split_qkv(const InferCtx *c, Type qkv_parts[3]) {
    int64_t h = attr_int(c, "heads"), hkv = attr_int(c, "kv_heads"), hd = attr_int(c, "head_dim");
    int64_t widths[3] = {h * hd, hkv * hd, hkv * hd};
    if (h <= 0 || hkv <= 0 || hd <= 0 || h > MAX_HEAD_ATTR || hkv > MAX_HEAD_ATTR || hd > MAX_HEAD_ATTR ||
        !last_dim_is(c->t[0], widths[0] + widths[1] + widths[2]))
        return fail_shapes(c, "a merged qkv operand must have (heads + 2 * kv_heads) * head_dim features");
    for (int i = 0; i < 3; i++) {
        qkv_parts[i] = *c->t[0];
        qkv_parts[i].dims[qkv_parts[i].rank - 1] = (Dim){DIM_CONST, widths[i]};
    }
    return true;
}

static bool infer_rope_attention(const InferCtx *c, Type *out) {
    if (c->n_in == 2) return awqc_fail(c->err, "rope_attention takes q, k, v or one merged qkv operand, not 2");
    Type parts[3];
    InferCtx attn = *c;
    if (c->n_in == 1) {
        if (!split_qkv(c, parts)) return false;
        for (int i = 0; i < 3; i++) attn.t[i] = &parts[i];
        attn.n_in = 3;
    }
    if (!rope_mode_ok(c, find_attr(c->attrs, c->n_attrs, "mode"))) return false;
    return infer_attention(&attn, out);
}

// silu_mul: two equal operands, or one holding gate and up side by side.
static bool infer_silu_mul(const InferCtx *c, Type *out) {
    if (c->n_in == 2) return infer_binary(c, out);
    int64_t n = last_dim(c->t[0]);
    if (n <= 0 || n % 2) return fail_shapes(c, "a merged gate_up operand needs an even last dimension");
    *out = *c->t[0];
    out->dims[out->rank - 1] = (Dim){DIM_CONST, n / 2};
    return true;
}

static bool infer_binary(const InferCtx *c, Type *out) {
    if (!shape_equal(c->t[0], c->t[1])) return fail_shapes(c, "operands must have the same shape");
    *out = *c->t[0];
    return true;
}

static bool infer_by_op(const InferCtx *c, Type *out) {
    switch (c->op) {
    case OP_INPUT: *out = (Type){.dtype = DT_I32, .rank = 1, .dims = {{DIM_T, 0}}}; return true;
    case OP_EMBEDDING: return infer_embedding(c, out);
    case OP_RMS_NORM:
    case OP_LAYER_NORM: return infer_norm(c, out);
    case OP_LINEAR: return infer_linear(c, out);
    case OP_ROPE: return infer_rope(c, out);
    case OP_ATTENTION: return infer_attention(c, out);
    case OP_ADD:
    case OP_MUL: return infer_binary(c, out);
    case OP_SILU:
    case OP_GELU:
    case OP_RELU:
    case OP_SOFTMAX: *out = *c->t[0]; return true;
    case OP_AWQ_SCALE: return infer_norm(c, out);
    case OP_SLICE: return infer_slice(c, out);
    case OP_PARAM: {
        int64_t w = attr_int(c, "width");
        if (w <= 0) return awqc_fail(c->err, "param: width must be a positive integer");
        *out = (Type){.dtype = DT_F32, .rank = 2, .dims = {{DIM_T, 0}, {DIM_CONST, w}}};
        return true;
    }
    case OP_RMS_NORM_LINEAR: return infer_norm_linear(c, out);
    case OP_ROPE_ATTENTION: return infer_rope_attention(c, out);
    case OP_SILU_MUL: return infer_silu_mul(c, out);
    case OP_LINEAR_ADD: return infer_linear_add(c, out);
    case OP_COUNT: break;
    }
    AWQC_PANIC("unknown op %d", (int)c->op);
}

// Token ids (i32) feed only an embedding's second operand; every other value
// is f32. Weights (a linear's or embedding's matrix, a norm's scale) may be
// stored in any dtype, e.g. quantized.
static bool operand_dtype_ok(OpKind op, int i, Operand o, DType dt) {
    if (op == OP_EMBEDDING && i == 1) return dt == DT_I32;
    if (dt == DT_I32) return false;
    bool weight_slot = op == OP_LINEAR || op == OP_LINEAR_ADD || op == OP_EMBEDDING || i > 0;
    return dt == DT_F32 || (o.kind == OPND_WEIGHT && weight_slot);
}

bool ir_infer_type(const Graph *g, OpKind op, const Operand *in, int n_in, const Attr *attrs, int n_attrs,
                   Type *out, AwqcError *err) {
    AWQC_ASSERT(op >= 0 && op < OP_COUNT);
    const OpSchema *s = &schemas[op];
    if (n_in < s->min_in || n_in > s->max_in) {
        if (s->min_in == s->max_in)
            return awqc_fail(err, "%s takes %d operand%s, got %d", ir_op_name(op), s->min_in, s->min_in == 1 ? "" : "s", n_in);
        return awqc_fail(err, "%s takes %d to %d operands, got %d", ir_op_name(op), s->min_in, s->max_in, n_in);
    }
    for (int i = 0; i < 4 && s->required[i]; i++)
        if (!find_attr(attrs, n_attrs, s->required[i]))
            return awqc_fail(err, "%s needs the attribute '%s'", ir_op_name(op), s->required[i]);
    InferCtx c = {.g = g, .op = op, .n_in = n_in, .attrs = attrs, .n_attrs = n_attrs, .err = err};
    for (int i = 0; i < n_in; i++) {
        c.t[i] = ir_operand_type(g, in[i]);
        if (!operand_dtype_ok(op, i, in[i], c.t[i]->dtype))
            return awqc_fail(err, "%s: operand %d must be %s, not %s", ir_op_name(op), i + 1,
                             op == OP_EMBEDDING && i == 1 ? "i32 token ids" : "f32", ir_dtype_name(c.t[i]->dtype));
    }
    return infer_by_op(&c, out);
}

int ir_add_node(Graph *g, OpKind op, const Operand *in, int n_in, const Attr *attrs, int n_attrs, int block,
                AwqcError *err) {
    AWQC_ASSERT(n_in <= IR_MAX_OPERANDS && n_attrs <= IR_MAX_ATTRS);
    Type t;
    if (!ir_infer_type(g, op, in, n_in, attrs, n_attrs, &t, err)) {
        for (int i = 0; i < n_attrs; i++) ir_attr_free((Attr *)&attrs[i]);
        return -1;
    }
    GROW(g->nodes, g->cap_nodes, g->n_nodes + 1);
    Node *n = &g->nodes[g->n_nodes];
    *n = (Node){.op = op, .n_in = n_in, .n_attrs = n_attrs, .type = t, .block = block};
    // Callers pass NULL for an empty list; memcpy from NULL is undefined even for 0 bytes.
    if (n_in) memcpy(n->in, in, sizeof(Operand) * (size_t)n_in);
    if (n_attrs) memcpy(n->attrs, attrs, sizeof(Attr) * (size_t)n_attrs);
    return (int)g->n_nodes++;
}

const char *ir_strip_op_prefix(const char *msg, OpKind op) {
    size_t len = strlen(ir_op_name(op));
    if (strncmp(msg, ir_op_name(op), len) == 0 && msg[len] == ':' && msg[len + 1] == ' ') return msg + len + 2;
    return msg;
}

int64_t ir_embedding_rows(const Graph *g) {
    int64_t rows_min = -1;
    for (size_t i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].op == OP_EMBEDDING) {
            int64_t rows = ir_operand_type(g, g->nodes[i].in[0])->dims[0].size;
            rows_min = rows_min < 0 || rows < rows_min ? rows : rows_min;
        }
    return rows_min;
}
