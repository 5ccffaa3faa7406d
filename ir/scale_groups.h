// scale_groups.h: finds the AWQ scale groups of a graph: an op whose output
// channels can absorb a per-channel division ("prev") and the linears whose
// input columns take the matching multiplication. The scale search and the
// folding pass both use this one generic pattern, so neither names a model.
#ifndef AWQC_IR_SCALE_GROUPS_H
#define AWQC_IR_SCALE_GROUPS_H

#include <stdio.h>

#include "ir/ir.h"

// ----------------------------------------------------------------------------
// The rules (docs/ir.md, "Scale groups", says the same with examples)
//
// A linear is *scalable* when its matrix is a weight used by no other operand
// in the graph (so a tied lm head, whose matrix is also the embedding table,
// never is) and it is not a graph output (the lm head stays floating point).
//
// 1. Norm -> linears (SG_PREV_NORM): an rms_norm/layer_norm N whose every use
//    is operand 0 of a scalable linear (1 to SG_MAX_LINEARS of them), whose
//    scale (and bias) weights are used nowhere else, and which is not itself
//    an output. Any other user of N (a silu, a residual, an unscalable lm head)
//    would see N's value change when the norm's weight is divided by s, so then
//    there is no group; the final norm -> lm head is therefore never a group.
//    inspect: the pre-norm residual: the first add whose one operand is N's
//    input x and whose other operand depends on the group's linears; inspect is
//    that other operand (the o projection's or the down projection's output).
//    Without such an add, inspect is the last node of the linears' block that
//    depends on them.
// 2. Linear -> linear through a product (SG_PREV_LINEAR): a linear U whose only
//    user is a mul M (one operand), whose only user is operand 0 of a scalable
//    linear D: group {U; D}, inspect D. Channel c of U's output reaches only
//    channel c of D's input (the up -> down of a gated MLP). When both factors
//    are linears, the second one is prev, so D is never scaled twice.
//    An activation in between (fc1 -> relu -> fc2) is no group: undoing s there
//    needs an inserted per-channel division, which is not done yet.
// 3. Linear -> linear through attention (SG_PREV_LINEAR): a linear V whose only
//    use is the v operand of an attention A with heads == kv_heads (with grouped
//    -query attention one V channel feeds several heads' outputs), whose only
//    user is operand 0 of a scalable linear O of input width = V's output
//    width: group {V; O}, inspect O. A rope (or anything) between V and A, or
//    between A and O, means no group.
// In rules 2 and 3 U/V must be scalable too (its rows and bias are divided),
// and its bias, if any, a weight used nowhere else.

#define SG_MAX_LINEARS 4

typedef enum { SG_PREV_NORM, SG_PREV_LINEAR } ScaleGroupKind;

typedef struct {
    ScaleGroupKind kind;
    int prev;                     // the norm, or the linear whose output rows are divided by s
    int n_linears;                // 1..SG_MAX_LINEARS
    int linears[SG_MAX_LINEARS];  // linears whose input columns are multiplied by s, in node order
    int inspect;                  // node whose value the loss is measured on
    int block;                    // the linears' block (-1: top level)
    int64_t channels;             // length of s
} ScaleGroup;

// Finds every group, ordered by prev node; returns the count and sets *out to
// a heap array the caller frees (NULL when there is none).
size_t ir_find_scale_groups(const Graph *g, ScaleGroup **out);

// Prints one group per line, e.g.
//   layer.0.attn: rms_norm %2 -> linear %3, %4, %5 (576 channels); inspect %9
// (a top-level group shows "graph" as its block).
void ir_print_scale_groups(const Graph *g, const ScaleGroup *sg, size_t n, FILE *out);

#endif
