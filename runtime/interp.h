// interp.h: the reference interpreter. It executes any graph IR in FP32 with
// a KV cache, in plain C loops (OpenMP splits the two big loops, linear and
// attention, over threads). It is the ground truth every faster path is
// tested against, so it favours clarity over speed.
#ifndef AWQC_INTERP_H
#define AWQC_INTERP_H

#include "common/util.h"
#include "ir/ir.h"

typedef struct Interp Interp;

// Prepares to run g (whose weights must be bound) with room for n_ctx tokens
// in the KV cache. n_threads <= 0 means one per logical CPU. The graph must
// outlive the interpreter. NULL with err when the graph cannot be run.
Interp *interp_new(const Graph *g, int n_ctx, int n_threads, AwqcError *err);
void interp_free(Interp *in);

// Forgets the KV cache: the next forward starts at position 0.
void interp_reset(Interp *in);
// Keeps the first pos tokens of the KV cache (0 <= pos <= interp_pos).
void interp_rewind(Interp *in, int pos);
int interp_pos(const Interp *in);
int interp_n_ctx(const Interp *in);
int interp_threads(const Interp *in);
int64_t interp_vocab(const Interp *in); // last dimension of the first output

// Runs n tokens at the current position and advances it by n. Returns the
// first output (logits): all n rows [n, vocab] when all_rows, else only the
// last row; valid until the next call. NULL with err when the tokens do not
// fit in the context or an id is out of range.
const float *interp_forward(Interp *in, const int32_t *tokens, int n, bool all_rows, AwqcError *err);

// A fresh interpreter on g runs the n tokens from position 0: all n rows of
// logits [n, vocab] as a heap copy (*count floats). NULL with err when the
// graph cannot run. For comparing graphs (passes, folding, quantization).
float *interp_eval_logits(const Graph *g, const int32_t *ids, int n, int n_threads, size_t *count, AwqcError *err);

// How far apart two arrays of logits are: max |a - b| / max |a|.
double interp_relative_diff(const float *a, const float *b, size_t n);

// ----------------------------------------------------------------------------
// Observing activations (calibration, debugging)

// Sees the value of one node right after the interpreter computed it during
// a forward: T rows of width floats, row-major, valid only during the call.
// Called for every node but the input, in node order.
typedef void (*InterpObserver)(const Graph *g, int node, const float *value, int T, int64_t width, void *user);

// Installs fn (NULL removes it); user is passed back on every call.
void interp_set_observer(Interp *in, InterpObserver fn, void *user);

#endif
