// awq_clip.c: the AWQ clipping search for one linear (AWQ-SPEC.md section 5):
// per output row and column group, the symmetric clamp of the weights that
// best preserves the group's partial dot products with sampled input tokens.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "quantizer/awq.h"
#include "quantizer/quant.h"

// ----------------------------------------------------------------------------
// sampling the input

// Copies every stride-th token (at most AWQ_CLIP_TOKENS), as the reference
// subsamples; returns how many.
static int64_t sample_tokens(const float *x, int64_t n_tokens, int64_t cols, float **out) {
    int64_t stride = n_tokens / AWQ_CLIP_TOKENS > 1 ? n_tokens / AWQ_CLIP_TOKENS : 1;
    int64_t n = (n_tokens + stride - 1) / stride;
    if (n > AWQ_CLIP_TOKENS) n = AWQ_CLIP_TOKENS;
    *out = xmalloc(sizeof(float) * (size_t)(n * cols));
    for (int64_t t = 0; t < n; t++) memcpy(*out + t * cols, x + t * stride * cols, sizeof(float) * (size_t)cols);
    return n;
}

// ----------------------------------------------------------------------------
// one (row, group)

// Mean over the sampled tokens of (x_t . (q - w))^2 over the group's columns.
static double partial_error(const float *xs, int64_t n, int64_t cols, int64_t c0, const float *diff, int group) {
    double sum = 0;
    for (int64_t t = 0; t < n; t++) {
        const float *x = xs + t * cols + c0;
        double dot = 0;
        for (int c = 0; c < group; c++) dot += (double)x[c] * diff[c];
        sum += dot * dot;
    }
    return sum / (double)n;
}

static bool best_clip(const float *w, const float *xs, int64_t n, int64_t cols, int64_t c0, int bits, int group,
                      float *diff, float *best, AwqcError *err) {
    float org_max = 0;
    for (int c = 0; c < group; c++) org_max = fmaxf(org_max, fabsf(w[c]));
    double best_err = INFINITY;
    *best = org_max;
    for (int i = 0; i < AWQ_CLIP_STEPS; i++) {
        float max_val = org_max * (1.0f - (float)i / 20.0f);
        memcpy(diff, w, sizeof(float) * (size_t)group);
        if (!quant_fake_inplace(diff, 1, group, bits, group, &max_val, err)) return false;
        for (int c = 0; c < group; c++) diff[c] -= w[c];
        double e = partial_error(xs, n, cols, c0, diff, group);
        if (e < best_err) {
            best_err = e;
            *best = max_val;
        }
    }
    return true;
}

// ----------------------------------------------------------------------------
// the search

bool awq_search_clip(const float *w, int64_t rows, int64_t cols, const float *x, int64_t n_tokens, int bits,
                     int group, float *max_val, AwqcError *err) {
    if (!quant_check_params(rows, cols, bits, group, err)) return false;
    if (n_tokens <= 0) return awqc_fail(err, "clip search given %lld input tokens", (long long)n_tokens);
    float *xs;
    int64_t n = sample_tokens(x, n_tokens, cols, &xs);
    float *diff = xmalloc(sizeof(float) * (size_t)group);
    int64_t n_groups = cols / group;
    bool ok = true;
    for (int64_t r = 0; ok && r < rows; r++)
        for (int64_t gi = 0; ok && gi < n_groups; gi++)
            ok = best_clip(w + r * cols + gi * group, xs, n, cols, gi * group, bits, group, diff,
                           &max_val[r * n_groups + gi], err);
    free(diff);
    free(xs);
    return ok;
}
