// awq_driver.c: quantizes a whole bound graph in place (awq_driver.h). RTN
// rounds every selected linear; AWQ walks the blocks in node order and, per
// block, captures full-precision activations, searches and folds the scale
// groups' scales, searches clips and rounds the block's linears.
#include "quantizer/awq_driver.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ir/uses.h"
#include "quantizer/awq.h"
#include "quantizer/fold.h"
#include "quantizer/quant.h"

// ----------------------------------------------------------------------------
// The driver's state
//
// Each block's activations must be those of the full-precision model (spec
// section 2), but the stream reaches a block only after the ones before it
// were rewritten, and a block's own weights change while it is searched. So
// the driver keeps a pristine copy of each weight before it first writes it
// and swaps those copies in while the stream evaluates (stream_fp).

typedef struct {
    Graph *g;
    const QuantOptions *o;
    const int32_t *ids;
    size_t n_ids;
    int window_len, windows;
    bool *quantize;    // per weight: a linear matrix selected for quantization
    float **pristine;  // per weight: full-precision copy of a rewritten weight, or NULL
    ScaleGroup *groups;
    size_t n_groups;
    AwqStream stream; // AWQ: full-precision activations, block by block
    QuantReport *rep;
} Driver;

static const Weight *node_matrix(const Graph *g, int node) { return &g->weights[ir_linear_matrix(g, node)]; }

// A weight already rounded has its codes in the report.
static bool is_rounded(const Driver *d, int w) { return d->rep->codes[w].q != NULL; }

// ----------------------------------------------------------------------------
// Which linear matrices are quantized

static bool linear_may_quantize(const Graph *g, int node, int group) {
    int w = ir_linear_matrix(g, node);
    const Weight *wt = &g->weights[w];
    return !ir_is_embedding_table(g, w) && !ir_is_output(g, node) && wt->type.rank == 2 &&
           wt->type.dims[1].size % group == 0;
}

// Marks d->quantize and lists the other linear matrices in the report. A
// matrix two linears share is quantized only when both would quantize it.
static void select_weights(Driver *d) {
    const Graph *g = d->g;
    bool *refused = xcalloc(g->n_weights + 1, sizeof(bool)), *seen = xcalloc(g->n_weights + 1, sizeof(bool));
    for (size_t i = 0; i < g->n_nodes; i++) {
        int w = ir_linear_matrix(g, (int)i);
        if (w < 0) continue;
        seen[w] = true;
        if (!linear_may_quantize(g, (int)i, d->o->group)) refused[w] = true;
    }
    for (size_t w = 0; w < g->n_weights; w++) {
        if (!seen[w]) continue;
        d->quantize[w] = !refused[w];
        if (d->quantize[w]) {
            d->rep->quantized++;
            continue;
        }
        d->rep->skipped_names = xrealloc(d->rep->skipped_names, sizeof(char *) * (d->rep->skipped + 1));
        d->rep->skipped_names[d->rep->skipped++] = xstrdup(g->weights[w].name);
    }
    free(refused);
    free(seen);
}

static bool check_bound(const Driver *d, AwqcError *err) {
    for (size_t w = 0; w < d->g->n_weights; w++)
        if (d->quantize[w] && !d->g->weights[w].data)
            return awqc_fail(err, "weight '%s' is not bound to f32 data", d->g->weights[w].name);
    return true;
}

// ----------------------------------------------------------------------------
// Rounding one matrix

// Quantizes weight w (clipped to max_val when not NULL), keeps its codes in
// the report and replaces its data by their dequantized values.
static bool round_matrix(Driver *d, int w, const float *max_val, AwqcError *err) {
    Weight *wt = &d->g->weights[w];
    QuantMatrix *m = &d->rep->codes[w];
    AwqcError e;
    if (!quant_rtn_clipped(wt->data, wt->type.dims[0].size, wt->type.dims[1].size, d->o->bits, d->o->group,
                           max_val, m, &e))
        return awqc_fail(err, "weight '%s': %s", wt->name, e.msg);
    quant_dequantize(m, wt->data);
    return true;
}

static bool quantize_rtn(Driver *d, AwqcError *err) {
    for (size_t w = 0; w < d->g->n_weights; w++)
        if (d->quantize[w] && !round_matrix(d, (int)w, NULL, err)) return false;
    return true;
}

// ----------------------------------------------------------------------------
// Pristine copies and full-precision captures

static void keep_pristine(Driver *d, int w) {
    Weight *wt = &d->g->weights[w];
    if (d->pristine[w] || !wt->data) return;
    size_t n = (size_t)ir_type_elements(&wt->type);
    d->pristine[w] = xmalloc(sizeof(float) * n);
    memcpy(d->pristine[w], wt->data, sizeof(float) * n);
}

static void keep_node_weights(Driver *d, int node) {
    const Node *n = &d->g->nodes[node];
    for (int k = 0; k < n->n_in; k++)
        if (n->in[k].kind == OPND_WEIGHT) keep_pristine(d, n->in[k].index);
}

static void swap_pristine(Driver *d) {
    for (size_t w = 0; w < d->g->n_weights; w++) {
        if (!d->pristine[w]) continue;
        float *t = d->g->weights[w].data;
        d->g->weights[w].data = d->pristine[w];
        d->pristine[w] = t;
    }
}

// Evaluates the stream through node `last` on full-precision weights.
static bool stream_fp(Driver *d, int last, AwqcError *err) {
    swap_pristine(d);
    bool ok = awq_stream_advance(&d->stream, last, err);
    swap_pristine(d);
    return ok;
}

// ----------------------------------------------------------------------------
// One block (a "unit": the quantized linears and scale groups of one block id)

typedef struct {
    int block;
    int *linears; // quantized linear nodes, in node order
    int n_linears;
    int *groups; // indices into Driver.groups
    int n_groups;
    int first, last; // node range the unit's searches touch
    int capture_lo;  // the earliest value that range reads (unit_capture_lo)
    AwqScaleResult *found; // per unit group
} Unit;

static bool group_fully_quantized(const Driver *d, const ScaleGroup *sg) {
    for (int k = 0; k < sg->n_linears; k++)
        if (!d->quantize[ir_linear_matrix(d->g, sg->linears[k])]) return false;
    return true;
}

// The first node to capture: the earliest value a node of the unit's range
// reads (the block input the searches re-run from).
static int unit_capture_lo(const Graph *g, const Unit *u) {
    int lo = u->first;
    for (int i = u->first; i <= u->last; i++)
        for (int k = 0; k < g->nodes[i].n_in; k++) {
            const Operand *op = &g->nodes[i].in[k];
            if (op->kind == OPND_NODE && g->nodes[op->index].op != OP_INPUT && op->index < lo) lo = op->index;
        }
    return lo;
}

static void unit_collect(const Driver *d, Unit *u) {
    u->linears = xmalloc(sizeof(int) * (d->g->n_nodes + 1));
    u->groups = xmalloc(sizeof(int) * (d->n_groups + 1));
    u->first = INT32_MAX;
    u->last = -1;
    for (size_t i = 0; i < d->g->n_nodes; i++) {
        int w = ir_linear_matrix(d->g, (int)i);
        if (w < 0 || !d->quantize[w] || d->g->nodes[i].block != u->block) continue;
        u->linears[u->n_linears++] = (int)i;
        u->first = (int)i < u->first ? (int)i : u->first;
        u->last = (int)i > u->last ? (int)i : u->last;
    }
    for (size_t i = 0; i < d->n_groups; i++) {
        const ScaleGroup *sg = &d->groups[i];
        if (sg->block != u->block || !group_fully_quantized(d, sg)) continue;
        u->groups[u->n_groups++] = (int)i;
        u->first = sg->prev < u->first ? sg->prev : u->first;
        u->last = sg->inspect > u->last ? sg->inspect : u->last;
    }
    u->capture_lo = unit_capture_lo(d->g, u);
    u->found = xcalloc((size_t)u->n_groups + 1, sizeof(AwqScaleResult));
}

static void unit_free(Unit *u) {
    for (int i = 0; i < u->n_groups; i++) awq_scale_result_free(&u->found[i]);
    free(u->found);
    free(u->linears);
    free(u->groups);
}

// s_x[c]: mean |x[c]| of the group's input over the captured tokens.
static double *input_abs_mean(const Graph *g, const ScaleGroup *sg, const AwqActs *acts) {
    int input = g->nodes[sg->linears[0]].in[0].index;
    AWQC_ASSERT(awq_node_width(g, input) == sg->channels && acts->value[input]);
    int64_t n = (int64_t)acts->windows * acts->window_len, ch = sg->channels;
    double *s_x = xcalloc((size_t)ch, sizeof(double));
    for (int64_t t = 0; t < n; t++)
        for (int64_t c = 0; c < ch; c++) s_x[c] += fabs((double)acts->value[input][t * ch + c]);
    for (int64_t c = 0; c < ch; c++) s_x[c] /= (double)n;
    return s_x;
}

static bool unit_search_scales(Driver *d, Unit *u, const AwqActs *acts, AwqcError *err) {
    AwqScaleOptions opt = {d->o->bits, d->o->group, d->o->duo, d->o->threads};
    for (int i = 0; i < u->n_groups; i++) {
        const ScaleGroup *sg = &d->groups[u->groups[i]];
        double *s_x = input_abs_mean(d->g, sg, acts);
        bool ok = awq_search_scales(d->g, sg, acts, s_x, &opt, &u->found[i], err);
        free(s_x);
        if (!ok) return false;
    }
    return true;
}

static const char *weight_of_node(const Graph *g, int node) {
    const Node *n = &g->nodes[node];
    for (int k = 0; k < n->n_in; k++)
        if (n->in[k].kind == OPND_WEIGHT) return g->weights[n->in[k].index].name;
    return "?";
}

static void record_scales(Driver *d, const ScaleGroup *sg, const AwqScaleResult *r) {
    QuantReport *rep = d->rep;
    rep->scales = xrealloc(rep->scales, sizeof(QuantScaleRecord) * (rep->n_scales + 1));
    QuantScaleRecord *q = &rep->scales[rep->n_scales++];
    *q = (QuantScaleRecord){.prev = xstrdup(weight_of_node(d->g, sg->prev)),
                            .linears = xmalloc(sizeof(char *) * (size_t)sg->n_linears),
                            .n_linears = sg->n_linears,
                            .channels = sg->channels,
                            .ratio = r->best_ratio,
                            .rtn_loss = r->rtn_loss,
                            .best_loss = r->best_loss,
                            .scales = xmalloc(sizeof(float) * (size_t)sg->channels)};
    for (int k = 0; k < sg->n_linears; k++) q->linears[k] = xstrdup(weight_of_node(d->g, sg->linears[k]));
    memcpy(q->scales, r->scales, sizeof(float) * (size_t)sg->channels);
}

// All groups are searched on the untouched block first, then folded, so no
// search sees another group's scales.
static bool unit_fold_scales(Driver *d, Unit *u, AwqcError *err) {
    for (int i = 0; i < u->n_groups; i++) {
        if (!u->found[i].scales) continue;
        const ScaleGroup *sg = &d->groups[u->groups[i]];
        if (!awq_fold_scales(d->g, sg, u->found[i].scales, err)) return false;
        record_scales(d, sg, &u->found[i]);
        d->rep->n_groups_scaled++;
    }
    return true;
}

// ----------------------------------------------------------------------------
// Clipping and rounding the unit's linears

// The folded scales of the group holding `node`, or NULL.
static const float *scales_of_linear(const Driver *d, const Unit *u, int node) {
    for (int i = 0; i < u->n_groups; i++) {
        const ScaleGroup *sg = &d->groups[u->groups[i]];
        for (int k = 0; k < sg->n_linears; k++)
            if (sg->linears[k] == node) return u->found[i].scales;
    }
    return NULL;
}

static bool clip_and_round(Driver *d, const Unit *u, int node, const AwqActs *acts, AwqcError *err) {
    int w = ir_linear_matrix(d->g, node);
    if (is_rounded(d, w)) return true;
    // Clipping is not searched for q and k: their rotation mixes channel pairs.
    if (!d->o->clip || ir_first_reader(d->g, node, OP_ROPE) >= 0) return round_matrix(d, w, NULL, err);
    const Weight *wt = node_matrix(d->g, node);
    int64_t rows = wt->type.dims[0].size, cols = wt->type.dims[1].size;
    // The input as the folded graph computes it: the full-precision value with
    // each channel divided by its group's scale (folding is exact).
    const float *x = acts->value[d->g->nodes[node].in[0].index];
    AWQC_ASSERT(x != NULL);
    float *max_val = xmalloc(sizeof(float) * (size_t)(rows * (cols / d->o->group)));
    AwqcError e;
    bool ok = awq_search_clip(wt->data, rows, cols, x, (int64_t)acts->windows * acts->window_len,
                              scales_of_linear(d, u, node), d->o->bits, d->o->group, max_val, &e);
    if (!ok) awqc_fail(err, "weight '%s': %s", wt->name, e.msg);
    ok = ok && round_matrix(d, w, max_val, err);
    free(max_val);
    return ok;
}

// The bench's line per block: the chosen ratios and the summed losses.
static void print_progress(const Unit *u, const QuantProgress *p) {
    fprintf(stderr, "awq: %-16s %d linears  ratio", p->block, u->n_linears);
    for (int i = 0; i < u->n_groups; i++) fprintf(stderr, "%s%.2f", i ? "," : " ", u->found[i].best_ratio);
    if (!u->n_groups) fprintf(stderr, " -");
    fprintf(stderr, "  loss %.3g -> %.3g  (%.2f s)\n", p->rtn_loss, p->best_loss, p->seconds);
}

static void report_progress(const Driver *d, const Unit *u, int done, int total, double seconds) {
    QuantProgress p = {done, total, u->block >= 0 ? d->g->blocks[u->block] : "graph", seconds, 0, 0};
    for (int i = 0; i < u->n_groups; i++) {
        p.rtn_loss += u->found[i].rtn_loss;
        p.best_loss += u->found[i].best_loss;
    }
    if (d->o->on_block) d->o->on_block(&p, d->o->progress_user);
    else if (d->o->progress) print_progress(u, &p);
}

// Searches, folds and rounds one unit on the full-precision values the
// stream holds once advanced through u->last.
static bool unit_run(Driver *d, Unit *u, int done, int total, AwqcError *err) {
    double t0 = awqc_now();
    for (int i = u->first; i <= u->last; i++) keep_node_weights(d, i);
    for (int i = 0; i < u->n_groups; i++) keep_node_weights(d, d->groups[u->groups[i]].prev);
    if (!stream_fp(d, u->last, err)) return false;
    const AwqActs *acts = &d->stream.acts;
    bool ok = unit_search_scales(d, u, acts, err) && unit_fold_scales(d, u, err);
    for (int i = 0; ok && i < u->n_linears; i++) ok = clip_and_round(d, u, u->linears[i], acts, err);
    if (ok) report_progress(d, u, done, total, awqc_now() - t0);
    return ok;
}

// ----------------------------------------------------------------------------
// AWQ over all blocks, in the order of their first quantized linear

// The units, one per block holding a quantized linear, in the order of
// their first quantized linear.
static Unit *collect_units(Driver *d, int *n_units) {
    Unit *units = xcalloc(d->g->n_blocks + 2, sizeof(Unit));
    bool *visited = xcalloc(d->g->n_blocks + 2, sizeof(bool)); // [block + 1]
    *n_units = 0;
    for (size_t i = 0; i < d->g->n_nodes; i++) {
        int w = ir_linear_matrix(d->g, (int)i);
        int b = d->g->nodes[i].block;
        if (w < 0 || !d->quantize[w] || visited[b + 1]) continue;
        visited[b + 1] = true;
        Unit *u = &units[(*n_units)++];
        u->block = b;
        unit_collect(d, u);
    }
    free(visited);
    return units;
}

// The first node a unit from k on reads or computes: the stream keeps the
// values from there and those nodes after it read.
static int units_first_from(const Driver *d, const Unit *units, int n_units, int k) {
    int first = (int)d->g->n_nodes;
    for (int i = k; i < n_units; i++) first = units[i].capture_lo < first ? units[i].capture_lo : first;
    return first;
}

static bool quantize_awq(Driver *d, AwqcError *err) {
    d->n_groups = ir_find_scale_groups(d->g, &d->groups);
    int n_units;
    Unit *units = collect_units(d, &n_units);
    int head = n_units ? units[0].first - 1 : 0;
    for (int k = 1; k < n_units; k++) head = units[k].first - 1 < head ? units[k].first - 1 : head;
    bool ok = n_units == 0 ||
              awq_stream_start(&d->stream, d->g, d->ids, d->n_ids, d->window_len, d->windows, head, d->o->threads, err);
    for (int k = 0; ok && k < n_units; k++) {
        ok = unit_run(d, &units[k], k + 1, n_units, err);
        int keep = units_first_from(d, units, n_units, k + 1), next = d->stream.frontier + 1;
        if (ok) awq_stream_forget(&d->stream, keep < next ? keep : next);
    }
    for (int k = 0; k < n_units; k++) unit_free(&units[k]);
    free(units);
    awq_stream_free(&d->stream);
    return ok;
}

static bool check_options(const Graph *g, size_t n_ids, int window_len, int windows, const QuantOptions *o,
                          const int32_t *ids, AwqcError *err) {
    if (o->bits < QUANT_MIN_BITS || o->bits > QUANT_MAX_BITS)
        return awqc_fail(err, "%d bits: the quantizer takes %d to %d", o->bits, QUANT_MIN_BITS, QUANT_MAX_BITS);
    if (o->group <= 0) return awqc_fail(err, "group size %d is not positive", o->group);
    if (o->method != QM_AWQ) return true;
    if (!ids || window_len <= 0 || windows <= 0)
        return awqc_fail(err, "AWQ on graph '%s' needs calibration ids and positive window_len and windows",
                         g->name);
    if (n_ids / (size_t)windows < (size_t)window_len)
        return awqc_fail(err, "calibration has %zu tokens, fewer than %d windows of %d", n_ids, windows,
                         window_len);
    return true;
}

// ----------------------------------------------------------------------------
// Entry points

bool awq_quantize_graph(Graph *g, const int32_t *ids, size_t n_ids, int window_len, int windows,
                        const QuantOptions *o, QuantReport *rep, AwqcError *err) {
    memset(rep, 0, sizeof *rep);
    if (!check_options(g, n_ids, window_len, windows, o, ids, err)) return false;
    double t0 = awqc_now();
    size_t nw = g->n_weights + 1;
    rep->codes = xcalloc(nw, sizeof(QuantMatrix));
    rep->n_weights = g->n_weights;
    Driver d = {.g = g, .o = o, .ids = ids, .n_ids = n_ids, .window_len = window_len, .windows = windows,
                .quantize = xcalloc(nw, sizeof(bool)), .pristine = xcalloc(nw, sizeof(float *)), .rep = rep};
    select_weights(&d);
    bool ok = check_bound(&d, err) && (o->method == QM_AWQ ? quantize_awq(&d, err) : quantize_rtn(&d, err));
    for (size_t w = 0; w < g->n_weights; w++) free(d.pristine[w]);
    free(d.pristine);
    free(d.quantize);
    free(d.groups);
    rep->seconds = awqc_now() - t0;
    if (!ok) quant_report_free(rep);
    return ok;
}

void quant_report_free(QuantReport *r) {
    for (size_t i = 0; i < r->skipped; i++) free(r->skipped_names[i]);
    free(r->skipped_names);
    for (size_t i = 0; r->codes && i < r->n_weights; i++) quant_matrix_free(&r->codes[i]);
    free(r->codes);
    for (size_t i = 0; i < r->n_scales; i++) {
        QuantScaleRecord *q = &r->scales[i];
        for (int k = 0; k < q->n_linears; k++) free(q->linears[k]);
        free(q->linears);
        free(q->prev);
        free(q->scales);
    }
    free(r->scales);
    memset(r, 0, sizeof *r);
}
