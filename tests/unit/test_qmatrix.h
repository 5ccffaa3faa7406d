// test_qmatrix.h: random QuantMatrix fixtures (codes, zeros and raw f16 bit
// patterns from an xorshift generator) for the layout and packing tests.
// Header-only: only the tests that link the IR include it.
#ifndef AWQC_TEST_QMATRIX_H
#define AWQC_TEST_QMATRIX_H

#include <stdlib.h>

#include "ir/qmatrix.h"

static inline uint32_t test_xorshift(uint32_t *state) {
    *state ^= *state << 13;
    *state ^= *state >> 17;
    *state ^= *state << 5;
    return *state;
}

// A heap QuantMatrix: codes, then (zero, scale) per group, from *state.
static inline QuantMatrix *test_random_quant(uint32_t *state, int64_t rows, int64_t cols, int bits, int group) {
    QuantMatrix *m = xmalloc(sizeof *m);
    AwqcError err = {{0}};
    AWQC_ASSERT(quant_matrix_init(m, rows, cols, bits, group, &err));
    uint32_t levels = 1u << bits;
    size_t n = (size_t)(rows * cols), ng = (size_t)(rows * (cols / group));
    for (size_t i = 0; i < n; i++) m->q[i] = (uint8_t)(test_xorshift(state) % levels);
    for (size_t i = 0; i < ng; i++) {
        m->zeros[i] = (uint8_t)(test_xorshift(state) % levels);
        m->scales[i] = (uint16_t)test_xorshift(state);
    }
    return m;
}

#endif
