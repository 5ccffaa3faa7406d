// merge_linears.c: the merge-qkv and merge-gate-up passes. Linears that read
// one input become one wider linear whose weight (f32 values, or quantized
// codes with their scales and zeros) and bias are the parts' rows stacked in
// order; a slice per part hands each old user its columns. A merged linear
// reads its input once per token, which is what decode's memory bound rewards.
#include <stdlib.h>
#include <string.h>

#include "ir/edit.h"
#include "ir/uses.h"
#include "passes/pass.h"

#define MAX_PARTS 4

typedef struct {
    int input;             // the node all parts read
    int n;                 // parts, in node order
    int node[MAX_PARTS];   // the linears
} Siblings;

// ----------------------------------------------------------------------------
// who may merge

// A linear whose matrix (and bias) only it reads and whose value is not a graph output.
static bool mergeable_linear(const Graph *g, const IrUses *u, int i) {
    const Node *n = &g->nodes[i];
    if (n->op != OP_LINEAR || n->in[0].kind != OPND_NODE || u->is_output[i]) return false;
    for (int k = 1; k < n->n_in; k++)
        if (n->in[k].kind != OPND_WEIGHT || u->weight_uses[n->in[k].index] != 1) return false;
    const Weight *w = &g->weights[n->in[1].index];
    return w->type.rank == 2 && !w->layout; // packed bytes are not stacked: merge before pack-weights
}

// The only reader of node i, or -1.
static int sole_reader(const IrUses *u, int i) { return u->node_uses[i] == 1 && !u->is_output[i] ? u->last_reader[i] : -1; }

static bool is_attention(OpKind op) { return op == OP_ATTENTION || op == OP_ROPE_ATTENTION; }
static bool is_activation(OpKind op) { return op == OP_SILU || op == OP_GELU || op == OP_RELU; }

// merge-qkv: the linear feeds an attention, directly or through one rope.
// Returns that attention node, or -1.
static int feeds_attention(const Graph *g, const IrUses *u, int i) {
    int r = sole_reader(u, i);
    if (r >= 0 && g->nodes[r].op == OP_ROPE) r = sole_reader(u, r);
    return r >= 0 && is_attention(g->nodes[r].op) ? r : -1;
}

// merge-gate-up: the linear feeds a product, directly or through one
// activation. Returns that mul node, or -1.
static int feeds_product(const Graph *g, const IrUses *u, int i) {
    int r = sole_reader(u, i);
    if (r >= 0 && is_activation(g->nodes[r].op)) r = sole_reader(u, r);
    return r >= 0 && (g->nodes[r].op == OP_MUL || g->nodes[r].op == OP_SILU_MUL) ? r : -1;
}

typedef int (*TargetFn)(const Graph *g, const IrUses *u, int i);

// Same input width, dtype, group, and bias presence: the rows can be stacked.
static bool compatible(const Graph *g, int a, int b) {
    const Node *na = &g->nodes[a], *nb = &g->nodes[b];
    const Type *wa = ir_operand_type(g, na->in[1]), *wb = ir_operand_type(g, nb->in[1]);
    const Weight *xa = &g->weights[na->in[1].index], *xb = &g->weights[nb->in[1].index];
    return wa->dtype == wb->dtype && wa->group == wb->group && wa->dims[1].size == wb->dims[1].size &&
           na->n_in == nb->n_in && !xa->quant == !xb->quant && !xa->data == !xb->data;
}

// The mergeable linears reading node x that all lead to one target node.
static bool find_siblings(const Graph *g, const IrUses *u, int x, TargetFn target, Siblings *s) {
    *s = (Siblings){.input = x};
    int common = -1;
    for (size_t i = (size_t)x + 1; i < g->n_nodes && s->n < MAX_PARTS; i++) {
        const Node *n = &g->nodes[i];
        if (n->op != OP_LINEAR || n->in[0].kind != OPND_NODE || n->in[0].index != x) continue;
        int t = mergeable_linear(g, u, (int)i) ? target(g, u, (int)i) : -1;
        if (t < 0 || (common >= 0 && t != common) || (s->n && !compatible(g, s->node[0], (int)i))) continue;
        common = t;
        s->node[s->n++] = (int)i;
    }
    return s->n >= 2;
}

// ----------------------------------------------------------------------------
// stacking weights

// "blk.0.attn_q.weight" + "blk.0.attn_k.weight" -> "blk.0.attn_q+k.weight":
// the parts' common prefix and suffix around their different middles.
static char *merged_name(const Graph *g, const int *w, int n) {
    const char *first = g->weights[w[0]].name;
    size_t len0 = strlen(first), pre = len0, suf = len0;
    for (int i = 1; i < n; i++) {
        const char *o = g->weights[w[i]].name;
        size_t len = strlen(o), p = 0, q = 0;
        while (p < pre && p < len && first[p] == o[p]) p++;
        while (q < suf && q < len - p && q < len0 - p && first[len0 - 1 - q] == o[len - 1 - q]) q++;
        pre = p;
        suf = q;
    }
    StrBuf out = {0};
    sb_append_n(&out, first, pre);
    for (int i = 0; i < n; i++) {
        const char *o = g->weights[w[i]].name;
        if (i) sb_append(&out, "+");
        sb_append_n(&out, o + pre, strlen(o) - pre - suf);
    }
    sb_append(&out, first + len0 - suf);
    return sb_finish(&out);
}

static char *unique_name(const Graph *g, char *name) {
    for (int k = 2; ir_find_weight(g, name) >= 0; k++) {
        char *alt = awqc_asprintf("%s.%d", name, k);
        if (ir_find_weight(g, alt) < 0) {
            free(name);
            return alt;
        }
        free(alt);
    }
    return name;
}

static float *stack_f32(const Graph *g, const int *w, int n, int64_t total) {
    float *out = xmalloc(sizeof(float) * (size_t)total), *p = out;
    for (int i = 0; i < n; i++) {
        int64_t e = ir_type_elements(&g->weights[w[i]].type);
        memcpy(p, g->weights[w[i]].data, sizeof(float) * (size_t)e);
        p += e;
    }
    return out;
}

// Codes, scales and zeros are row-major per output row: stacking rows is
// concatenating each array.
static QuantMatrix *stack_quant(const Graph *g, const int *w, int n, int64_t rows) {
    const QuantMatrix *q0 = g->weights[w[0]].quant;
    QuantMatrix *m = xcalloc(1, sizeof *m);
    AwqcError e;
    AWQC_ASSERT(quant_matrix_init(m, rows, q0->cols, q0->bits, q0->group, &e));
    int64_t r = 0, ng = quant_n_groups(q0);
    for (int i = 0; i < n; i++) {
        const QuantMatrix *q = g->weights[w[i]].quant;
        memcpy(m->q + r * q->cols, q->q, (size_t)(q->rows * q->cols));
        memcpy(m->scales + r * ng, q->scales, sizeof(uint16_t) * (size_t)(q->rows * ng));
        memcpy(m->zeros + r * ng, q->zeros, (size_t)(q->rows * ng));
        r += q->rows;
    }
    return m;
}

// A weight of the parts' rows stacked; returns its index.
static int stack_weights(Graph *g, const int *w, int n) {
    Type t = g->weights[w[0]].type;
    int64_t rows = 0;
    for (int i = 0; i < n; i++) rows += g->weights[w[i]].type.dims[0].size;
    t.dims[0].size = rows;
    char *name = unique_name(g, merged_name(g, w, n));
    AwqcError e;
    int m = ir_add_weight(g, name, t, &e);
    AWQC_ASSERT(m >= 0);
    free(name);
    Weight *mw = &g->weights[m];
    if (g->weights[w[0]].data) mw->data = stack_f32(g, w, n, ir_type_elements(&t));
    if (g->weights[w[0]].quant) mw->quant = stack_quant(g, w, n, rows);
    return m;
}

// ----------------------------------------------------------------------------
// rewriting

// Operand k (matrix 1, bias 2) of every part.
static void part_weights(const Graph *g, const Siblings *s, int k, int *w) {
    for (int i = 0; i < s->n; i++) w[i] = g->nodes[s->node[i]].in[k].index;
}

// Inserts the merged linear before the first part and one slice per part after
// it; the parts' users read the slices; the parts and their weights go.
static bool merge(Graph *g, Siblings *s, AwqcError *err) {
    int w[MAX_PARTS], nb = g->nodes[s->node[0]].n_in, block = g->nodes[s->node[0]].block;
    Operand in[3] = {ir_node_ref(s->input)};
    part_weights(g, s, 1, w);
    in[1] = ir_weight_ref(stack_weights(g, w, s->n));
    if (nb == 3) {
        part_weights(g, s, 2, w);
        in[2] = ir_weight_ref(stack_weights(g, w, s->n));
    }
    int at = s->node[0];
    if (ir_insert_node(g, at, OP_LINEAR, in, nb, NULL, 0, block, err) < 0) return false;
    // Every insertion here lands before all the parts, moving each up by one.
    for (int j = 0; j < s->n; j++) s->node[j]++;
    int64_t offset = 0;
    for (int i = 0; i < s->n; i++) {
        const Type *t = &g->nodes[s->node[i]].type;
        int64_t size = t->dims[t->rank - 1].size;
        Attr a[2] = {ir_attr_int("offset", offset), ir_attr_int("size", size)};
        Operand from = ir_node_ref(at);
        if (ir_insert_node(g, at + 1 + i, OP_SLICE, &from, 1, a, 2, block, err) < 0) return false;
        for (int j = 0; j < s->n; j++) s->node[j]++;
        ir_replace_uses(g, s->node[i], ir_node_ref(at + 1 + i));
        offset += size;
    }
    bool *remove = xcalloc(g->n_nodes, sizeof(bool));
    for (int i = 0; i < s->n; i++) remove[s->node[i]] = true;
    ir_remove_nodes(g, remove);
    free(remove);
    ir_remove_unused_weights(g);
    return true;
}

static bool merge_all(Graph *g, const PassContext *ctx, TargetFn target, const char *pass, bool *changed,
                      AwqcError *err) {
    int merged = 0, parts = 0;
    IrUses u;
    ir_uses_build(g, &u);
    bool ok = true;
    for (size_t x = 0; x < g->n_nodes && ok; x++) {
        Siblings s;
        if (!find_siblings(g, &u, (int)x, target, &s)) continue;
        ok = merge(g, &s, err);
        merged += ok;
        parts += s.n;
        ir_uses_free(&u);
        ir_uses_build(g, &u); // the graph changed
    }
    ir_uses_free(&u);
    if (!ok) return false;
    *changed = merged > 0;
    if (ctx->log) fprintf(ctx->log, "%s: %d merged linears from %d\n", pass, merged, parts);
    return true;
}

bool pass_merge_qkv(Graph *g, const PassContext *ctx, bool *changed, AwqcError *err) {
    return merge_all(g, ctx, feeds_attention, "merge-qkv", changed, err);
}

bool pass_merge_gate_up(Graph *g, const PassContext *ctx, bool *changed, AwqcError *err) {
    return merge_all(g, ctx, feeds_product, "merge-gate-up", changed, err);
}
