// awq_clip.c: the AWQ clipping search for one linear (AWQ-SPEC.md section 5):
// per output row and column group, the symmetric clamp of the weights that
// best preserves the group's partial dot products with sampled input tokens.
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "quantizer/awq.h"
#include "quantizer/quant.h"

// The inner loop is written for speed: it is the quantizer's hot spot after
// the interpreter (10 candidate clips x 512 tokens x every weight). The
// sampled tokens are stored transposed, channel-major, so that for one
// (row, group) the 10 candidates' partial dot products over 16 tokens at a
// time stay in 10 vector registers while the group's channels stream by.

enum { TOK_LANES = 16 };
typedef float f32x16 __attribute__((vector_size(TOK_LANES * sizeof(float))));

// ----------------------------------------------------------------------------
// sampling the input

typedef struct {
    int64_t n;     // tokens sampled
    int64_t n_pad; // n rounded up to TOK_LANES; the padding tokens are zero
    float *xt;     // [cols, n_pad]: xt[c * n_pad + t] = x[token t][c]
} Sample;

// Takes every stride-th token (at most AWQ_CLIP_TOKENS), as the reference
// subsamples, transposed, each channel divided by in_scale when given.
static Sample sample_tokens(const float *x, int64_t n_tokens, int64_t cols, const float *in_scale) {
    int64_t stride = n_tokens / AWQ_CLIP_TOKENS > 1 ? n_tokens / AWQ_CLIP_TOKENS : 1;
    Sample s = {.n = (n_tokens + stride - 1) / stride};
    if (s.n > AWQ_CLIP_TOKENS) s.n = AWQ_CLIP_TOKENS;
    s.n_pad = (s.n + TOK_LANES - 1) / TOK_LANES * TOK_LANES;
    s.xt = xcalloc((size_t)(cols * s.n_pad), sizeof(float));
    for (int64_t t = 0; t < s.n; t++)
        for (int64_t c = 0; c < cols; c++) {
            float v = x[t * stride * cols + c];
            s.xt[c * s.n_pad + t] = in_scale ? v / in_scale[c] : v;
        }
    return s;
}

// ----------------------------------------------------------------------------
// one (row, group)

// err[i] = sum over sampled tokens of (x_t . diff_i)^2 over the group's
// columns c0.., for the AWQ_CLIP_STEPS difference vectors diff[i][group].
// The loops over the candidates are unrolled by pragma, as -O3 does anyway:
// at -O2 (the test builds) the sums stayed in memory and took twice the time.
static void partial_errors(const Sample *s, int64_t c0, const float *diff, int group, double *err) {
    f32x16 sq[AWQ_CLIP_STEPS] = {{0}};
    for (int64_t t0 = 0; t0 < s->n_pad; t0 += TOK_LANES) {
        f32x16 dot[AWQ_CLIP_STEPS] = {{0}};
        const float *xc = s->xt + c0 * s->n_pad + t0;
        for (int c = 0; c < group; c++, xc += s->n_pad) {
            f32x16 xv;
            memcpy(&xv, xc, sizeof xv);
#pragma GCC unroll 16
            for (int i = 0; i < AWQ_CLIP_STEPS; i++) dot[i] += diff[i * group + c] * xv;
        }
#pragma GCC unroll 16
        for (int i = 0; i < AWQ_CLIP_STEPS; i++) sq[i] += dot[i] * dot[i];
    }
    for (int i = 0; i < AWQ_CLIP_STEPS; i++) {
        err[i] = 0;
        for (int l = 0; l < TOK_LANES; l++) err[i] += (double)sq[i][l];
    }
}

// Picks max_val = org_max * (1 - i/20) with the least error; ties keep the
// larger one. diff: scratch of AWQ_CLIP_STEPS * group floats.
static bool best_clip(const float *w, const Sample *s, int64_t c0, int bits, int group, float *diff, float *best,
                      AwqcError *err) {
    float org_max = 0, max_vals[AWQ_CLIP_STEPS];
    for (int c = 0; c < group; c++) org_max = fabsf(w[c]) > org_max ? fabsf(w[c]) : org_max;
    for (int i = 0; i < AWQ_CLIP_STEPS; i++) {
        float *d = diff + i * group;
        max_vals[i] = org_max * (1.0f - (float)i / 20.0f);
        memcpy(d, w, sizeof(float) * (size_t)group);
        if (!quant_fake_inplace(d, 1, group, bits, group, &max_vals[i], err)) return false;
        for (int c = 0; c < group; c++) d[c] -= w[c];
    }
    double errs[AWQ_CLIP_STEPS], best_err = INFINITY;
    partial_errors(s, c0, diff, group, errs);
    *best = org_max;
    for (int i = 0; i < AWQ_CLIP_STEPS; i++)
        if (errs[i] < best_err) {
            best_err = errs[i];
            *best = max_vals[i];
        }
    return true;
}

// ----------------------------------------------------------------------------
// the search

bool awq_search_clip(const float *w, int64_t rows, int64_t cols, const float *x, int64_t n_tokens,
                     const float *in_scale, int bits, int group, float *max_val, AwqcError *err) {
    if (!quant_check_params(rows, cols, bits, group, err)) return false;
    if (n_tokens <= 0) return awqc_fail(err, "clip search given %lld input tokens", (long long)n_tokens);
    Sample s = sample_tokens(x, n_tokens, cols, in_scale);
    int64_t n_groups = cols / group;
    bool ok = true;
#pragma omp parallel
    {
        float *diff = xmalloc(sizeof(float) * (size_t)(AWQ_CLIP_STEPS * group));
        AwqcError mine;
        bool my_ok = true;
#pragma omp for schedule(dynamic, 8)
        for (int64_t r = 0; r < rows; r++)
            for (int64_t gi = 0; my_ok && gi < n_groups; gi++)
                my_ok = best_clip(w + r * cols + gi * group, &s, gi * group, bits, group, diff,
                                  &max_val[r * n_groups + gi], &mine);
#pragma omp critical
        if (!my_ok && ok) {
            ok = false;
            *err = mine;
        }
        free(diff);
    }
    free(s.xt);
    return ok;
}
