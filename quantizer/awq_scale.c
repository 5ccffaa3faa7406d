// awq_scale.c: the AWQ scale search for one scale group (AWQ-SPEC.md section
// 3). Each candidate swaps the group's weight arrays for fake-quantized scaled
// copies, re-runs the group's node range on captured activations and compares
// with the full-precision output; the original arrays go back afterwards.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "quantizer/awq.h"
#include "quantizer/quant.h"
#include "runtime/interp_region.h"

// ----------------------------------------------------------------------------
// the search's state

typedef struct {
    int weight;       // index into g->weights
    int64_t rows, cols;
    float *orig;      // the graph's own array, put back after every candidate
    float *scratch;   // fakequant(W diag(s)) diag(1/s)
} SearchLinear;

typedef struct {
    Graph *g;
    const ScaleGroup *sg;
    const AwqActs *acts;
    const AwqScaleOptions *opt;
    int n_linears;
    SearchLinear lin[SG_MAX_LINEARS];
    int64_t out_width; // of sg->inspect
    float *fp_out;     // [windows * window_len, out_width]
} Search;

typedef struct {
    const Search *s;
    int window;
} WindowInput;

// Serves the captured value of node for the window being run.
static const float *window_value(int node, void *user) {
    const WindowInput *w = user;
    return awq_acts_window(w->s->acts, w->s->g, node, w->window);
}

// ----------------------------------------------------------------------------
// setting up

static bool init_linear(Search *s, int node, SearchLinear *l, AwqcError *err) {
    const Node *n = &s->g->nodes[node];
    if (n->op != OP_LINEAR || n->n_in < 2 || n->in[1].kind != OPND_WEIGHT)
        return awqc_fail(err, "scale group node %%%d is not a linear with a weight matrix", node);
    l->weight = n->in[1].index;
    const Weight *w = &s->g->weights[l->weight];
    if (!w->data || w->type.rank != 2) return awqc_fail(err, "weight '%s' is not a bound f32 matrix", w->name);
    l->rows = w->type.dims[0].size;
    l->cols = w->type.dims[1].size;
    if (l->cols != s->sg->channels)
        return awqc_fail(err, "weight '%s' has %lld input columns, the group %lld channels", w->name,
                         (long long)l->cols, (long long)s->sg->channels);
    AwqcError why;
    if (!quant_check_params(l->rows, l->cols, s->opt->bits, s->opt->group, &why))
        return awqc_fail(err, "weight '%s': %s", w->name, why.msg);
    l->orig = w->data;
    l->scratch = xmalloc(sizeof(float) * (size_t)(l->rows * l->cols));
    return true;
}

static void free_search(Search *s) {
    for (int i = 0; i < s->n_linears; i++) {
        s->g->weights[s->lin[i].weight].data = s->lin[i].orig;
        free(s->lin[i].scratch);
    }
    free(s->fp_out);
}

static bool init_search(Search *s, AwqcError *err) {
    const ScaleGroup *sg = s->sg;
    if (sg->n_linears < 1 || sg->n_linears > SG_MAX_LINEARS || sg->linears[0] > sg->inspect ||
        (size_t)sg->inspect >= s->g->n_nodes)
        return awqc_fail(err, "scale group at %%%d has no node range from its first linear to %%%d", sg->prev,
                         sg->inspect);
    for (int i = 0; i < sg->n_linears; i++) {
        if (!init_linear(s, sg->linears[i], &s->lin[i], err)) return false;
        s->n_linears = i + 1;
    }
    s->out_width = awq_node_width(s->g, sg->inspect);
    return true;
}

// ----------------------------------------------------------------------------
// running the module

// Runs the range on every window; with fp_out NULL stores the output as the
// full-precision reference, otherwise returns the mean squared difference.
static bool run_module(Search *s, double *loss, AwqcError *err) {
    const AwqActs *a = s->acts;
    size_t per_window = (size_t)a->window_len * (size_t)s->out_width;
    bool reference = s->fp_out == NULL;
    if (reference) s->fp_out = xmalloc(sizeof(float) * per_window * (size_t)a->windows);
    double sum = 0;
    for (int w = 0; w < a->windows; w++) {
        WindowInput in = {s, w};
        float *y = interp_eval_region(s->g, s->sg->linears[0], s->sg->inspect, a->window_len, window_value, &in,
                                      s->opt->n_threads, err);
        if (!y) return false;
        float *ref = s->fp_out + (size_t)w * per_window;
        if (reference) memcpy(ref, y, sizeof(float) * per_window);
        for (size_t i = 0; !reference && i < per_window; i++) {
            double d = (double)y[i] - ref[i];
            sum += d * d;
        }
        free(y);
    }
    *loss = sum / ((double)per_window * a->windows);
    return true;
}

// Points every linear at fakequant(W diag(s)) diag(1/s).
static bool install_candidate(Search *s, const float *scale, AwqcError *err) {
    for (int i = 0; i < s->n_linears; i++) {
        SearchLinear *l = &s->lin[i];
        size_t n = (size_t)(l->rows * l->cols);
        for (size_t k = 0; k < n; k++) l->scratch[k] = l->orig[k] * scale[k % (size_t)l->cols];
        if (!quant_fake_inplace(l->scratch, l->rows, l->cols, s->opt->bits, s->opt->group, NULL, err))
            return false;
        for (size_t k = 0; k < n; k++) l->scratch[k] /= scale[k % (size_t)l->cols];
        s->g->weights[l->weight].data = l->scratch;
    }
    return true;
}

static void restore_weights(Search *s) {
    for (int i = 0; i < s->n_linears; i++) s->g->weights[s->lin[i].weight].data = s->lin[i].orig;
}

static bool candidate_loss(Search *s, const float *scale, double *loss, AwqcError *err) {
    bool ok = install_candidate(s, scale, err) && run_module(s, loss, err);
    restore_weights(s);
    return ok;
}

// ----------------------------------------------------------------------------
// candidate scales

// Duo scaling's weight statistic: per input channel, the mean over the rows
// of all the group's linears of |W[r, c]| relative to the max |W| of its
// quantization group.
static double *weight_salience(const Search *s) {
    int64_t ch = s->sg->channels, group = s->opt->group, rows = 0;
    double *sw = xcalloc((size_t)ch, sizeof(double));
    for (int i = 0; i < s->n_linears; i++) {
        const SearchLinear *l = &s->lin[i];
        rows += l->rows;
        for (int64_t r = 0; r < l->rows; r++)
            for (int64_t c0 = 0; c0 < ch; c0 += group) {
                const float *w = l->orig + r * ch + c0;
                double mx = 0;
                for (int64_t c = 0; c < group; c++) mx = fmax(mx, fabs((double)w[c]));
                for (int64_t c = 0; c < group; c++) sw[c0 + c] += mx > 0 ? fabs((double)w[c]) / mx : 0.0;
            }
    }
    for (int64_t c = 0; c < ch; c++) sw[c] /= (double)rows;
    return sw;
}

// s = clamp(s_x^r [/ (s_w^(1-r) + 1e-4)], min 1e-4) / sqrt(max(s) * min(s))
static void candidate_scales(const double *s_x, const double *s_w, int64_t ch, double ratio, float *out) {
    double lo = INFINITY, hi = 0;
    double *s = xmalloc(sizeof(double) * (size_t)ch);
    for (int64_t c = 0; c < ch; c++) {
        double v = pow(s_x[c], ratio);
        if (s_w) v /= pow(s_w[c], 1.0 - ratio) + 1e-4;
        s[c] = fmax(v, 1e-4);
        lo = fmin(lo, s[c]);
        hi = fmax(hi, s[c]);
    }
    double norm = sqrt(hi * lo);
    for (int64_t c = 0; c < ch; c++) out[c] = (float)(s[c] / norm);
    free(s);
}

// ----------------------------------------------------------------------------
// the search

static bool grid_search(Search *s, const double *s_x, AwqScaleResult *out, AwqcError *err) {
    int64_t ch = s->sg->channels;
    float *cand = xmalloc(sizeof(float) * (size_t)ch);
    double *s_w = s->opt->duo ? weight_salience(s) : NULL;
    bool ok = true;
    out->best_loss = INFINITY;
    for (int r = 0; ok && r < AWQ_GRID; r++) {
        double ratio = (double)r / AWQ_GRID, loss = out->rtn_loss;
        candidate_scales(s_x, s_w, ch, ratio, cand);
        // Without duo scaling ratio 0 gives s = 1 exactly: that is the RTN run.
        if (r > 0 || s_w) ok = candidate_loss(s, cand, &loss, err);
        if (ok && loss < out->best_loss) {
            out->best_loss = loss;
            out->best_ratio = ratio;
            memcpy(out->scales, cand, sizeof(float) * (size_t)ch);
        }
    }
    free(cand);
    free(s_w);
    return ok;
}

static bool check_s_x(const double *s_x, int64_t ch, AwqcError *err) {
    for (int64_t c = 0; c < ch; c++)
        if (!isfinite(s_x[c]) || s_x[c] < 0)
            return awqc_fail(err, "input statistic of channel %lld is %g, not finite and >= 0", (long long)c, s_x[c]);
    return true;
}

bool awq_search_scales(Graph *g, const ScaleGroup *sg, const AwqActs *acts, const double *s_x,
                       const AwqScaleOptions *opt, AwqScaleResult *out, AwqcError *err) {
    memset(out, 0, sizeof *out);
    if (!check_s_x(s_x, sg->channels, err)) return false;
    Search s = {.g = g, .sg = sg, .acts = acts, .opt = opt};
    double unused;
    bool ok = init_search(&s, err) && run_module(&s, &unused, err);
    float *ones = ok ? xmalloc(sizeof(float) * (size_t)sg->channels) : NULL;
    for (int64_t c = 0; ok && c < sg->channels; c++) ones[c] = 1.0f;
    ok = ok && candidate_loss(&s, ones, &out->rtn_loss, err);
    free(ones);
    if (ok) {
        out->scales = xmalloc(sizeof(float) * (size_t)sg->channels);
        ok = grid_search(&s, s_x, out, err);
    }
    free_search(&s);
    if (!ok) awq_scale_result_free(out);
    return ok;
}

void awq_scale_result_free(AwqScaleResult *r) {
    free(r->scales);
    memset(r, 0, sizeof *r);
}
