// awq_acts.c: captures the full-precision activations the AWQ searches re-run
// modules on: an interpreter observer copies the values of a node range,
// window by window, into one array per node.
#include <stdlib.h>
#include <string.h>

#include "quantizer/awq.h"
#include "runtime/interp.h"
#include "runtime/interp_region.h"

// ----------------------------------------------------------------------------
// observing

typedef struct {
    AwqActs *acts;
    int lo, hi;
    int window; // the window being run
} Capture;

int64_t awq_node_width(const Graph *g, int node) {
    const Type *t = &g->nodes[node].type;
    int64_t w = 1;
    for (int d = 1; d < t->rank; d++) w *= t->dims[d].size;
    return w;
}

static void keep_value(const Graph *g, int node, const float *value, int T, int64_t width, void *user) {
    Capture *c = user;
    AwqActs *a = c->acts;
    // An output the interpreter computes for the last token only is not kept.
    if (node < c->lo || node > c->hi || T != a->window_len) return;
    AWQC_ASSERT(width == awq_node_width(g, node));
    size_t row = (size_t)width, per_window = (size_t)T * row;
    if (!a->value[node]) a->value[node] = xmalloc(sizeof(float) * per_window * (size_t)a->windows);
    memcpy(a->value[node] + (size_t)c->window * per_window, value, sizeof(float) * per_window);
}

// ----------------------------------------------------------------------------
// the public calls

bool awq_acts_capture(const Graph *g, const int32_t *ids, size_t n_ids, int window_len, int windows, int lo, int hi,
                      int n_threads, AwqActs *out, AwqcError *err) {
    memset(out, 0, sizeof *out);
    if (window_len <= 0 || windows <= 0 || (size_t)window_len * (size_t)windows > n_ids)
        return awqc_fail(err, "capturing %d windows of %d tokens needs more than the %zu tokens given", windows,
                         window_len, n_ids);
    if (lo < 0 || hi < lo || (size_t)hi >= g->n_nodes)
        return awqc_fail(err, "%%%d..%%%d is not a node range of graph '%s'", lo, hi, g->name);
    Interp *in = interp_new(g, window_len, n_threads, err);
    if (!in) return false;
    *out = (AwqActs){windows, window_len, g->n_nodes, xcalloc(g->n_nodes, sizeof(float *))};
    Capture c = {out, lo, hi, 0};
    interp_set_observer(in, keep_value, &c);
    bool ok = true;
    for (c.window = 0; ok && c.window < windows; c.window++) {
        interp_reset(in);
        ok = interp_forward(in, ids + (size_t)c.window * (size_t)window_len, window_len, false, err) != NULL;
    }
    interp_free(in);
    if (!ok) awq_acts_free(out);
    return ok;
}

const float *awq_acts_window(const AwqActs *a, const Graph *g, int node, int window) {
    if (node < 0 || (size_t)node >= a->n_nodes || !a->value[node]) return NULL;
    return a->value[node] + (size_t)window * (size_t)a->window_len * (size_t)awq_node_width(g, node);
}

void awq_acts_free(AwqActs *a) {
    if (!a->value) return;
    for (size_t i = 0; i < a->n_nodes; i++) free(a->value[i]);
    free(a->value);
    memset(a, 0, sizeof *a);
}

// ----------------------------------------------------------------------------
// streaming block by block

bool awq_stream_start(AwqStream *s, const Graph *g, const int32_t *ids, size_t n_ids, int window_len, int windows,
                      int upto, int n_threads, AwqcError *err) {
    memset(s, 0, sizeof *s);
    if (!awq_acts_capture(g, ids, n_ids, window_len, windows, 0, upto, n_threads, &s->acts, err)) return false;
    s->g = g;
    s->frontier = upto;
    ir_uses_build(g, &s->uses);
    s->n_threads = n_threads;
    return true;
}

typedef struct {
    AwqStream *s;
    int window;
} StreamWindow;

static const float *stream_value(int node, void *user) {
    const StreamWindow *w = user;
    return awq_acts_window(&w->s->acts, w->s->g, node, w->window);
}

bool awq_stream_advance(AwqStream *s, int last, AwqcError *err) {
    if (last <= s->frontier) return true;
    AwqActs *a = &s->acts;
    Capture c = {a, s->frontier + 1, last, 0};
    for (c.window = 0; c.window < a->windows; c.window++) {
        StreamWindow in = {s, c.window};
        float *y = interp_eval_region_observed(s->g, s->frontier + 1, last, a->window_len, stream_value, &in,
                                               keep_value, &c, s->n_threads, err);
        if (!y) return false;
        free(y);
    }
    s->frontier = last;
    return true;
}

void awq_stream_forget(AwqStream *s, int from) {
    for (int i = 0; i < from && (size_t)i < s->acts.n_nodes; i++) {
        if (s->uses.last_reader[i] >= from) continue;
        free(s->acts.value[i]);
        s->acts.value[i] = NULL;
    }
}

void awq_stream_free(AwqStream *s) {
    awq_acts_free(&s->acts);
    if (s->g) ir_uses_free(&s->uses);
    memset(s, 0, sizeof *s);
}
