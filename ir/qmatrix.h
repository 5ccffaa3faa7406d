// qmatrix.h: the quantized form of a linear weight, shared by the quantizer
// (which makes it), the IR (a weight may carry one), the passes (which merge and
// pack it) and the runtimes (which dequantize it). quantizer/quant.h rounds
// floating-point weights into it.
#ifndef AWQC_IR_QMATRIX_H
#define AWQC_IR_QMATRIX_H

#include "common/util.h"

// ----------------------------------------------------------------------------
// The quantized form of a linear weight W[rows = out, cols = in].
//
// For each row, the columns are split into groups of `group` consecutive
// columns. Each group g of row r has one f16 scale and one integer zero point;
// element (r, c) dequantizes to (q[r*cols + c] - zero) * scale, where
// scale = f16_to_f32(scales[r * n_groups + c / group]) and zero likewise.

typedef struct {
    int bits;         // 2..8; qmax = 2^bits - 1
    int group;        // columns per group; divides cols
    int64_t rows;     // output features
    int64_t cols;     // input features
    uint8_t *q;       // [rows, cols], one code in 0..qmax per byte
    uint16_t *scales; // IEEE half bit patterns, [rows, cols / group]
    uint8_t *zeros;   // [rows, cols / group], each in 0..qmax
} QuantMatrix;

#define QUANT_MIN_BITS 2
#define QUANT_MAX_BITS 8

// Groups per row.
static inline int64_t quant_n_groups(const QuantMatrix *m) { return m->cols / m->group; }

// Checks that (rows, cols, bits, group) describe a quantizable matrix: positive
// sizes, bits in QUANT_MIN_BITS..QUANT_MAX_BITS, group > 0 dividing cols. The
// message says which condition failed (e.g. "group size 64 does not divide
// in_features 100"); callers prefix the tensor name.
bool quant_check_params(int64_t rows, int64_t cols, int bits, int group, AwqcError *err);

// Allocates the arrays of a QuantMatrix of the given shape (zero-filled).
// Parameters are checked as by quant_check_params.
bool quant_matrix_init(QuantMatrix *m, int64_t rows, int64_t cols, int bits, int group, AwqcError *err);
void quant_matrix_free(QuantMatrix *m);

// w[rows, cols] = (q - zero) * scale.
void quant_dequantize(const QuantMatrix *m, float *w);

#endif
