// plan_memory.h: the activation memory plan behind the plan-memory pass:
// which buffer slot each node's value lives in when buffers are reused once
// their values are dead, sized for a prompt that fills the whole context.
// Runtimes call plan_memory_compute() to size and carve their arena.
#ifndef AWQC_PASSES_PLAN_MEMORY_H
#define AWQC_PASSES_PLAN_MEMORY_H

#include "common/util.h"
#include "ir/ir.h"

// Each slot starts at a multiple of this in the arena (cache lines, SIMD loads).
#define PLAN_MEMORY_ALIGN 64

typedef struct {
    int64_t ctx;          // rows T the plan is sized for
    size_t n_nodes;
    int *node_slot;       // [n_nodes] the slot of each node's value; -1 for graph inputs
    int64_t *node_bytes;  // [n_nodes] the value's size at T = ctx (f32); 0 for graph inputs
    int n_slots;
    int64_t *slot_bytes;  // [n_slots] the largest value the slot ever holds
    int64_t *slot_offset; // [n_slots] where the slot starts in an arena of arena_bytes
    int64_t arena_bytes;  // planned_bytes with every slot aligned to PLAN_MEMORY_ALIGN
    int64_t planned_bytes;   // sum of slot sizes
    int64_t no_reuse_bytes;  // sum of all value sizes (one buffer per value)
    int64_t peak_live_bytes; // max over nodes of the live values' sizes: no plan can do better
    int64_t kv_cache_bytes;  // K and V of every attention, f32, ctx positions
} MemoryPlan;

// Plans g's activations for T = ctx without touching the graph. Fails on
// ctx <= 0, on a value whose shape is not [T, constant...], or on an
// attention without kv_heads/head_dim. On success free with plan_memory_free.
// keep_silu_inputs (GPU targets): a silu_mul's operand stays live until the
// silu_mul's readers have run, because the CUDA q4 GEMV after a silu_mul
// computes it from that operand (codegen/cuda/emit.c, silu_folds).
bool plan_memory_compute(const Graph *g, int64_t ctx, bool keep_silu_inputs, MemoryPlan *out, AwqcError *err);
void plan_memory_free(MemoryPlan *p);

#endif
