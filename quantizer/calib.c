// calib.c: collects AWQ calibration statistics by watching the reference
// interpreter: an observer adds |x[c]| of every node some scale group reads
// into per-channel double sums, which become means once all windows ran.
#include "calib.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/interp.h"

// ----------------------------------------------------------------------------
// accumulating

typedef struct {
    double **node_sums; // per node: sum over tokens of |x[c]|; NULL when no group reads the node
    int64_t *node_width;
} AbsSums;

int calib_group_input(const Graph *g, const ScaleGroup *sg) {
    const Operand x = g->nodes[sg->linears[0]].in[0];
    AWQC_ASSERT(x.kind == OPND_NODE);
    return x.index;
}

static void add_abs_values(const Graph *g, int node, const float *value, int T, int64_t width, void *user) {
    AbsSums *acc = user;
    double *sum = acc->node_sums[node];
    if (!sum) return;
    AWQC_ASSERT(width == acc->node_width[node]);
    for (int t = 0; t < T; t++) {
        const float *row = value + (int64_t)t * width;
        for (int64_t c = 0; c < width; c++) sum[c] += fabs((double)row[c]);
    }
}

// Gives every node a group reads (a norm may feed one group, but several
// groups could share an input) one zeroed sum per channel.
static void alloc_sums(const Graph *g, const CalibStats *s, AbsSums *acc) {
    acc->node_sums = xcalloc(g->n_nodes, sizeof *acc->node_sums);
    acc->node_width = xcalloc(g->n_nodes, sizeof *acc->node_width);
    for (size_t i = 0; i < s->n_groups; i++) {
        int x = calib_group_input(g, &s->groups[i]);
        if (acc->node_sums[x]) continue;
        acc->node_sums[x] = xcalloc((size_t)s->groups[i].channels, sizeof(double));
        acc->node_width[x] = s->groups[i].channels;
    }
}

static void free_sums(const Graph *g, AbsSums *acc) {
    for (size_t i = 0; i < g->n_nodes; i++) free(acc->node_sums[i]);
    free(acc->node_sums);
    free(acc->node_width);
}

static void sums_to_means(const Graph *g, const AbsSums *acc, CalibStats *s) {
    s->abs_mean = xcalloc(s->n_groups, sizeof *s->abs_mean);
    for (size_t i = 0; i < s->n_groups; i++) {
        const double *sum = acc->node_sums[calib_group_input(g, &s->groups[i])];
        int64_t n = s->groups[i].channels;
        s->abs_mean[i] = xmalloc(sizeof(double) * (size_t)n);
        for (int64_t c = 0; c < n; c++) s->abs_mean[i][c] = sum[c] / (double)s->tokens;
    }
}

// ----------------------------------------------------------------------------
// running the windows

// How many windows to run, or 0 with err when not even one fits.
static size_t count_windows(size_t n_ids, int seqlen, int n_windows, AwqcError *err) {
    if (seqlen <= 0) return awqc_fail(err, "calibration window must be positive, got %d tokens", seqlen), 0;
    size_t available = n_ids / (size_t)seqlen;
    if (available == 0)
        return awqc_fail(err, "calibration text has %zu tokens, fewer than one window of %d", n_ids, seqlen), 0;
    return n_windows > 0 && (size_t)n_windows < available ? (size_t)n_windows : available;
}

static bool run_windows(Interp *in, const int32_t *ids, int seqlen, size_t windows, bool progress, CalibStats *s,
                        AwqcError *err) {
    double t0 = awqc_now();
    for (size_t w = 0; w < windows; w++) {
        interp_reset(in);
        if (!interp_forward(in, ids + w * (size_t)seqlen, seqlen, false, err)) {
            awqc_error_prefix(err, "calibration window %zu", w + 1);
            return false;
        }
        s->tokens += (size_t)seqlen;
        if (progress)
            fprintf(stderr, "calib: window %zu/%zu (%zu tokens, %.1f s)\n", w + 1, windows, s->tokens,
                    awqc_now() - t0);
    }
    return true;
}

static bool collect(const Graph *g, const int32_t *ids, size_t n_ids, int seqlen, int n_windows, int n_threads,
                    bool progress, CalibStats *out, AwqcError *err) {
    *out = (CalibStats){0};
    size_t windows = count_windows(n_ids, seqlen, n_windows, err);
    if (!windows) return false;
    out->n_groups = ir_find_scale_groups(g, &out->groups);
    if (out->n_groups == 0) return awqc_fail(err, "graph '%s' has no AWQ scale group to calibrate", g->name);
    Interp *in = interp_new(g, seqlen, n_threads, err);
    if (!in) {
        calib_stats_free(out);
        return false;
    }
    AbsSums acc;
    alloc_sums(g, out, &acc);
    interp_set_observer(in, add_abs_values, &acc);
    bool ok = run_windows(in, ids, seqlen, windows, progress, out, err);
    if (ok) sums_to_means(g, &acc, out);
    free_sums(g, &acc);
    interp_free(in);
    if (!ok) calib_stats_free(out);
    return ok;
}

// ----------------------------------------------------------------------------
// entry points

bool calib_collect_ids(const Graph *g, const int32_t *ids, size_t n_ids, int seqlen, int n_windows, int n_threads,
                       CalibStats *out, AwqcError *err) {
    return collect(g, ids, n_ids, seqlen, n_windows, n_threads, false, out, err);
}

bool calib_collect(const Model *m, const char *text, size_t len, int seqlen, int n_windows, int n_threads,
                   bool progress, CalibStats *out, AwqcError *err) {
    int32_t *ids = NULL;
    double t0 = awqc_now();
    size_t n_ids = tok_encode(m->tok, text, len, false, false, &ids);
    if (progress) fprintf(stderr, "calib: %zu tokens of text in %.1f s\n", n_ids, awqc_now() - t0);
    bool ok = collect(m->graph, ids, n_ids, seqlen, n_windows, n_threads, progress, out, err);
    free(ids);
    return ok;
}

void calib_stats_free(CalibStats *s) {
    if (!s) return;
    for (size_t i = 0; s->abs_mean && i < s->n_groups; i++) free(s->abs_mean[i]);
    free(s->abs_mean);
    free(s->groups);
    *s = (CalibStats){0};
}
