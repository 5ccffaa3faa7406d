// edit.c: in-place graph rewriting for the passes (edit.h). Node numbers are
// positions, so an insertion or removal renumbers every later reference;
// each function keeps operands and outputs consistent with the new order.
#include "ir/edit.h"

#include <stdlib.h>
#include <string.h>

#include "ir/uses.h"

// ----------------------------------------------------------------------------
// renumbering

// Applies map (old node index -> new index, -1: removed) to every node operand and output.
static void renumber(Graph *g, const int *map) {
    for (size_t i = 0; i < g->n_nodes; i++) {
        Node *n = &g->nodes[i];
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k].kind == OPND_NODE) {
                int to = map[n->in[k].index];
                AWQC_ASSERT(to >= 0); // a kept node reads a removed one
                n->in[k].index = to;
            }
    }
    for (size_t i = 0; i < g->n_outputs; i++) {
        AWQC_ASSERT(map[g->outputs[i]] >= 0);
        g->outputs[i] = map[g->outputs[i]];
    }
}

int ir_insert_node(Graph *g, int at, OpKind op, const Operand *in, int n_in, const Attr *attrs, int n_attrs,
                   int block, AwqcError *err) {
    AWQC_ASSERT(at >= 0 && (size_t)at <= g->n_nodes);
    for (int k = 0; k < n_in; k++) AWQC_ASSERT(in[k].kind != OPND_NODE || in[k].index < at);
    size_t old_n = g->n_nodes;
    int added = ir_add_node(g, op, in, n_in, attrs, n_attrs, block, err);
    if (added < 0) return -1;
    Node fresh = g->nodes[added];
    g->n_nodes = old_n; // renumber the old nodes only
    int *map = xmalloc(sizeof(int) * (old_n + 1));
    for (size_t i = 0; i < old_n; i++) map[i] = (int)i < at ? (int)i : (int)i + 1;
    renumber(g, map);
    free(map);
    memmove(&g->nodes[at + 1], &g->nodes[at], sizeof(Node) * (old_n - (size_t)at));
    g->nodes[at] = fresh;
    g->n_nodes = old_n + 1;
    return at;
}

void ir_replace_uses(Graph *g, int from, Operand to) {
    for (size_t i = (size_t)from + 1; i < g->n_nodes; i++) {
        Node *n = &g->nodes[i];
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k].kind == OPND_NODE && n->in[k].index == from) n->in[k] = to;
    }
    for (size_t i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] == from) {
            AWQC_ASSERT(to.kind == OPND_NODE); // an output is a node's value
            g->outputs[i] = to.index;
        }
}

static void free_node_attrs(Node *n) {
    for (int j = 0; j < n->n_attrs; j++) ir_attr_free(&n->attrs[j]);
    n->n_attrs = 0;
}

void ir_remove_nodes(Graph *g, const bool *remove) {
    int *map = xmalloc(sizeof(int) * (g->n_nodes + 1));
    size_t kept = 0;
    for (size_t i = 0; i < g->n_nodes; i++) map[i] = remove[i] ? -1 : (int)kept++;
    for (size_t i = 0; i < g->n_nodes; i++)
        if (remove[i]) free_node_attrs(&g->nodes[i]);
    size_t w = 0;
    for (size_t i = 0; i < g->n_nodes; i++)
        if (!remove[i]) g->nodes[w++] = g->nodes[i];
    g->n_nodes = kept;
    renumber(g, map); // operands still hold old indexes; removed ones must be unread
    free(map);
}

// ----------------------------------------------------------------------------
// dead code

size_t ir_remove_unused_weights(Graph *g) {
    IrUses u;
    ir_uses_build(g, &u);
    int *map = xmalloc(sizeof(int) * (g->n_weights + 1));
    size_t kept = 0, removed = 0;
    for (size_t i = 0; i < g->n_weights; i++) {
        if (u.weight_uses[i] > 0) {
            map[i] = (int)kept;
            g->weights[kept++] = g->weights[i];
            continue;
        }
        map[i] = -1;
        free(g->weights[i].name);
        free(g->weights[i].hf_name);
        ir_weight_release(&g->weights[i]);
        removed++;
    }
    g->n_weights = kept;
    for (size_t i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i].n_in; k++)
            if (g->nodes[i].in[k].kind == OPND_WEIGHT) g->nodes[i].in[k].index = map[g->nodes[i].in[k].index];
    free(map);
    ir_uses_free(&u);
    return removed;
}

size_t ir_remove_dead(Graph *g, size_t *weights_removed) {
    bool *live = xcalloc(g->n_nodes + 1, sizeof(bool));
    for (size_t i = 0; i < g->n_outputs; i++) live[g->outputs[i]] = true;
    // Walking backwards, a live node makes its operands live.
    for (size_t i = g->n_nodes; i-- > 0;) {
        const Node *n = &g->nodes[i];
        if (n->op == OP_INPUT) live[i] = true;
        if (!live[i]) continue;
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k].kind == OPND_NODE) live[n->in[k].index] = true;
    }
    size_t removed = 0;
    for (size_t i = 0; i < g->n_nodes; i++) {
        removed += !live[i];
        live[i] = !live[i]; // now: remove
    }
    if (removed) ir_remove_nodes(g, live);
    free(live);
    size_t w = ir_remove_unused_weights(g);
    if (weights_removed) *weights_removed = w;
    return removed;
}

bool ir_set_node_attr(Graph *g, int i, Attr a) {
    Node *n = &g->nodes[i];
    for (int j = 0; j < n->n_attrs; j++)
        if (strcmp(n->attrs[j].key, a.key) == 0) {
            ir_attr_free(&n->attrs[j]);
            n->attrs[j] = a;
            return true;
        }
    if (n->n_attrs == IR_MAX_ATTRS) {
        ir_attr_free(&a);
        return false;
    }
    n->attrs[n->n_attrs++] = a;
    return true;
}
