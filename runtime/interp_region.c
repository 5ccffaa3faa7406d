// interp_region.c: evaluating a node range on supplied inputs (interp_region.h)
// with the reference interpreter's own per-node step (interp_node.h), so a
// block re-run here is bit-identical to the same block inside a forward.
#include "interp_region.h"

#include <omp.h>
#include <stdlib.h>

#include "interp_node.h"

typedef struct {
    const Graph *g;
    int first, last, T;
    const float **vals; // per node: supplied or computed value, NULL if neither
    bool *owned;        // per node: vals[i] was computed here (and is freed here)
    InterpObserver observe;
    void *observe_user;
} Region;

// ----------------------------------------------------------------------------
// checks and inputs

static bool check_range(const Graph *g, int first, int last, int T, AwqcError *err) {
    if (first < 0 || last < first || (size_t)last >= g->n_nodes)
        return awqc_fail(err, "region %%%d..%%%d is not a node range of '%s' (%zu nodes)", first, last, g->name,
                         g->n_nodes);
    if (T <= 0) return awqc_fail(err, "nothing to evaluate: %d tokens", T);
    for (int i = first; i <= last; i++) {
        const Type *t = &g->nodes[i].type;
        bool rows = t->rank >= 1 && t->dims[0].kind == DIM_T;
        for (int d = 1; d < t->rank; d++) rows = rows && t->dims[d].kind == DIM_CONST;
        if (!rows) return awqc_fail(err, "node %%%d: a region's values must be shaped [T, constant...]", i);
    }
    return true;
}

// Operand j of node i, when it is a weight, must be bound to f32 data.
static bool check_weight(const Graph *g, int i, int j, AwqcError *err) {
    const Weight *w = &g->weights[g->nodes[i].in[j].index];
    if (!w->data || w->type.dtype != DT_F32)
        return awqc_fail(err, "node %%%d: weight '%s' is not bound to f32 data", i, w->name);
    return true;
}

// A value from before the range: asked of given once, then remembered.
static bool fetch_input(Region *r, int i, int from, RegionInput given, void *user, AwqcError *err) {
    if (r->vals[from]) return true;
    if (r->g->nodes[from].op == OP_INPUT)
        return awqc_fail(err, "node %%%d reads the token ids (%%%d); a region must start after them", i, from);
    r->vals[from] = given(from, user);
    if (!r->vals[from]) return awqc_fail(err, "node %%%d reads %%%d, which the region's inputs do not supply", i, from);
    return true;
}

static bool gather_inputs(Region *r, RegionInput given, void *user, AwqcError *err) {
    for (int i = r->first; i <= r->last; i++) {
        const Node *n = &r->g->nodes[i];
        if (n->op == OP_INPUT) return awqc_fail(err, "node %%%d is the graph input; a region cannot contain it", i);
        for (int j = 0; j < n->n_in; j++) {
            bool ok = n->in[j].kind == OPND_WEIGHT ? check_weight(r->g, i, j, err)
                      : n->in[j].index < r->first  ? fetch_input(r, i, n->in[j].index, given, user, err)
                                                   : true;
            if (!ok) return false;
        }
    }
    return true;
}

// ----------------------------------------------------------------------------
// evaluation

// An attention node starts from an empty cache of T rows, as a forward at
// position 0 does.
static float *eval_attention(const Region *r, const InterpStep *s, int i) {
    int64_t kvd = interp_kv_width(r->g, i);
    InterpKv kv = {xmalloc(sizeof(float) * (size_t)(r->T * kvd)), xmalloc(sizeof(float) * (size_t)(r->T * kvd))};
    float *y = interp_eval_node(s, i, &kv);
    free(kv.k);
    free(kv.v);
    return y;
}

static float *run_region(Region *r) {
    InterpStep s = {r->g, NULL, r->vals, NULL, r->T, 0};
    for (int i = r->first; i <= r->last; i++) {
        r->vals[i] = interp_has_kv(r->g, i) ? eval_attention(r, &s, i) : interp_eval_node(&s, i, NULL);
        r->owned[i] = true;
        if (r->observe) r->observe(r->g, i, r->vals[i], r->T, ir_row_width(&r->g->nodes[i].type), r->observe_user);
    }
    float *out = (float *)r->vals[r->last];
    r->owned[r->last] = false; // handed to the caller
    return out;
}

static void free_region(Region *r) {
    for (int i = r->first; i <= r->last; i++)
        if (r->owned[i]) free((float *)r->vals[i]);
    free(r->vals);
    free(r->owned);
}

float *interp_eval_region(const Graph *g, int first, int last, int T, RegionInput given, void *user, int n_threads,
                          AwqcError *err) {
    return interp_eval_region_observed(g, first, last, T, given, user, NULL, NULL, n_threads, err);
}

float *interp_eval_region_observed(const Graph *g, int first, int last, int T, RegionInput given, void *user,
                                   InterpObserver observe, void *observe_user, int n_threads, AwqcError *err) {
    if (!check_range(g, first, last, T, err)) return NULL;
    Region r = {g,    first, last, T, xcalloc(g->n_nodes, sizeof(float *)), xcalloc(g->n_nodes, sizeof(bool)),
                observe, observe_user};
    float *out = NULL;
    if (gather_inputs(&r, given, user, err)) {
        omp_set_num_threads(n_threads > 0 ? n_threads : omp_get_num_procs());
        out = run_region(&r);
    }
    free_region(&r);
    return out;
}
