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
//
// With the graph's quantize_acts = "f16" (awqc compile --act f16; GPU
// targets), every such node whose matrix is q4 in layout awq-gemm gets
// act_f16 = 1 instead (not one that already says act_q8): its CUDA GEMV, the
// decode path, computes in f16x2 (x rounded to f16, f16 sums of at most 16
// rows; codegen/cuda/kernels.cuh); the tensor-core GEMM of longer prompts
// rounds x to f16 anyway. That is a kernel's precision, so the interpreter
// keeps f32 and the GPU tests compare within a tolerance.
#include <string.h>

#include "ir/edit.h"
#include "ir/layout.h"
#include "ir/uses.h"
#include "passes/pass.h"

#define ACT_Q8_ATTR "act_q8"
#define ACT_F16_ATTR "act_f16"
#define ACTS_META "quantize_acts"

bool pass_acts_kind(const Graph *g, const char **kind, AwqcError *err) {
    *kind = "q8";
    const Meta *m = ir_get_meta(g, ACTS_META);
    if (!m) return true;
    if (m->value.kind != ATTR_STRING) return awqc_fail(err, "metadata %s must be a string (q8, f32 or f16)", ACTS_META);
    static const char *const kinds[] = {"q8", "f32", "f16"};
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++)
        if (strcmp(m->value.s, kinds[i]) == 0) return *kind = kinds[i], true;
    return awqc_fail(err, "metadata %s = '%s': the activation kinds are q8, f32 and f16", ACTS_META, m->value.s);
}

// The group size of the node's matrix when the node is a linear-like op whose
// matrix is a weight packed for 8-bit activations; 0 otherwise.
static int act_q8_block(const Graph *g, const Node *n) {
    const Weight *w = ir_linear_weight(g, n);
    const WeightLayout *l = w ? ir_find_layout(w->layout) : NULL;
    if (!l || !l->acts8) return 0;
    AWQC_ASSERT(w->type.group > 0); // the verifier checked the layout fits the type
    return w->type.group;
}

static bool mark(Graph *g, size_t i, Attr a, AwqcError *err) {
    if (ir_set_node_attr(g, (int)i, a)) return true;
    return awqc_fail(err, "quantize-acts: %%%zu = %s has no room for another attribute", i,
                     ir_op_name(g->nodes[i].op));
}

bool pass_quantize_acts(Graph *g, const PassContext *ctx, bool *changed, AwqcError *err) {
    *changed = false;
    const char *acts;
    if (!pass_acts_kind(g, &acts, err)) return false;
    bool f16 = strcmp(acts, "f16") == 0;
    size_t marked = 0;
    for (size_t i = 0; i < g->n_nodes; i++) {
        const Node *n = &g->nodes[i];
        if (f16 && ir_weight_is_q4_gemm(ir_linear_weight(g, n)) && !ir_node_attr(n, ACT_F16_ATTR) &&
            !ir_node_attr(n, ACT_Q8_ATTR)) {
            if (!mark(g, i, ir_attr_int(ACT_F16_ATTR, 1), err)) return false;
            marked++;
            continue;
        }
        int block = act_q8_block(g, n);
        if (block == 0 || ir_node_attr(n, ACT_Q8_ATTR)) continue;
        if (!mark(g, i, ir_attr_int(ACT_Q8_ATTR, block), err)) return false;
        marked++;
    }
    *changed = marked > 0;
    if (ctx && ctx->log)
        fprintf(ctx->log, "quantize-acts: %zu nodes marked %s\n", marked,
                f16 ? "act_f16 (f16x2 GEMV)" : "act_q8 (8-bit activations)");
    return true;
}
