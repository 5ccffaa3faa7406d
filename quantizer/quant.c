// quant.c: group-wise asymmetric RTN quantization (AWQ-SPEC.md section 1) with
// f16 scales, the clipped variant used by the AWQ clip search, quantize-
// dequantize in place for the scale search, and an f32 -> f16 converter.
// All arithmetic is f32 and rounds half to even, so results match torch.
#include "quantizer/quant.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

// ----------------------------------------------------------------------------
// One group

typedef struct {
    float scale;      // the f16-rounded scale, as f32
    uint16_t scale_h; // its bit pattern
    float zero;       // an integer in 0..qmax
} GroupQuant;

typedef enum { GROUP_OK, GROUP_NONFINITE, GROUP_SCALE_OVERFLOW } GroupStatus;

// Min and max of values that are not NaN (checked first), as one instruction
// each: fminf and fmaxf are calls into libm without -ffast-math, and were a
// third of a short AWQ run's time (perf).
static inline float min_f(float a, float b) { return a < b ? a : b; }
static inline float max_f(float a, float b) { return a > b ? a : b; }

static float clip_value(float v, float clip) { return min_f(max_f(v, -clip), clip); }

// The range of the clipped values; false (with *bad the index) on a
// non-finite weight, checked before clipping since max_f would hide a NaN.
static bool group_range(const float *w, int64_t n, float clip, float *lo, float *hi, int64_t *bad) {
    float mn = INFINITY, mx = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(w[i])) {
            *bad = i;
            return false;
        }
        float v = clip_value(w[i], clip);
        mn = min_f(mn, v);
        mx = max_f(mx, v);
    }
    *lo = mn;
    *hi = mx;
    return true;
}

// Scale and zero point from the range (spec formulas, with the f16 scale).
static bool group_scale_zero(float lo, float hi, float qmax, GroupQuant *g) {
    float scale = max_f(hi - lo, QUANT_RANGE_FLOOR) / qmax;
    g->scale_h = awqc_f32_to_f16(scale);
    g->scale = awqc_f16_to_f32(g->scale_h);
    if (isinf(g->scale)) return false;
    g->zero = min_f(max_f(-rintf(lo / g->scale), 0.0f), qmax);
    return true;
}

static float quant_code(float v, const GroupQuant *g, float qmax) {
    return min_f(max_f(rintf(v / g->scale) + g->zero, 0.0f), qmax);
}

// Quantizes n values: fills *g, and the codes q[n] and/or the dequantized
// values out[n] where those are non-NULL (out may be w itself).
static GroupStatus quantize_group(const float *w, int64_t n, float clip, float qmax, GroupQuant *g, uint8_t *q,
                                  float *out, int64_t *bad) {
    float lo, hi;
    if (!group_range(w, n, clip, &lo, &hi, bad)) return GROUP_NONFINITE;
    if (!group_scale_zero(lo, hi, qmax, g)) return GROUP_SCALE_OVERFLOW;
    for (int64_t i = 0; i < n; i++) {
        float code = quant_code(clip_value(w[i], clip), g, qmax);
        if (q) q[i] = (uint8_t)code;
        if (out) out[i] = (code - g->zero) * g->scale;
    }
    return GROUP_OK;
}

// ----------------------------------------------------------------------------
// Whole matrices

typedef struct {
    int64_t rows, cols;
    int bits, group;
    const float *max_val; // [rows, cols / group] or NULL
} QuantJob;

static bool check_clip_values(const QuantJob *job, AwqcError *err) {
    if (!job->max_val) return true;
    int64_t n_groups = job->cols / job->group;
    for (int64_t i = 0; i < job->rows * n_groups; i++) {
        float v = job->max_val[i];
        if (!isfinite(v) || v < 0)
            return awqc_fail(err, "clip max_val for row %lld, group %lld is %g (must be finite and >= 0)",
                             (long long)(i / n_groups), (long long)(i % n_groups), (double)v);
    }
    return true;
}

static bool report_group_failure(GroupStatus st, const QuantJob *job, const float *src, int64_t row, int64_t gi,
                                 int64_t bad, AwqcError *err) {
    if (st == GROUP_NONFINITE)
        return awqc_fail(err, "weight at row %lld, column %lld is not finite (%g)", (long long)row,
                         (long long)(gi * job->group + bad), (double)src[bad]);
    return awqc_fail(err, "row %lld, group %lld: the range of the group is too large for an f16 scale",
                     (long long)row, (long long)gi);
}

// Quantizes every group of w, writing codes/scales/zeros into m and/or the
// dequantized matrix into fake (either may be NULL; fake may be w).
static bool run_job(const QuantJob *job, const float *w, QuantMatrix *m, float *fake, AwqcError *err) {
    if (!quant_check_params(job->rows, job->cols, job->bits, job->group, err)) return false;
    if (!check_clip_values(job, err)) return false;
    float qmax = (float)((1 << job->bits) - 1);
    int64_t n_groups = job->cols / job->group;
    for (int64_t r = 0; r < job->rows; r++) {
        for (int64_t gi = 0; gi < n_groups; gi++) {
            int64_t off = r * job->cols + gi * job->group, gidx = r * n_groups + gi, bad = 0;
            float clip = job->max_val ? job->max_val[gidx] : INFINITY;
            GroupQuant g;
            GroupStatus st = quantize_group(w + off, job->group, clip, qmax, &g, m ? m->q + off : NULL,
                                            fake ? fake + off : NULL, &bad);
            if (st != GROUP_OK) return report_group_failure(st, job, w + off, r, gi, bad, err);
            if (m) {
                m->scales[gidx] = g.scale_h;
                m->zeros[gidx] = (uint8_t)g.zero;
            }
        }
    }
    return true;
}

bool quant_rtn_clipped(const float *w, int64_t rows, int64_t cols, int bits, int group,
                       const float *max_val, QuantMatrix *out, AwqcError *err) {
    QuantJob job = {rows, cols, bits, group, max_val};
    if (!quant_matrix_init(out, rows, cols, bits, group, err)) return false;
    if (run_job(&job, w, out, NULL, err)) return true;
    quant_matrix_free(out);
    return false;
}

bool quant_rtn(const float *w, int64_t rows, int64_t cols, int bits, int group, QuantMatrix *out,
               AwqcError *err) {
    return quant_rtn_clipped(w, rows, cols, bits, group, NULL, out, err);
}

bool quant_fake_inplace(float *w, int64_t rows, int64_t cols, int bits, int group, const float *max_val,
                        AwqcError *err) {
    QuantJob job = {rows, cols, bits, group, max_val};
    return run_job(&job, w, NULL, w, err);
}
