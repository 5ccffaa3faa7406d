// quantize_acts.c: the quantize-acts pass. Every linear, rms_norm_linear and
// linear_add whose matrix is packed as vnni-i4 or vnni-i8 gets the int
// attribute act_q8 = the weight's group size: the kernels of those layouts
// multiply 4- or 8-bit codes with 8-bit activations (AVX-512 VNNI), so the plan
// itself must say the activations are rounded, and the reference interpreter
// rounds them the same.
//
// What act_q8 = B means: the node's input (for rms_norm_linear, the normalised
// row, the linear's actual input) is rounded per token row in blocks of B
// consecutive values, with exactly these float operations in this order:
//   amax = max |x| over the block; d = amax / 127.0f;
//   id = amax > 0 ? 127.0f / amax : 0;
//   xq = (int)rintf(x * id)   (round half to even, in [-127, 127]);
// and the linear then reads x' = d * (float)xq. The compiled kernel computes
// the same xq bit for bit. A node that already has act_q8 keeps it.
#include <string.h>

#include "ir/edit.h"
#include "ir/layout.h"
#include "ir/uses.h"
#include "passes/pass.h"

#define ACT_Q8_ATTR "act_q8"

// The group size of the node's matrix when the node is a linear-like op whose
// matrix is a weight packed for 8-bit activations; 0 otherwise.
static int act_q8_block(const Graph *g, const Node *n) {
    const Weight *w = ir_linear_weight(g, n);
    const WeightLayout *l = w ? ir_find_layout(w->layout) : NULL;
    if (!l || !l->acts8) return 0;
    AWQC_ASSERT(w->type.group > 0); // the verifier checked the layout fits the type
    return w->type.group;
}

bool pass_quantize_acts(Graph *g, const PassContext *ctx, bool *changed, AwqcError *err) {
    *changed = false;
    size_t marked = 0;
    for (size_t i = 0; i < g->n_nodes; i++) {
        const Node *n = &g->nodes[i];
        int block = act_q8_block(g, n);
        if (block == 0 || ir_node_attr(n, ACT_Q8_ATTR)) continue;
        if (!ir_set_node_attr(g, (int)i, ir_attr_int(ACT_Q8_ATTR, block)))
            return awqc_fail(err, "quantize-acts: %%%zu = %s has no room for another attribute", i,
                             ir_op_name(n->op));
        marked++;
    }
    *changed = marked > 0;
    if (ctx && ctx->log) fprintf(ctx->log, "quantize-acts: %zu nodes marked act_q8 (8-bit activations)\n", marked);
    return true;
}
