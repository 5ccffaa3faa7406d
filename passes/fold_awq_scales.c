// fold_awq_scales.c: the fold-awq-scales pass. An awq_scale node divides its
// input by the AWQ scales s in front of linears whose columns already carry s.
// Where the op before it can absorb the division (a norm's weight and bias, or
// a linear's output rows, AWQ-SPEC.md section 4), the node goes away. Whether
// it can is decided by the very pattern the scale search used (ir/scale_groups):
// the graph is looked at as if the node were gone, and the group whose linears
// are exactly the node's readers is folded. Otherwise (grouped-query attention
// before o_proj, a norm with another reader, a quantized previous linear) the
// node stays and runs as an op.
#include <stdlib.h>
#include <string.h>

#include "ir/edit.h"
#include "ir/scale_groups.h"
#include "passes/pass.h"
#include "quantizer/fold.h"

// The operand slots that read one value, so they can be moved and put back.
typedef struct {
    int n;
    int node[16], slot[16];
} Readers;

static bool collect_readers(const Graph *g, int value, Readers *r) {
    r->n = 0;
    for (size_t i = (size_t)value + 1; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i].n_in; k++) {
            Operand o = g->nodes[i].in[k];
            if (o.kind != OPND_NODE || o.index != value) continue;
            if (r->n == 16) return false;
            r->node[r->n] = (int)i;
            r->slot[r->n++] = k;
        }
    for (size_t i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] == value) return false; // an output keeps its value
    return r->n > 0;
}

static void point_readers(Graph *g, const Readers *r, int value) {
    for (int i = 0; i < r->n; i++) g->nodes[r->node[i]].in[r->slot[i]] = ir_node_ref(value);
}

// The group whose linears are exactly the readers (operand 0 of each).
static const ScaleGroup *group_of_readers(const ScaleGroup *groups, size_t n, const Readers *r, int64_t channels) {
    for (size_t i = 0; i < n; i++) {
        const ScaleGroup *sg = &groups[i];
        if (sg->n_linears != r->n || sg->channels != channels) continue;
        bool same = true;
        for (int j = 0; j < r->n && same; j++) same = sg->linears[j] == r->node[j] && r->slot[j] == 0;
        if (same) return sg;
    }
    return NULL;
}

// Tries to fold awq_scale node a; true when it was folded (a is then unread).
static bool fold_one(Graph *g, int a, AwqcError *why) {
    const Node *n = &g->nodes[a];
    Readers r;
    if (n->n_in != 2) return awqc_fail(why, "malformed awq_scale");
    if (n->in[0].kind != OPND_NODE || n->in[1].kind != OPND_WEIGHT || !collect_readers(g, a, &r))
        return awqc_fail(why, "its value is an output or has no readers");
    const Weight *s = &g->weights[n->in[1].index];
    int x = n->in[0].index;
    int64_t channels = ir_type_elements(&s->type);
    if (!s->data || s->type.dtype != DT_F32) return awqc_fail(why, "its scales are not bound to f32 values");
    // Look at the graph as if a were gone: its readers read x, and a reads nothing.
    point_readers(g, &r, x);
    g->nodes[a].n_in = 0;
    ScaleGroup *groups = NULL;
    size_t ng = ir_find_scale_groups(g, &groups);
    g->nodes[a].n_in = 2;
    const ScaleGroup *sg = group_of_readers(groups, ng, &r, channels);
    if (!sg)
        awqc_fail(why, "its readers are not the linears of a scale group once it is gone (see docs/ir.md, \"Scale groups\")");
    bool folded = sg && awq_fold_into_prev(g, sg, s->data, why);
    free(groups);
    if (!folded) point_readers(g, &r, a);
    return folded;
}

bool pass_fold_awq_scales(Graph *g, const PassContext *ctx, bool *changed, AwqcError *err) {
    (void)err;
    size_t folded = 0, kept = 0;
    bool *remove = xcalloc(g->n_nodes + 1, sizeof(bool));
    for (size_t i = 0; i < g->n_nodes; i++) {
        if (g->nodes[i].op != OP_AWQ_SCALE) continue;
        AwqcError why;
        if (fold_one(g, (int)i, &why)) {
            remove[i] = true;
            folded++;
        } else {
            kept++;
            if (ctx->log) fprintf(ctx->log, "fold-awq-scales: %%%zu kept: %s\n", i, why.msg);
        }
    }
    if (folded) {
        ir_remove_nodes(g, remove);
        ir_remove_unused_weights(g);
    }
    free(remove);
    *changed = folded > 0;
    if (ctx->log) fprintf(ctx->log, "fold-awq-scales: %zu folded, %zu kept as ops\n", folded, kept);
    return true;
}
