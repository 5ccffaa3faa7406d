// interp_node.h: internal to the runtime: the reference interpreter's per-node
// evaluation (interp.c), shared with interp_region.c so that running a block
// on supplied inputs uses the very same kernels as a full forward.
#ifndef AWQC_INTERP_NODE_H
#define AWQC_INTERP_NODE_H

#include "ir/ir.h"

// One attention node's KV cache: n_ctx rows of kv_dim floats each for K and V.
typedef struct {
    float *k, *v;
} InterpKv;

// The state one node's evaluation reads.
typedef struct {
    const Graph *g;
    const float *const *weights; // per weight: its f32 values; NULL: each weight's own data
    const float *const *vals; // per node: its [T, width] value in this step, NULL when absent
    const int32_t *ids;       // the input node's value (the T token ids)
    int T;                    // tokens in this step
    int pos;                  // position of the first of them
} InterpStep;

// Whether node i keeps a KV cache (attention, rope_attention), and its row
// width (kv_heads * head_dim floats for K and for V).
bool interp_has_kv(const Graph *g, int i);
int64_t interp_kv_width(const Graph *g, int i);

// Computes node i (not the input) from its operands: a heap [T, width] array
// the caller frees. An attention node first stores its T new K/V rows at
// rows pos.. of kv (which must have room), then attends causally over rows
// 0..pos+t; kv is unused (may be NULL) for every other op.
float *interp_eval_node(const InterpStep *s, int i, InterpKv *kv);

#endif
