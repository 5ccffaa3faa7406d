// test_quant_rtn.c: the RTN quantizer on hand-computed groups (known scale,
// zero and codes, half-to-even ties, the 1e-5 range floor), the error bound
// on random matrices, parameter errors, and the clipped and in-place variants.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "quantizer/quant.h"
#include "test_support.h"

// ----------------------------------------------------------------------------
// Helpers

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rng_next(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

// Uniform in [-1, 1).
static float rng_sym(void) { return (float)rng_next() / 2147483648.0f - 1.0f; }

// Quantizes and compares with the expected codes of one row of n values.
static void expect_group(const float *w, int n, int bits, uint16_t scale_h, int zero, const uint8_t *q) {
    QuantMatrix m;
    AwqcError err;
    if (!quant_rtn(w, 1, n, bits, n, &m, &err)) {
        CHECK_MSG(false, "%s", err.msg);
        return;
    }
    CHECK_MSG(m.scales[0] == scale_h, "scale 0x%04x, expected 0x%04x", m.scales[0], scale_h);
    CHECK_MSG(m.zeros[0] == zero, "zero %d, expected %d", m.zeros[0], zero);
    for (int i = 0; i < n; i++) CHECK_MSG(m.q[i] == q[i], "q[%d] = %d, expected %d", i, m.q[i], q[i]);
    float deq[64];
    quant_dequantize(&m, deq);
    float s = awqc_f16_to_f32(scale_h);
    for (int i = 0; i < n; i++) CHECK(deq[i] == ((float)q[i] - (float)zero) * s);
    quant_matrix_free(&m);
}

// ----------------------------------------------------------------------------
// Hand-computed groups

static void test_hand_groups(void) {
    // min -1.25, max 2.5: range 3.75, scale 3.75/15 = 0.25 exactly (f16 0x3400),
    // zero = -round(-5) = 5. 0.125/s = 0.5 -> 0 and -0.625/s = -2.5 -> -2 (ties
    // to even); 0.375/s = 1.5 -> 2; -0.1/s = -0.4 -> 0.
    const float w1[8] = {-1.25f, 2.5f, 0.125f, 0.375f, -0.625f, 0.625f, 1.0f, -0.1f};
    const uint8_t q1[8] = {0, 15, 5, 7, 3, 7, 9, 5};
    expect_group(w1, 8, 4, 0x3400, 5, q1);

    // A tie in the zero point: min -0.625, range 3.75 -> min/s = -2.5 -> zero 2,
    // so the max 3.125 (12.5 -> 12) lands on 14, not 15.
    const float w2[8] = {-0.625f, 3.125f, 0.0f, 1.0f, 0.875f, -0.375f, 2.25f, 3.0f};
    const uint8_t q2[8] = {0, 14, 2, 6, 6, 0, 11, 14};
    expect_group(w2, 8, 4, 0x3400, 2, q2);

    // 3 bits: range 3.5 / 7 = 0.5 (0x3800), zero = -round(-3) = 3.
    const float w3[8] = {-1.5f, 2.0f, 0.25f, -0.75f, 1.0f, 0.0f, 0.75f, -0.25f};
    const uint8_t q3[8] = {0, 7, 3, 1, 5, 3, 5, 3};
    expect_group(w3, 8, 3, 0x3800, 3, q3);

    // 2 bits: range 3 / 3 = 1 (0x3c00), zero 1; 0.5 -> 0, 1.5 -> 2.
    const float w4[4] = {-1.0f, 2.0f, 0.5f, 1.5f};
    const uint8_t q4[4] = {0, 3, 1, 3};
    expect_group(w4, 4, 2, 0x3c00, 1, q4);
}

static void test_range_floor(void) {
    // A constant group has range 0 -> floor 1e-5: scale 1e-5/15 = 6.67e-7 is
    // an f16 subnormal, 11.18 units of 2^-24 -> 11 (0x000b).
    float zeros[32] = {0}, pos[32], neg[32];
    uint8_t q0[32] = {0}, q_pos[32], q_neg[32];
    for (int i = 0; i < 32; i++) {
        pos[i] = 0.5f;
        neg[i] = -0.5f;
        q_pos[i] = 15;
        q_neg[i] = 0;
    }
    expect_group(zeros, 32, 4, 0x000b, 0, q0); // dequantizes to exact zeros
    // Constant groups away from zero are where the spec's clamped zero point
    // bites: +0.5 -> zero 0, q 15 (15 * 11 * 2^-24); -0.5 -> zero 15, q 0.
    expect_group(pos, 32, 4, 0x000b, 0, q_pos);
    expect_group(neg, 32, 4, 0x000b, 15, q_neg);
}

// ----------------------------------------------------------------------------
// Random matrices: codes in range, and |w - w'| within the bound

// The spec's f32 scale of a group, before f16 rounding.
static float spec_scale(const float *w, int n, int bits) {
    float lo = w[0], hi = w[0];
    for (int i = 1; i < n; i++) {
        lo = fminf(lo, w[i]);
        hi = fmaxf(hi, w[i]);
    }
    return fmaxf(hi - lo, 1e-5f) / (float)((1 << bits) - 1);
}

// Rounding w/s costs at most s/2. The f16 scale s may be a little smaller
// than the exact range / qmax, so the top of the range can be clamped by up
// to qmax * |s_f32 - s| more. The product (q - zero) * s adds an f32 ulp.
static void check_error_bound(const float *w, const QuantMatrix *m, const float *deq) {
    int64_t ng = quant_n_groups(m), worst_row = -1;
    float qmax = (float)((1 << m->bits) - 1), worst = 0;
    for (int64_t r = 0; r < m->rows; r++) {
        for (int64_t g = 0; g < ng; g++) {
            const float *src = w + r * m->cols + g * m->group;
            float s = awqc_f16_to_f32(m->scales[r * ng + g]);
            float bound = 0.5f * s + qmax * fabsf(spec_scale(src, m->group, m->bits) - s);
            CHECK(m->zeros[r * ng + g] <= qmax);
            for (int64_t i = 0; i < m->group; i++) {
                int64_t k = r * m->cols + g * m->group + i;
                float e = fabsf(w[k] - deq[k]);
                CHECK(m->q[k] <= qmax);
                if (e > bound * (1 + 1e-6f) && worst_row < 0) worst_row = r;
                worst = fmaxf(worst, e / s);
            }
        }
    }
    CHECK_MSG(worst_row < 0, "W%d g%d: error bound broken in row %lld", m->bits, m->group, (long long)worst_row);
    CHECK_MSG(worst > 0.45f && worst < 0.6f, "W%d g%d: worst |w - w'| = %.4f scales", m->bits,
              m->group, (double)worst);
}

static void test_random_bound(void) {
    const int64_t rows = 12, cols = 384;
    float *w = xmalloc((size_t)(rows * cols) * sizeof *w), *deq = xmalloc((size_t)(rows * cols) * sizeof *deq);
    for (int64_t r = 0; r < rows; r++) {
        float mag = powf(10.0f, (float)r / 2 - 4); // 1e-4 (f16-subnormal scales) .. ~30
        for (int64_t c = 0; c < cols; c++) w[r * cols + c] = mag * rng_sym();
    }
    const int bits[] = {3, 4}, groups[] = {32, 64, 128};
    for (int b = 0; b < 2; b++) {
        for (int g = 0; g < 3; g++) {
            QuantMatrix m;
            AwqcError err;
            CHECK_MSG(quant_rtn(w, rows, cols, bits[b], groups[g], &m, &err), "%s", err.msg);
            quant_dequantize(&m, deq);
            check_error_bound(w, &m, deq);
            quant_matrix_free(&m);
        }
    }
    free(w);
    free(deq);
}

// ----------------------------------------------------------------------------
// Errors

static void expect_error(const float *w, int64_t rows, int64_t cols, int bits, int group, const char *needle) {
    QuantMatrix m;
    AwqcError err = {{0}};
    CHECK(!quant_rtn(w, rows, cols, bits, group, &m, &err));
    CHECK(m.q == NULL && m.scales == NULL && m.zeros == NULL);
    CHECK_MSG(strstr(err.msg, needle) != NULL, "message \"%s\" lacks \"%s\"", err.msg, needle);
}

static void test_errors(void) {
    float w[256];
    for (int i = 0; i < 256; i++) w[i] = rng_sym();
    expect_error(w, 2, 100, 4, 64, "group size 64 does not divide in_features 100");
    expect_error(w, 1, 256, 4, 0, "group size 0 is not positive");
    expect_error(w, 1, 256, 9, 64, "unsupported bit width 9");
    expect_error(w, 1, 256, 1, 64, "unsupported bit width 1");
    expect_error(w, 0, 256, 4, 64, "empty matrix");
    w[128 + 5] = NAN;
    expect_error(w, 2, 128, 4, 64, "row 1, column 5 is not finite");
    w[133] = 1e6f;
    w[134] = -1e6f;
    expect_error(w, 2, 128, 4, 64, "row 1, group 0: the range of the group is too large");
}

// ----------------------------------------------------------------------------
// Clipping and quantize-dequantize in place

static void test_clip_hand(void) {
    // Clamped to [-1.875, 1.875]: range 3.75 -> scale 0.25, zero = -round(-7.5)
    // = 8, and 1.875 (7.5 -> 8, + 8 = 16) is clamped to 15.
    const float w[8] = {-5.0f, 0.0f, 1.875f, 0.5f, 9.0f, -0.25f, 1.0f, -1.875f};
    const uint8_t want[8] = {0, 8, 15, 10, 15, 7, 12, 0};
    const float clip = 1.875f;
    QuantMatrix m;
    AwqcError err;
    CHECK_MSG(quant_rtn_clipped(w, 1, 8, 4, 8, &clip, &m, &err), "%s", err.msg);
    CHECK(m.scales[0] == 0x3400 && m.zeros[0] == 8);
    CHECK(memcmp(m.q, want, 8) == 0);
    CHECK(w[0] == -5.0f && w[4] == 9.0f); // the input is not modified
    quant_matrix_free(&m);
    const float neg = -1.0f, inf = INFINITY;
    CHECK(!quant_rtn_clipped(w, 1, 8, 4, 8, &neg, &m, &err) && strstr(err.msg, "must be finite and >= 0"));
    CHECK(!quant_rtn_clipped(w, 1, 8, 4, 8, &inf, &m, &err) && strstr(err.msg, "row 0, group 0"));
}

static bool same_quant(const QuantMatrix *a, const QuantMatrix *b) {
    size_t ng = (size_t)(a->rows * quant_n_groups(a));
    return memcmp(a->q, b->q, (size_t)(a->rows * a->cols)) == 0 && memcmp(a->zeros, b->zeros, ng) == 0 &&
           memcmp(a->scales, b->scales, ng * sizeof *a->scales) == 0;
}

// Clip values at or above a group's absmax change nothing; quant_fake_inplace
// equals quantize + dequantize bit for bit, with and without clipping.
static void test_clip_random(void) {
    enum { ROWS = 6, COLS = 256, GROUP = 64, NG = COLS / GROUP };
    float w[ROWS * COLS], loose[ROWS * NG], tight[ROWS * NG], deq[ROWS * COLS], fake[ROWS * COLS];
    for (int i = 0; i < ROWS * COLS; i++) w[i] = rng_sym() * (1 + i % 7);
    for (int i = 0; i < ROWS * NG; i++) {
        float absmax = 0;
        for (int k = 0; k < GROUP; k++) absmax = fmaxf(absmax, fabsf(w[i * GROUP + k]));
        loose[i] = absmax * (i % 2 ? 1.0f : 3.0f);
        tight[i] = absmax * (1.0f - (float)(i % 10) / 20); // the spec's clip grid
    }
    QuantMatrix plain, clipped;
    AwqcError err;
    CHECK(quant_rtn(w, ROWS, COLS, 4, GROUP, &plain, &err));
    CHECK(quant_rtn_clipped(w, ROWS, COLS, 4, GROUP, loose, &clipped, &err));
    CHECK(same_quant(&plain, &clipped));
    quant_matrix_free(&clipped);
    const float *clips[2] = {NULL, tight};
    for (int t = 0; t < 2; t++) {
        CHECK(quant_rtn_clipped(w, ROWS, COLS, 3, GROUP, clips[t], &clipped, &err));
        quant_dequantize(&clipped, deq);
        memcpy(fake, w, sizeof w);
        CHECK(quant_fake_inplace(fake, ROWS, COLS, 3, GROUP, clips[t], &err));
        CHECK(memcmp(fake, deq, sizeof deq) == 0);
        // Clipped values dequantize to within half a scale of [-clip, clip].
        for (int i = 0; t == 1 && i < ROWS * COLS; i++)
            CHECK(fabsf(deq[i]) <= tight[i / GROUP] + 0.5001f * awqc_f16_to_f32(clipped.scales[i / GROUP]));
        quant_matrix_free(&clipped);
    }
    quant_matrix_free(&plain);
}

int main(void) {
    test_hand_groups();
    test_range_floor();
    test_random_bound();
    test_errors();
    test_clip_hand();
    test_clip_random();
    return test_result();
}
