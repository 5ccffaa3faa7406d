// verify.c: structural checks on a Graph, run after every pass and before code
// generation: operands defined before use, every type what shape inference
// gives now, required attributes present, indexes in range, outputs present,
// and weight data bound for all weights or for none.
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"
#include "layout.h"
#include "uses.h"

// ----------------------------------------------------------------------------
// reporting

// Every message names the graph, so a pass pipeline's log says which graph broke.
static bool fail_in(const Graph *g, AwqcError *err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static bool fail_in(const Graph *g, AwqcError *err, const char *fmt, ...) {
    char msg[1536];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return awqc_fail(err, "graph '%s': %s", g->name ? g->name : "", msg);
}

// ----------------------------------------------------------------------------
// types

static bool is_quantized(DType dt) { return ir_dtype_bits(dt) != 0; }

// Checked before ir_type_str or ir_type_equal look at the type.
static const char *type_problem(const Type *t) {
    if (t->dtype < 0 || t->dtype >= DT_COUNT) return "invalid dtype";
    if (t->rank < 0 || t->rank > IR_MAX_RANK) return "invalid rank";
    if (t->group < 0 || (t->group > 0 && !is_quantized(t->dtype))) return "a group size on a non-quantized dtype";
    for (int i = 0; i < t->rank; i++) {
        const Dim *d = &t->dims[i];
        if (d->kind != DIM_CONST && d->kind != DIM_T && d->kind != DIM_P) return "an invalid dimension kind";
        if (d->kind == DIM_CONST && d->size < 0) return "a negative dimension";
    }
    return NULL;
}

static bool has_symbolic_dim(const Type *t) {
    for (int i = 0; i < t->rank; i++)
        if (t->dims[i].kind != DIM_CONST) return true;
    return false;
}

static bool is_input_type(const Type *t) {
    return t->dtype == DT_I32 && t->group == 0 && t->rank == 1 && t->dims[0].kind == DIM_T;
}

// ----------------------------------------------------------------------------
// weights, blocks, metadata

// Codes and packed bytes must describe exactly the weight's quantized type.
static bool verify_weight_payload(const Graph *g, const Weight *w, AwqcError *err) {
    const Type *t = &w->type;
    const QuantMatrix *q = w->quant;
    if ((q || w->layout) && (!is_quantized(t->dtype) || t->rank != 2))
        return fail_in(g, err, "weight @%s has quantized codes but type %s", w->name, ir_dtype_name(t->dtype));
    if (q && !ir_quant_matches_type(w, q, err)) {
        awqc_error_prefix(err, "graph '%s'", g->name ? g->name : "");
        return false;
    }
    if (w->packed && !w->layout) return fail_in(g, err, "weight @%s has packed bytes but no layout", w->name);
    if (w->layout && !ir_packed_matches_type(w, err)) {
        awqc_error_prefix(err, "graph '%s'", g->name ? g->name : "");
        return false;
    }
    return true;
}

static bool verify_weight(const Graph *g, size_t i, AwqcError *err) {
    const Weight *w = &g->weights[i];
    if (!w->name) return fail_in(g, err, "weight %zu has no name", i);
    for (size_t j = 0; j < i; j++)
        if (strcmp(g->weights[j].name, w->name) == 0) return fail_in(g, err, "weight @%s defined twice", w->name);
    const char *problem = type_problem(&w->type);
    if (problem) return fail_in(g, err, "weight @%s: %s", w->name, problem);
    if (has_symbolic_dim(&w->type)) return fail_in(g, err, "weight @%s has a symbolic shape (T or P)", w->name);
    return verify_weight_payload(g, w, err);
}

// Weights are either all bound (an executable graph) or all unbound (a
// shape-only graph); a mix means a loader forgot one.
static bool verify_weight_data(const Graph *g, AwqcError *err) {
    size_t bound = 0;
    for (size_t i = 0; i < g->n_weights; i++) bound += ir_weight_bound(&g->weights[i]);
    if (bound == 0 || bound == g->n_weights) return true;
    for (size_t i = 0; i < g->n_weights; i++)
        if (!ir_weight_bound(&g->weights[i]))
            return fail_in(g, err, "weight @%s has no data while %zu other weight%s bound", g->weights[i].name, bound,
                           bound == 1 ? " is" : "s are");
    AWQC_PANIC("unreachable");
}

static bool verify_weights(const Graph *g, AwqcError *err) {
    for (size_t i = 0; i < g->n_weights; i++)
        if (!verify_weight(g, i, err)) return false;
    return verify_weight_data(g, err);
}

static bool verify_blocks_and_meta(const Graph *g, AwqcError *err) {
    for (size_t i = 0; i < g->n_blocks; i++) {
        if (!g->blocks[i]) return fail_in(g, err, "block %zu has no name", i);
        for (size_t j = 0; j < i; j++)
            if (strcmp(g->blocks[j], g->blocks[i]) == 0) return fail_in(g, err, "block \"%s\" appears twice", g->blocks[i]);
    }
    for (size_t i = 0; i < g->n_meta; i++) {
        if (!g->meta[i].key) return fail_in(g, err, "meta entry %zu has no key", i);
        for (size_t j = 0; j < i; j++)
            if (strcmp(g->meta[j].key, g->meta[i].key) == 0) return fail_in(g, err, "meta '%s' appears twice", g->meta[i].key);
    }
    return true;
}

// ----------------------------------------------------------------------------
// reporting about a node: where it was read, and which op it is

// "t.ir:7:3: %5 = linear: ..." for a parsed node, so the message points into
// the file; "graph 'NAME': %5 = linear: ..." for one built in memory.
static bool fail_node(const Graph *g, size_t i, AwqcError *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static bool fail_node(const Graph *g, size_t i, AwqcError *err, const char *fmt, ...) {
    const Node *n = &g->nodes[i];
    char msg[1536], what[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n->op >= 0 && n->op < OP_COUNT) snprintf(what, sizeof what, "%%%zu = %s", i, ir_op_name(n->op));
    else snprintf(what, sizeof what, "%%%zu = <invalid op %d>", i, (int)n->op);
    if (g->origin && n->src_line > 0)
        return awqc_fail(err, "%s:%d:%d: %s: %s", g->origin, n->src_line, n->src_col, what, msg);
    return fail_in(g, err, "%s: %s", what, msg);
}

// ----------------------------------------------------------------------------
// nodes: operands

// Whether `from` reads `target`, directly or through other nodes; a later
// operand that does is a cycle, one that does not is only out of order.
// Only follows in-range node operands; seen[] stops at damaged loops.
static bool reaches(const Graph *g, int from, int target, bool *seen) {
    if (seen[from]) return false;
    seen[from] = true;
    const Node *n = &g->nodes[from];
    for (int k = 0; k < n->n_in && k < IR_MAX_OPERANDS; k++) {
        Operand o = n->in[k];
        if (o.kind != OPND_NODE || o.index < 0 || (size_t)o.index >= g->n_nodes) continue;
        if (o.index == target || reaches(g, o.index, target, seen)) return true;
    }
    return false;
}

// An operand %j with j >= i (or out of range): say which problem it is.
static bool fail_undefined_operand(const Graph *g, size_t i, int k, int j, AwqcError *err) {
    char why[160];
    if (j < 0 || (size_t)j >= g->n_nodes) {
        snprintf(why, sizeof why, "a dangling value: the graph has %zu nodes", g->n_nodes);
    } else if ((size_t)j == i) {
        snprintf(why, sizeof why, "a cycle: the node reads its own value");
    } else {
        bool *seen = xcalloc(g->n_nodes, sizeof(bool));
        bool cycle = reaches(g, j, (int)i, seen);
        free(seen);
        if (cycle) snprintf(why, sizeof why, "a cycle: %%%d depends on %%%zu", j, i);
        else snprintf(why, sizeof why, "nodes out of order: %%%d comes later", j);
    }
    return fail_node(g, i, err, "operand %d refers to %%%d, which is not defined before it (%s)", k + 1, j, why);
}

static bool verify_operands(const Graph *g, size_t i, AwqcError *err) {
    const Node *n = &g->nodes[i];
    if (n->n_in < 0 || n->n_in > IR_MAX_OPERANDS) return fail_node(g, i, err, "%d operands", n->n_in);
    for (int k = 0; k < n->n_in; k++) {
        Operand o = n->in[k];
        if (o.kind == OPND_NODE && (o.index < 0 || (size_t)o.index >= i))
            return fail_undefined_operand(g, i, k, o.index, err);
        if (o.kind == OPND_WEIGHT && (o.index < 0 || (size_t)o.index >= g->n_weights))
            return fail_node(g, i, err, "operand %d refers to weight %d of %zu (a dangling weight)", k + 1, o.index,
                             g->n_weights);
        if (o.kind != OPND_NODE && o.kind != OPND_WEIGHT)
            return fail_node(g, i, err, "operand %d has an invalid kind", k + 1);
    }
    return true;
}

// ----------------------------------------------------------------------------
// nodes: attributes and types

static bool verify_attrs(const Graph *g, size_t i, AwqcError *err) {
    const Node *n = &g->nodes[i];
    if (n->n_attrs < 0 || n->n_attrs > IR_MAX_ATTRS) return fail_node(g, i, err, "%d attributes", n->n_attrs);
    for (int k = 0; k < n->n_attrs; k++) {
        const Attr *a = &n->attrs[k];
        if (!a->key) return fail_node(g, i, err, "attribute %d has no key", k + 1);
        if (a->kind != ATTR_INT && a->kind != ATTR_FLOAT && a->kind != ATTR_STRING)
            return fail_node(g, i, err, "attribute '%s' has an invalid kind", a->key);
        if (a->kind == ATTR_STRING && !a->s) return fail_node(g, i, err, "string attribute '%s' has no value", a->key);
        for (int j = 0; j < k; j++)
            if (strcmp(n->attrs[j].key, a->key) == 0) return fail_node(g, i, err, "attribute '%s' given twice", a->key);
    }
    return true;
}

// act_q8 = B (quantize-acts): the input of a linear-like node is rounded to
// 8 bits in blocks of B values of a row, so B must tile the row exactly.
static bool verify_act_q8(const Graph *g, size_t i, AwqcError *err) {
    const Node *n = &g->nodes[i];
    const Attr *a = ir_node_attr(n, "act_q8");
    if (!a) return true;
    if (n->op != OP_LINEAR && n->op != OP_RMS_NORM_LINEAR && n->op != OP_LINEAR_ADD)
        return fail_node(g, i, err, "act_q8 applies to linear, rms_norm_linear and linear_add only");
    if (a->kind != ATTR_INT || a->i <= 0)
        return fail_node(g, i, err, "act_q8 must be a positive integer (the block of values rounded together)");
    int64_t width = n->n_in > 0 ? ir_row_width(ir_operand_type(g, n->in[0])) : 0;
    if (width <= 0 || width % a->i != 0)
        return fail_node(g, i, err, "act_q8 = %lld does not divide the input width %lld", (long long)a->i,
                         (long long)width);
    return true;
}

// act_f16 = 1 (quantize-acts, for GPU targets): the CUDA q4 GEMV of the node
// computes in f16x2 (codegen/cuda/kernels.cuh), so its matrix must be q4 in
// the GPU layout; the reference interpreter keeps f32 (it is a precision
// choice of the kernel, like the tensor-core GEMM's f16 inputs).
static bool verify_act_f16(const Graph *g, size_t i, AwqcError *err) {
    const Node *n = &g->nodes[i];
    const Attr *a = ir_node_attr(n, "act_f16");
    if (!a) return true;
    if (ir_linear_matrix_operand(n) < 0)
        return fail_node(g, i, err, "act_f16 applies to linear, rms_norm_linear and linear_add only");
    if (a->kind != ATTR_INT || a->i != 1) return fail_node(g, i, err, "act_f16 must be 1");
    if (ir_node_attr(n, "act_q8")) return fail_node(g, i, err, "act_f16 and act_q8 exclude each other");
    if (!ir_weight_is_q4_gemm(ir_linear_weight(g, n)))
        return fail_node(g, i, err, "act_f16 needs a q4 matrix in layout awq-gemm (the GPU layout)");
    return true;
}

// The stored type must be exactly what the op's schema infers from the
// operands as they are now (a pass that rewrote an operand must retype).
static bool verify_node_type(const Graph *g, size_t i, AwqcError *err) {
    const Node *n = &g->nodes[i];
    const char *problem = type_problem(&n->type);
    if (problem) return fail_node(g, i, err, "type has %s", problem);
    char have[160], want[160];
    if (n->op == OP_INPUT && !is_input_type(&n->type))
        return fail_node(g, i, err, "type is %s, inputs must be i32[T]", ir_type_str(&n->type, have, sizeof have));
    AwqcError why;
    Type inferred;
    if (!ir_infer_type(g, n->op, n->in, n->n_in, n->attrs, n->n_attrs, &inferred, &why))
        return fail_node(g, i, err, "does not type-check: %s", ir_strip_op_prefix(why.msg, n->op));
    if (!ir_type_equal(&inferred, &n->type))
        return fail_node(g, i, err, "type mismatch: recorded %s but its operands give %s",
                         ir_type_str(&n->type, have, sizeof have), ir_type_str(&inferred, want, sizeof want));
    return true;
}

static bool verify_node(const Graph *g, size_t i, AwqcError *err) {
    const Node *n = &g->nodes[i];
    if (n->op < 0 || n->op >= OP_COUNT) return fail_node(g, i, err, "invalid op %d", (int)n->op);
    if (n->block < -1 || (n->block >= 0 && (size_t)n->block >= g->n_blocks))
        return fail_node(g, i, err, "block index %d out of range (%zu blocks)", n->block, g->n_blocks);
    return verify_operands(g, i, err) && verify_attrs(g, i, err) && verify_node_type(g, i, err) &&
           verify_act_q8(g, i, err) && verify_act_f16(g, i, err);
}

static bool verify_outputs(const Graph *g, AwqcError *err) {
    if (g->n_outputs == 0) return fail_in(g, err, "no outputs");
    for (size_t i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] < 0 || (size_t)g->outputs[i] >= g->n_nodes)
            return fail_in(g, err, "output %zu refers to %%%d, but the graph has %zu nodes", i + 1, g->outputs[i],
                           g->n_nodes);
    return true;
}

// ----------------------------------------------------------------------------
// entry point

bool ir_verify(const Graph *g, AwqcError *err) {
    if (!verify_weights(g, err) || !verify_blocks_and_meta(g, err)) return false;
    for (size_t i = 0; i < g->n_nodes; i++)
        if (!verify_node(g, i, err)) return false;
    return verify_outputs(g, err);
}
