// fold.h: folds AWQ per-channel scales into a graph's bound f32 weights
// (AWQ-SPEC.md section 4): the group's previous op absorbs a division by s and
// its linears' input columns the matching multiplication, so the FP32 model
// computes the same function while the linears see scaled weights.
#ifndef AWQC_FOLD_H
#define AWQC_FOLD_H

#include "common/util.h"
#include "ir/scale_groups.h"

// ----------------------------------------------------------------------------
// Folding one scale group
//
// s has sg->channels entries, each finite and > 0.
//   prev a norm:   weight[c] /= s[c], and bias[c] /= s[c] for a layer_norm
//                  with a bias;
//   prev a linear: its last `channels` output rows r (and their bias) /= s[r]
//                  (with a merged QKV projection that is the V slice);
//   then each linear in sg->linears: W[:, c] *= s[c].
//
// Every precondition is checked before anything is written, so on failure
// the graph is unchanged. Errors: a weight not bound to f32 data, a scale
// that is not finite and positive, a group that does not fit the graph (wrong
// op kinds, channel counts), or a weight that another operand also reads (a
// norm weight shared by two norms, a matrix used by two linears): dividing it
// would change that other op too.
bool awq_fold_scales(Graph *g, const ScaleGroup *sg, const float *s, AwqcError *err);

// Only the first half: the previous op absorbs the division by s; the
// linears' columns already carry s (they were scaled, and maybe quantized,
// with an explicit awq_scale node in front of them, which this replaces).
bool awq_fold_into_prev(Graph *g, const ScaleGroup *sg, const float *s, AwqcError *err);

// The second half alone: w[r, c] *= s[c] for a row-major [rows, cols] matrix.
void awq_multiply_columns(float *w, int64_t rows, int64_t cols, const float *s);

#endif
