// test_quant_fixture.c: awqc's RTN quantizer and AutoAWQ GEMM packing against
// an independent torch implementation of AWQ-SPEC.md sections 1 and 6
// (tests/reference/make_quant_fixtures.py -> tests/fixtures/quant/rtn_small.json).
// Every code, zero point, f16 scale and packed word must be identical.
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "quantizer/awq_gemm.h"
#include "test_support.h"

// ----------------------------------------------------------------------------
// JSON helpers

static cJSON *load_fixture(void) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/fixtures/quant/rtn_small.json", test_source_dir());
    AwqcError err;
    char *text = awqc_read_file(path, NULL, &err);
    if (!text) test_skip(err.msg);
    cJSON *j = cJSON_Parse(text);
    free(text);
    if (!j) AWQC_PANIC("%s: not valid JSON", path);
    return j;
}

static int64_t json_int(const cJSON *obj, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    AWQC_ASSERT(cJSON_IsNumber(v));
    return (int64_t)v->valuedouble;
}

// The integer array obj[key]; its length must be n.
static int64_t *json_ints(const cJSON *obj, const char *key, int64_t n) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(obj, key);
    AWQC_ASSERT(cJSON_IsArray(a) && cJSON_GetArraySize(a) == n);
    int64_t *out = xmalloc((size_t)n * sizeof *out);
    int64_t i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, a) out[i++] = (int64_t)e->valuedouble;
    return out;
}

static float *json_f32_bits(const cJSON *obj, const char *key, int64_t n) {
    int64_t *bits = json_ints(obj, key, n);
    float *out = xmalloc((size_t)n * sizeof *out);
    for (int64_t i = 0; i < n; i++) {
        uint32_t b = (uint32_t)bits[i];
        memcpy(&out[i], &b, sizeof b);
    }
    free(bits);
    return out;
}

// Counts the positions where got[i] != want[i]; prints the first one.
#define COUNT_DIFFS(what, got, want, n)                                                        \
    do {                                                                                       \
        int64_t diffs_ = 0;                                                                    \
        for (int64_t i_ = 0; i_ < (n); i_++) {                                                 \
            if ((int64_t)(got)[i_] == (int64_t)(want)[i_]) continue;                           \
            if (!diffs_) fprintf(stderr, "%s: first difference at %lld: %lld vs %lld\n", what, \
                                 (long long)i_, (long long)(got)[i_], (long long)(want)[i_]);  \
            diffs_++;                                                                          \
        }                                                                                      \
        CHECK_MSG(diffs_ == 0, "%s: %lld of %lld differ", what, (long long)diffs_,             \
                  (long long)(n));                                                             \
    } while (0)

// ----------------------------------------------------------------------------
// Checks

static void check_codes(const cJSON *c, const QuantMatrix *m) {
    int64_t n = m->rows * m->cols, ng = m->rows * quant_n_groups(m);
    int64_t *q = json_ints(c, "q", n), *zeros = json_ints(c, "zeros", ng);
    int64_t *scales = json_ints(c, "scales_f16", ng);
    COUNT_DIFFS("q", m->q, q, n);
    COUNT_DIFFS("zeros", m->zeros, zeros, ng);
    COUNT_DIFFS("scales", m->scales, scales, ng);
    free(q);
    free(zeros);
    free(scales);
}

static void check_dequant(const cJSON *c, const QuantMatrix *m) {
    int64_t rows = json_int(c, "dequant_rows"), n = rows * m->cols;
    float *want = json_f32_bits(c, "dequant_f32", n);
    float *got = xmalloc((size_t)(m->rows * m->cols) * sizeof *got);
    quant_dequantize(m, got);
    CHECK_MSG(memcmp(got, want, (size_t)n * sizeof *got) == 0, "dequantized rows differ from torch");
    free(want);
    free(got);
}

static void check_packing(const cJSON *c, const QuantMatrix *m) {
    AwqGemm p;
    AwqcError err;
    if (!awq_gemm_pack(m, &p, &err)) {
        CHECK_MSG(false, "%s", err.msg);
        return;
    }
    int64_t out8 = m->rows / 8, ng = quant_n_groups(m);
    int64_t *qweight = json_ints(c, "qweight", m->cols * out8);
    int64_t *qzeros = json_ints(c, "qzeros", ng * out8);
    COUNT_DIFFS("qweight", p.qweight, qweight, m->cols * out8);
    COUNT_DIFFS("qzeros", p.qzeros, qzeros, ng * out8);
    // scales [in/g, out] are the row-major scales transposed.
    for (int64_t o = 0; o < m->rows; o++)
        for (int64_t g = 0; g < ng; g++) CHECK(p.scales[g * m->rows + o] == m->scales[o * ng + g]);
    free(qweight);
    free(qzeros);
    awq_gemm_free(&p);
}

static void check_case(const cJSON *c, const float *w, int64_t rows, int64_t cols) {
    int bits = (int)json_int(c, "bits"), group = (int)json_int(c, "group");
    printf("case W%d g%d\n", bits, group);
    QuantMatrix m;
    AwqcError err;
    if (!quant_rtn(w, rows, cols, bits, group, &m, &err)) {
        CHECK_MSG(false, "%s", err.msg);
        return;
    }
    check_codes(c, &m);
    check_dequant(c, &m);
    if (bits == 4) check_packing(c, &m);
    quant_matrix_free(&m);
}

int main(void) {
    cJSON *j = load_fixture();
    int64_t rows = json_int(j, "rows"), cols = json_int(j, "cols");
    float *w = json_f32_bits(j, "w_f32", rows * cols);
    const cJSON *cases = cJSON_GetObjectItemCaseSensitive(j, "cases"), *c;
    CHECK(cJSON_GetArraySize(cases) == 3);
    cJSON_ArrayForEach(c, cases) check_case(c, w, rows, cols);
    free(w);
    cJSON_Delete(j);
    return test_result();
}
