// scale_groups.c: the AWQ scale-group pattern on the IR (rules in
// scale_groups.h): which ops can take a per-channel division of their output
// that a following set of linears undoes by multiplying their input columns.
// Only use counts and operand positions are consulted, never names.
#include "ir/scale_groups.h"

#include "ir/uses.h"

#include <stdlib.h>

// A weight referenced once can be rescaled without touching anything else.
static bool private_weight(const IrUses *u, Operand o) {
    return o.kind == OPND_WEIGHT && u->weight_uses[o.index] == 1;
}

// The node whose operand `slot` is the only use of `node`, or -1.
static int sole_user_at(const Graph *g, const IrUses *u, int node, int slot) {
    if (u->node_uses[node] != 1 || u->is_output[node]) return -1;
    int user = u->last_reader[node];
    const Node *n = &g->nodes[user];
    if (slot >= n->n_in || n->in[slot].kind != OPND_NODE || n->in[slot].index != node) return -1;
    return user;
}

static int64_t last_dim(const Type *t) {
    AWQC_ASSERT(t->rank >= 1);
    const Dim *d = &t->dims[t->rank - 1];
    return d->kind == DIM_CONST ? d->size : -1;
}

// ----------------------------------------------------------------------------
// which linears may be scaled, and which may act as prev

// Its columns may be multiplied: the matrix is its own and it is not the
// graph's result (the lm head stays floating point).
static bool scalable_linear(const Graph *g, const IrUses *u, int i) {
    const Node *n = &g->nodes[i];
    return n->op == OP_LINEAR && n->in[0].kind == OPND_NODE && private_weight(u, n->in[1]) && !u->is_output[i];
}

// Its output rows (and bias) may be divided as well.
static bool prev_linear(const Graph *g, const IrUses *u, int i) {
    const Node *n = &g->nodes[i];
    return scalable_linear(g, u, i) && (n->n_in < 3 || private_weight(u, n->in[2]));
}

static bool prev_norm(const Graph *g, const IrUses *u, int i) {
    const Node *n = &g->nodes[i];
    if ((n->op != OP_RMS_NORM && n->op != OP_LAYER_NORM) || u->is_output[i]) return false;
    if (n->in[0].kind != OPND_NODE) return false;
    for (int k = 1; k < n->n_in; k++)
        if (!private_weight(u, n->in[k])) return false;
    return true;
}

// ----------------------------------------------------------------------------
// rule 1: norm -> linears

// Collects the linears reading the norm; false when any use of it is
// something else, since dividing the norm's weight would change that user.
static bool collect_norm_linears(const Graph *g, const IrUses *u, int norm, ScaleGroup *sg) {
    sg->n_linears = 0;
    for (size_t j = (size_t)norm + 1; j < g->n_nodes; j++) {
        const Node *n = &g->nodes[j];
        for (int k = 0; k < n->n_in; k++) {
            if (n->in[k].kind != OPND_NODE || n->in[k].index != norm) continue;
            if (k != 0 || !scalable_linear(g, u, (int)j) || sg->n_linears == SG_MAX_LINEARS) return false;
            sg->linears[sg->n_linears++] = (int)j;
        }
    }
    return sg->n_linears > 0;
}

// reach[i]: node i is one of the group's linears or depends on one.
static bool *mark_dependents(const Graph *g, const ScaleGroup *sg) {
    bool *reach = xcalloc(g->n_nodes, sizeof(bool));
    for (int l = 0; l < sg->n_linears; l++) reach[sg->linears[l]] = true;
    for (size_t j = (size_t)sg->linears[0] + 1; j < g->n_nodes; j++) {
        const Node *n = &g->nodes[j];
        for (int k = 0; k < n->n_in && !reach[j]; k++)
            reach[j] = n->in[k].kind == OPND_NODE && reach[n->in[k].index];
    }
    return reach;
}

// The pre-norm residual `x + module(norm(x))`: the module's output is what
// the loss is measured on. -1 when there is no such add.
static int residual_operand(const Graph *g, int x, const bool *reach, int from) {
    for (size_t j = (size_t)from + 1; j < g->n_nodes; j++) {
        const Node *n = &g->nodes[j];
        if (n->op != OP_ADD || n->in[0].kind != OPND_NODE || n->in[1].kind != OPND_NODE) continue;
        int a = n->in[0].index, b = n->in[1].index;
        if (a == x && reach[b]) return b;
        if (b == x && reach[a]) return a;
    }
    return -1;
}

static int last_dependent_in_block(const Graph *g, const bool *reach, int block) {
    int last = -1;
    for (size_t j = 0; j < g->n_nodes; j++)
        if (reach[j] && g->nodes[j].block == block) last = (int)j;
    return last;
}

static bool norm_group(const Graph *g, const IrUses *u, int norm, ScaleGroup *sg) {
    if (!prev_norm(g, u, norm) || !collect_norm_linears(g, u, norm, sg)) return false;
    sg->kind = SG_PREV_NORM;
    sg->prev = norm;
    sg->block = g->nodes[sg->linears[0]].block;
    sg->channels = last_dim(&g->nodes[norm].type);
    bool *reach = mark_dependents(g, sg);
    int x = g->nodes[norm].in[0].index;
    sg->inspect = residual_operand(g, x, reach, sg->linears[sg->n_linears - 1]);
    if (sg->inspect < 0) sg->inspect = last_dependent_in_block(g, reach, sg->block);
    free(reach);
    AWQC_ASSERT(sg->inspect >= 0); // the linears themselves are in their block
    return true;
}

// ----------------------------------------------------------------------------
// rules 2 and 3: linear -> linear

static void set_linear_group(const Graph *g, int prev, int next, ScaleGroup *sg) {
    *sg = (ScaleGroup){.kind = SG_PREV_LINEAR, .prev = prev, .n_linears = 1, .linears = {next}, .inspect = next};
    sg->block = g->nodes[next].block;
    sg->channels = last_dim(&g->nodes[prev].type);
}

// When both factors of the product are candidate prevs, only the second one
// is taken, so the next linear's columns are scaled once.
static bool other_factor_is_prev(const Graph *g, const IrUses *u, int mul) {
    Operand b = g->nodes[mul].in[1];
    return b.kind == OPND_NODE && prev_linear(g, u, b.index) && sole_user_at(g, u, b.index, 1) == mul;
}

static bool product_group(const Graph *g, const IrUses *u, int up, int mul, ScaleGroup *sg) {
    const Node *m = &g->nodes[mul];
    if (m->op != OP_MUL) return false;
    int slot = m->in[0].kind == OPND_NODE && m->in[0].index == up ? 0 : 1;
    if (slot == 0 && other_factor_is_prev(g, u, mul)) return false;
    int down = sole_user_at(g, u, mul, 0);
    if (down < 0 || !scalable_linear(g, u, down)) return false;
    set_linear_group(g, up, down, sg);
    return true;
}

// Without grouped-query attention, output channel c of every head is a
// weighted sum of channel c of V alone, so s passes through unchanged.
static bool attention_group(const Graph *g, const IrUses *u, int v, int attn, ScaleGroup *sg) {
    const Node *a = &g->nodes[attn];
    if (a->op != OP_ATTENTION || sole_user_at(g, u, v, 2) != attn) return false;
    if (ir_node_attr_int(a, "heads", -1) != ir_node_attr_int(a, "kv_heads", -2)) return false;
    int o = sole_user_at(g, u, attn, 0);
    if (o < 0 || !scalable_linear(g, u, o)) return false;
    const Type *w = ir_operand_type(g, g->nodes[o].in[1]);
    if (w->rank != 2 || w->dims[1].size != last_dim(&g->nodes[v].type)) return false;
    set_linear_group(g, v, o, sg);
    return true;
}

static bool linear_group(const Graph *g, const IrUses *u, int prev, ScaleGroup *sg) {
    if (!prev_linear(g, u, prev) || u->node_uses[prev] != 1 || u->is_output[prev]) return false;
    int user = u->last_reader[prev];
    return product_group(g, u, prev, user, sg) || attention_group(g, u, prev, user, sg);
}

// ----------------------------------------------------------------------------
// public

size_t ir_find_scale_groups(const Graph *g, ScaleGroup **out) {
    IrUses u;
    ir_uses_build(g, &u);
    ScaleGroup *groups = NULL;
    size_t n = 0, cap = 0;
    for (size_t i = 0; i < g->n_nodes; i++) {
        ScaleGroup sg;
        if (!norm_group(g, &u, (int)i, &sg) && !linear_group(g, &u, (int)i, &sg)) continue;
        GROW(groups, cap, n + 1);
        groups[n++] = sg;
    }
    ir_uses_free(&u);
    *out = groups;
    return n;
}

void ir_print_scale_groups(const Graph *g, const ScaleGroup *sg, size_t n, FILE *out) {
    for (size_t i = 0; i < n; i++) {
        const ScaleGroup *s = &sg[i];
        const char *block = s->block >= 0 ? g->blocks[s->block] : "graph";
        fprintf(out, "%s: %s %%%d -> linear ", block, ir_op_name(g->nodes[s->prev].op), s->prev);
        for (int l = 0; l < s->n_linears; l++) fprintf(out, "%s%%%d", l ? ", " : "", s->linears[l]);
        fprintf(out, " (%lld channels); inspect %%%d\n", (long long)s->channels, s->inspect);
    }
}
