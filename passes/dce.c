// dce.c: dead code elimination: removes the nodes whose value reaches no
// graph output (the slices a fusion made unnecessary, a merged linear's
// unused part) and then the weights no node reads any more.
#include "ir/edit.h"
#include "passes/pass.h"

bool pass_dce(Graph *g, const PassContext *ctx, bool *changed, AwqcError *err) {
    (void)err;
    size_t weights = 0, nodes = ir_remove_dead(g, &weights);
    *changed = nodes || weights;
    if (ctx->log) fprintf(ctx->log, "dce: %zu nodes and %zu weights removed\n", nodes, weights);
    return true;
}
