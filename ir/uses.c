// uses.c: see uses.h.
#include "ir/uses.h"

#include <stdlib.h>

void ir_uses_build(const Graph *g, IrUses *u) {
    u->node_uses = xcalloc(g->n_nodes + 1, sizeof(int));
    u->last_reader = xmalloc((g->n_nodes + 1) * sizeof(int));
    u->is_output = xcalloc(g->n_nodes + 1, sizeof(bool));
    u->weight_uses = xcalloc(g->n_weights + 1, sizeof(int));
    for (size_t i = 0; i < g->n_nodes; i++) u->last_reader[i] = -1;
    for (size_t j = 0; j < g->n_nodes; j++) {
        const Node *n = &g->nodes[j];
        for (int k = 0; k < n->n_in; k++) {
            if (n->in[k].kind == OPND_WEIGHT) {
                u->weight_uses[n->in[k].index]++;
            } else {
                u->node_uses[n->in[k].index]++;
                u->last_reader[n->in[k].index] = (int)j;
            }
        }
    }
    for (size_t o = 0; o < g->n_outputs; o++) {
        u->node_uses[g->outputs[o]]++;
        u->is_output[g->outputs[o]] = true;
    }
}

void ir_uses_free(IrUses *u) {
    free(u->node_uses);
    free(u->last_reader);
    free(u->is_output);
    free(u->weight_uses);
}

int ir_linear_matrix(const Graph *g, int node) {
    const Node *n = &g->nodes[node];
    if (n->op != OP_LINEAR || n->n_in < 2 || n->in[1].kind != OPND_WEIGHT) return -1;
    return n->in[1].index;
}

int ir_linear_matrix_operand(const Node *n) {
    switch (n->op) {
    case OP_LINEAR:
    case OP_LINEAR_ADD: return 1;
    case OP_RMS_NORM_LINEAR: return 2;
    default: return -1;
    }
}

const Weight *ir_linear_weight(const Graph *g, const Node *n) {
    int k = ir_linear_matrix_operand(n);
    if (k < 0 || k >= n->n_in || n->in[k].kind != OPND_WEIGHT) return NULL;
    return &g->weights[n->in[k].index];
}

int ir_linear_of_matrix(const Graph *g, int w) {
    for (size_t i = 0; i < g->n_nodes; i++)
        if (ir_linear_matrix(g, (int)i) == w) return (int)i;
    return -1;
}

bool ir_is_embedding_table(const Graph *g, int w) {
    for (size_t i = 0; i < g->n_nodes; i++) {
        const Node *n = &g->nodes[i];
        if (n->op == OP_EMBEDDING && n->in[0].kind == OPND_WEIGHT && n->in[0].index == w) return true;
    }
    return false;
}

int ir_first_reader(const Graph *g, int node, OpKind op) {
    for (size_t i = (size_t)node + 1; i < g->n_nodes; i++) {
        const Node *n = &g->nodes[i];
        if (n->op == op && n->n_in > 0 && n->in[0].kind == OPND_NODE && n->in[0].index == node) return (int)i;
    }
    return -1;
}

bool ir_is_output(const Graph *g, int node) {
    for (size_t i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] == node) return true;
    return false;
}

int ir_sole_reader(const Graph *g, int node) {
    if (ir_is_output(g, node)) return -1;
    int reader = -1;
    for (size_t j = (size_t)node + 1; j < g->n_nodes; j++)
        for (int k = 0; k < g->nodes[j].n_in; k++) {
            const Operand *o = &g->nodes[j].in[k];
            if (o->kind != OPND_NODE || o->index != node) continue;
            if (reader >= 0) return -1;
            reader = (int)j;
        }
    return reader;
}
