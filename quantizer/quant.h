// quant.h: group-wise asymmetric round-to-nearest (RTN) weight quantization,
// exactly as AWQ-SPEC.md section 1 defines it, plus the per-group clipping hook
// the AWQ clip search (section 5) needs. The scale is stored as IEEE half, as in
// AutoAWQ files, and zero points and codes are computed from the rounded scale.
#ifndef AWQC_QUANT_H
#define AWQC_QUANT_H

#include "common/util.h"
#include "ir/qmatrix.h" // QuantMatrix and its storage

// The floor on a group's range max(w) - min(w), from the spec: it keeps the
// scale of a constant group (e.g. pruned weights) away from zero.
#define QUANT_RANGE_FLOOR 1e-5f

// ----------------------------------------------------------------------------
// Quantizing
//
// Per group, with qmax = 2^bits - 1, in f32 arithmetic:
//   s_f32 = max(max(w) - min(w), QUANT_RANGE_FLOOR) / qmax
//   s     = f16 value nearest s_f32 (ties to even)     <- the stored scale
//   zero  = clamp(-round(min(w) / s), 0, qmax)
//   q     = clamp(round(w / s) + zero, 0, qmax)
// round() is rintf() under the default rounding mode: round half to even, as
// torch.round. Using the f16-rounded scale for zero and q (where AutoAWQ keeps
// its own dtype) makes the stored file the whole truth: a consumer that reads
// the f16 scales computes exactly the weights quant_dequantize gives.
// Note the spec's zero point is clamped to 0..qmax, so a group whose values
// are all of one sign (0 outside [min, max]) is not represented within s/2;
// real weight groups practically always straddle zero.
//
// Errors (returned as false with a message): bad parameters, a non-finite
// weight (row and column named), a group whose scale overflows f16.

// Quantizes w[rows, cols] (row-major) into out (allocated here; free with
// quant_matrix_free). On failure out holds no allocation.
bool quant_rtn(const float *w, int64_t rows, int64_t cols, int bits, int group, QuantMatrix *out,
               AwqcError *err);

// As quant_rtn, but first clamps each element of group (r, g) to
// [-max_val[r * n_groups + g], +max_val[...]] (AWQ-SPEC section 5). max_val
// may be NULL (no clipping, same as quant_rtn); its entries must be finite and
// >= 0. w is not modified.
bool quant_rtn_clipped(const float *w, int64_t rows, int64_t cols, int bits, int group,
                       const float *max_val, QuantMatrix *out, AwqcError *err);

// Quantize-dequantize in place: w becomes exactly what quant_rtn_clipped
// followed by quant_dequantize would give, without keeping the codes. This is
// the inner step of the AWQ scale and clip searches. On failure w is left
// partly rewritten.
bool quant_fake_inplace(float *w, int64_t rows, int64_t cols, int bits, int group, const float *max_val,
                        AwqcError *err);

#endif
