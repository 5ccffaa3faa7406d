// quantize_head.c: the quantize-head pass. The output projection (the final
// linear to the vocabulary) is the biggest single read of a decode step when
// it stays f32; this pass rounds it to 8 bits (RTN, the largest group of 128,
// 64, 32 that divides its rows) or 4 bits (RTN, group 32) as the graph's
// "quantize_head" metadata asks (awqc compile --head q8|q4). The codes are
// left to pack-weights, like the model's own.
#include <stdlib.h>
#include <string.h>

#include "ir/uses.h"
#include "passes/pass.h"
#include "quantizer/quant.h"

#define HEAD_GROUP4 32
#define HEAD_META "quantize_head"
#define HEAD_NAME "lm_head.weight" // the new weight's name when the head shares the embedding's

typedef struct {
    const char *kind; // "q8" or "q4"
    DType dtype;
} HeadKind;

static const HeadKind KINDS[] = {{"q8", DT_Q8}, {"q4", DT_Q4}};

// 4-bit codes need small groups to keep the head's quality (group 32); 8-bit
// codes lose nothing measurable at 128 (wikitext-2 ppl), and a longer group
// means fewer scale and zero corrections in the decode kernel's inner loop.
static int head_group(const HeadKind *k, int64_t cols) {
    if (ir_dtype_bits(k->dtype) == 4) return HEAD_GROUP4;
    for (int gs = 128; gs > 32; gs /= 2)
        if (cols % gs == 0) return gs;
    return 32;
}

// ----------------------------------------------------------------------------
// finding the head

// The node computing the graph's first output, when it is a linear whose
// weight is a bound-or-unbound f32 matrix; -1 otherwise.
static int find_head(const Graph *g) {
    if (g->n_outputs == 0) return -1;
    int i = g->outputs[0];
    const Weight *wt = ir_linear_weight(g, &g->nodes[i]);
    return wt && wt->type.dtype == DT_F32 && wt->type.rank == 2 ? i : -1;
}

// ----------------------------------------------------------------------------
// the request

// The kind the graph asks for; NULL for f32 (nothing to do).
static bool requested_kind(const Graph *g, const PassContext *ctx, const HeadKind **out, AwqcError *err) {
    *out = NULL;
    const Meta *m = ir_get_meta(g, HEAD_META);
    if (!m) return true;
    if (m->value.kind != ATTR_STRING)
        return awqc_fail(err, "metadata %s must be a string (f32, q8 or q4)", HEAD_META);
    if (strcmp(m->value.s, "f32") == 0) return true;
    for (size_t i = 0; i < sizeof KINDS / sizeof *KINDS; i++)
        if (strcmp(m->value.s, KINDS[i].kind) == 0) *out = &KINDS[i];
    if (!*out) return awqc_fail(err, "metadata %s = '%s': the head kinds are f32, q8 and q4", HEAD_META, m->value.s);
    if (ctx && pass_target_is_gpu(ctx->target))
        return awqc_fail(err, "a %s head has no CUDA kernel (target %s); compile with --head f32", (*out)->kind,
                         ctx->target);
    return true;
}

// ----------------------------------------------------------------------------
// quantizing

// The head's weight index after making it its own: a tied weight (the
// embedding reads it too) is copied into a new weight, which the head reads.
static int own_head_weight(Graph *g, int node, int opnd, bool *tied, AwqcError *err) {
    int w = g->nodes[node].in[opnd].index;
    IrUses uses;
    ir_uses_build(g, &uses);
    *tied = uses.weight_uses[w] > 1;
    ir_uses_free(&uses);
    if (!*tied) return w;
    const char *name = ir_find_weight(g, HEAD_NAME) < 0 ? HEAD_NAME : NULL;
    char *fallback = name ? NULL : awqc_asprintf("%s.head", g->weights[w].name);
    int nw = ir_add_weight(g, name ? name : fallback, g->weights[w].type, err);
    free(fallback);
    if (nw < 0) return -1;
    g->nodes[node].in[opnd].index = nw; // ir_add_weight may move the table: index again
    return nw;
}

// Rounds the f32 values of weight `src` into weight `dst` (which may be the
// same) as kind; an unbound weight (a parsed dump) is only retyped.
static bool quantize_into(Graph *g, int src, int dst, const HeadKind *k, AwqcError *err) {
    Weight *s = &g->weights[src];
    int64_t rows = s->type.dims[0].size, cols = s->type.dims[1].size;
    QuantMatrix *q = NULL;
    int group = head_group(k, cols);
    if (s->data) {
        q = xcalloc(1, sizeof *q);
        if (!quant_rtn(s->data, rows, cols, ir_dtype_bits(k->dtype), group, q, err)) {
            free(q);
            return (awqc_error_prefix(err, "weight @%s", s->name), false);
        }
    } else if (!quant_check_params(rows, cols, ir_dtype_bits(k->dtype), group, err)) {
        return (awqc_error_prefix(err, "weight @%s", s->name), false);
    }
    Weight *d = &g->weights[dst];
    if (src == dst) ir_weight_release(d);
    d->type.dtype = k->dtype;
    d->type.group = group;
    d->quant = q;
    return true;
}

// ----------------------------------------------------------------------------
// the pass

bool pass_quantize_head(Graph *g, const PassContext *ctx, bool *changed, AwqcError *err) {
    *changed = false;
    const HeadKind *k;
    if (!requested_kind(g, ctx, &k, err)) return false;
    if (!k) return true;
    int node = find_head(g);
    if (node < 0) return awqc_fail(err, "the graph's output is not a linear with an f32 weight: no head to quantize");
    int opnd = ir_linear_matrix_operand(&g->nodes[node]), src = g->nodes[node].in[opnd].index;
    bool tied;
    int dst = own_head_weight(g, node, opnd, &tied, err);
    if (dst < 0 || !quantize_into(g, src, dst, k, err)) return false;
    *changed = true;
    if (ctx && ctx->log)
        fprintf(ctx->log, "quantize-head: @%s %s g%d (RTN)%s%s%s\n", g->weights[dst].name, k->kind, g->weights[dst].type.group,
                tied ? ", untied from @" : "", tied ? g->weights[src].name : "", tied ? " (which stays f32)" : "");
    return true;
}
