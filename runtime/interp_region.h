// interp_region.h: runs a contiguous range of a graph's nodes (one block, say)
// on activations the caller supplies, for T tokens from an empty KV cache. The
// AWQ search uses it to re-run one block on cached inputs per candidate scale.
#ifndef AWQC_INTERP_REGION_H
#define AWQC_INTERP_REGION_H

#include "common/util.h"
#include "ir/ir.h"
#include "runtime/interp.h"

// Supplies the value of `node` (a node before the range that a node in it
// reads): T rows of that node's width, row-major; NULL when it has none. It
// must stay valid until interp_eval_region returns.
typedef const float *(*RegionInput)(int node, void *user);

// Evaluates nodes first..last of g (verified, weights bound to f32) for T
// tokens at positions 0..T-1, exactly as interp_forward computes them on an
// empty KV cache; every value read from before `first` comes from given
// (asked once per node). Returns the value of `last` ([T, width], heap, the
// caller frees) or NULL with err: a bad range or T, the input op in the
// range, a node in it reading token ids or a value given does not supply, an
// unbound weight. n_threads <= 0: one thread per logical CPU.
float *interp_eval_region(const Graph *g, int first, int last, int T, RegionInput given, void *user, int n_threads,
                          AwqcError *err);

// The same, also showing every node of the range to observe (when not NULL)
// right after it is computed, in node order, as a forward's observer sees it
// (interp.h). The AWQ driver streams the calibration windows through the
// model block by block this way, keeping the values later blocks read.
float *interp_eval_region_observed(const Graph *g, int first, int last, int T, RegionInput given, void *user,
                                   InterpObserver observe, void *observe_user, int n_threads, AwqcError *err);

#endif
