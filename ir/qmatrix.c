// qmatrix.c: storage of a QuantMatrix (qmatrix.h): parameter checks,
// allocation, and dequantization back to f32.
#include "ir/qmatrix.h"

#include <stdlib.h>
#include <string.h>

bool quant_check_params(int64_t rows, int64_t cols, int bits, int group, AwqcError *err) {
    if (bits < QUANT_MIN_BITS || bits > QUANT_MAX_BITS)
        return awqc_fail(err, "unsupported bit width %d (expected %d..%d)", bits, QUANT_MIN_BITS, QUANT_MAX_BITS);
    if (rows <= 0 || cols <= 0)
        return awqc_fail(err, "cannot quantize an empty matrix [%lld, %lld]", (long long)rows, (long long)cols);
    if (group <= 0) return awqc_fail(err, "group size %d is not positive", group);
    if (cols % group != 0)
        return awqc_fail(err, "group size %d does not divide in_features %lld", group, (long long)cols);
    return true;
}

bool quant_matrix_init(QuantMatrix *m, int64_t rows, int64_t cols, int bits, int group, AwqcError *err) {
    memset(m, 0, sizeof *m);
    if (!quant_check_params(rows, cols, bits, group, err)) return false;
    m->bits = bits;
    m->group = group;
    m->rows = rows;
    m->cols = cols;
    size_t n_groups = (size_t)(rows * (cols / group));
    m->q = xcalloc((size_t)(rows * cols), 1);
    m->scales = xcalloc(n_groups, sizeof *m->scales);
    m->zeros = xcalloc(n_groups, 1);
    return true;
}

void quant_matrix_free(QuantMatrix *m) {
    if (!m) return;
    free(m->q);
    free(m->scales);
    free(m->zeros);
    memset(m, 0, sizeof *m);
}

void quant_dequantize(const QuantMatrix *m, float *w) {
    int64_t n_groups = quant_n_groups(m);
    for (int64_t r = 0; r < m->rows; r++) {
        for (int64_t c = 0; c < m->cols; c++) {
            int64_t gidx = r * n_groups + c / m->group;
            float scale = awqc_f16_to_f32(m->scales[gidx]);
            w[r * m->cols + c] = ((float)m->q[r * m->cols + c] - (float)m->zeros[gidx]) * scale;
        }
    }
}
