// fold.c: folding AWQ scales into bound f32 weights (fold.h). A fold is first
// planned (every weight it will write found, bound, owned and shaped right)
// and only then applied, so a rejected group leaves the graph untouched.
#include "fold.h"

#include <math.h>

// The weights one fold writes: rows divided (a norm's weight and bias are
// "rows" one element wide) and matrices whose columns are multiplied.
typedef struct {
    int div_weight, div_bias; // div_bias -1 when prev has no bias
    int mul[SG_MAX_LINEARS];
} FoldPlan;

// ----------------------------------------------------------------------------
// checks

// Operands anywhere in the graph that read weight w.
static int weight_uses(const Graph *g, int w) {
    int uses = 0;
    for (size_t i = 0; i < g->n_nodes; i++)
        for (int j = 0; j < g->nodes[i].n_in; j++)
            uses += g->nodes[i].in[j].kind == OPND_WEIGHT && g->nodes[i].in[j].index == w;
    return uses;
}

// Operand i of node must be a weight bound to f32 data that nothing else
// reads, so that rewriting it changes this node only. Returns its index or -1.
static int owned_weight(const Graph *g, int node, int i, AwqcError *err) {
    const Node *n = &g->nodes[node];
    if (i >= n->n_in || n->in[i].kind != OPND_WEIGHT)
        return awqc_fail(err, "fold: operand %d of %s %%%d is not a weight", i, ir_op_name(n->op), node), -1;
    int w = n->in[i].index;
    const Weight *wt = &g->weights[w];
    if (!wt->data || wt->type.dtype != DT_F32)
        return awqc_fail(err, "fold: weight '%s' of %s %%%d is not bound to f32 data", wt->name, ir_op_name(n->op),
                         node), -1;
    int uses = weight_uses(g, w);
    if (uses != 1)
        return awqc_fail(err, "fold: weight '%s' of %s %%%d is read by %d operands; folding into it would change "
                         "the others too", wt->name, ir_op_name(n->op), node, uses), -1;
    return w;
}

static bool node_in_range(const Graph *g, int node) { return node >= 0 && (size_t)node < g->n_nodes; }

static int64_t dim(const Graph *g, int w, int d) {
    const Type *t = &g->weights[w].type;
    return d < t->rank ? t->dims[d].size : 1;
}

static bool check_scales(const float *s, int64_t channels, AwqcError *err) {
    for (int64_t c = 0; c < channels; c++)
        if (!(isfinite(s[c]) && s[c] > 0))
            return awqc_fail(err, "fold: scale %lld is %g; scales must be finite and positive", (long long)c,
                             (double)s[c]);
    return true;
}

// A bias (or layer_norm shift) operand, if present, must cover `rows` entries.
static bool plan_bias(const Graph *g, int node, int i, int64_t rows, int *out, AwqcError *err) {
    *out = -1;
    if (i >= g->nodes[node].n_in) return true;
    int b = *out = owned_weight(g, node, i, err);
    if (b < 0) return false;
    if (ir_type_elements(&g->weights[b].type) != rows)
        return awqc_fail(err, "fold: bias '%s' of %%%d has %lld entries, expected %lld", g->weights[b].name, node,
                         (long long)ir_type_elements(&g->weights[b].type), (long long)rows);
    return true;
}

static bool plan_prev(const Graph *g, const ScaleGroup *sg, FoldPlan *p, AwqcError *err) {
    const Node *n = &g->nodes[sg->prev];
    bool norm = n->op == OP_RMS_NORM || n->op == OP_LAYER_NORM;
    if (sg->kind == SG_PREV_NORM ? !norm : n->op != OP_LINEAR)
        return awqc_fail(err, "fold: %%%d is a %s, which does not fit a %s group", sg->prev, ir_op_name(n->op),
                         sg->kind == SG_PREV_NORM ? "norm" : "linear -> linear");
    int w = p->div_weight = owned_weight(g, sg->prev, 1, err);
    if (w < 0) return false;
    int64_t rows = norm ? ir_type_elements(&g->weights[w].type) : dim(g, w, 0);
    if (norm ? rows != sg->channels : rows < sg->channels)
        return awqc_fail(err, "fold: '%s' of %s %%%d has %lld output channels, the group %lld",
                         g->weights[w].name, ir_op_name(n->op), sg->prev, (long long)rows, (long long)sg->channels);
    return plan_bias(g, sg->prev, 2, rows, &p->div_bias, err);
}

static bool plan_linears(const Graph *g, const ScaleGroup *sg, FoldPlan *p, AwqcError *err) {
    if (sg->n_linears < 1 || sg->n_linears > SG_MAX_LINEARS)
        return awqc_fail(err, "fold: a group has 1 to %d linears, not %d", SG_MAX_LINEARS, sg->n_linears);
    for (int i = 0; i < sg->n_linears; i++) {
        int l = sg->linears[i];
        if (!node_in_range(g, l) || g->nodes[l].op != OP_LINEAR)
            return awqc_fail(err, "fold: the group's linear %d (%%%d) is not a linear node", i, l);
        for (int j = 0; j < i; j++)
            if (sg->linears[j] == l) return awqc_fail(err, "fold: linear %%%d is listed twice in the group", l);
        int w = p->mul[i] = owned_weight(g, l, 1, err);
        if (w < 0) return false;
        if (dim(g, w, 1) != sg->channels)
            return awqc_fail(err, "fold: '%s' of linear %%%d has %lld input columns, the group %lld channels",
                             g->weights[w].name, l, (long long)dim(g, w, 1), (long long)sg->channels);
    }
    return true;
}

// ----------------------------------------------------------------------------
// writing

// data holds n_rows rows of `width` floats; the last `channels` rows are
// divided, row n_rows - channels + c by s[c].
static void divide_last_rows(float *data, int64_t n_rows, int64_t width, const float *s, int64_t channels) {
    for (int64_t c = 0; c < channels; c++) {
        float *row = data + (n_rows - channels + c) * width;
        for (int64_t k = 0; k < width; k++) row[k] /= s[c];
    }
}

void awq_multiply_columns(float *w, int64_t rows, int64_t cols, const float *s) {
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) w[r * cols + c] *= s[c];
}

static void divide_prev(Graph *g, const ScaleGroup *sg, const FoldPlan *p, const float *s) {
    Weight *dw = &g->weights[p->div_weight];
    bool norm = sg->kind == SG_PREV_NORM;
    int64_t rows = norm ? sg->channels : dim(g, p->div_weight, 0);
    divide_last_rows(dw->data, rows, norm ? 1 : dim(g, p->div_weight, 1), s, sg->channels);
    if (p->div_bias >= 0) divide_last_rows(g->weights[p->div_bias].data, rows, 1, s, sg->channels);
}

static bool check_group(const Graph *g, const ScaleGroup *sg, const float *s, AwqcError *err) {
    if (!node_in_range(g, sg->prev)) return awqc_fail(err, "fold: group prev %%%d is not a node", sg->prev);
    if (sg->channels <= 0) return awqc_fail(err, "fold: the group has %lld channels", (long long)sg->channels);
    return check_scales(s, sg->channels, err);
}

bool awq_fold_scales(Graph *g, const ScaleGroup *sg, const float *s, AwqcError *err) {
    FoldPlan p = {.div_weight = -1, .div_bias = -1};
    if (!check_group(g, sg, s, err) || !plan_prev(g, sg, &p, err) || !plan_linears(g, sg, &p, err)) return false;
    divide_prev(g, sg, &p, s);
    for (int i = 0; i < sg->n_linears; i++)
        awq_multiply_columns(g->weights[p.mul[i]].data, dim(g, p.mul[i], 0), sg->channels, s);
    return true;
}

bool awq_fold_into_prev(Graph *g, const ScaleGroup *sg, const float *s, AwqcError *err) {
    FoldPlan p = {.div_weight = -1, .div_bias = -1};
    if (!check_group(g, sg, s, err) || !plan_prev(g, sg, &p, err)) return false;
    divide_prev(g, sg, &p, s);
    return true;
}
