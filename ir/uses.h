// uses.h: who reads what in a graph: per node and per weight use counts, the
// last reader of each value, and small queries over operands (the matrix of a
// linear, embedding tables, the reader of a value by op). The scale-group
// pattern, the AWQ driver and activation stream, and the exporter share them.
#ifndef AWQC_IR_USES_H
#define AWQC_IR_USES_H

#include "ir/ir.h"

typedef struct {
    int *node_uses;   // [n_nodes] operand references plus graph outputs
    int *last_reader; // [n_nodes] the latest node that reads the value (-1: none)
    bool *is_output;  // [n_nodes]
    int *weight_uses; // [n_weights] operand references
} IrUses;

void ir_uses_build(const Graph *g, IrUses *u);
void ir_uses_free(IrUses *u);

// The weight a linear multiplies by (operand 1), or -1 when node is not a
// linear with a weight matrix.
int ir_linear_matrix(const Graph *g, int node);
// Which operand of a linear-like node (linear, linear_add: 1; the fused
// rms_norm_linear: 2) is its matrix; -1 for other ops.
int ir_linear_matrix_operand(const Node *n);
// The weight matrix of a linear-like node, or NULL for other ops and for a
// matrix that is a node value.
const Weight *ir_linear_weight(const Graph *g, const Node *n);
// The first linear whose matrix is weight w, or -1.
int ir_linear_of_matrix(const Graph *g, int w);
// Whether some embedding looks token ids up in weight w.
bool ir_is_embedding_table(const Graph *g, int w);
// The first node with op `op` reading node's value as its first operand, or -1.
int ir_first_reader(const Graph *g, int node, OpKind op);
bool ir_is_output(const Graph *g, int node);
// The one node that reads node's value (once), or -1: none, several reads, or
// a graph output. Scans the nodes after it, without building IrUses.
int ir_sole_reader(const Graph *g, int node);

#endif
