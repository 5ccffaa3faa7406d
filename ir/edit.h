// edit.h: rewriting a graph in place, for the passes: insert a node at a
// position (later node numbers shift and every reference follows), redirect
// the uses of a value, and remove nodes or weights nobody reads. The graph
// stays in topological order throughout.
#ifndef AWQC_IR_EDIT_H
#define AWQC_IR_EDIT_H

#include "ir/ir.h"

// Inserts a node at index `at` (0..n_nodes); its operands must be nodes
// before `at` or weights. Nodes at..n-1 move up by one and every operand and
// output referring to them is renumbered. Returns `at`, or -1 with err when
// ir_infer_type rejects the node (attrs are then freed, as ir_add_node does).
int ir_insert_node(Graph *g, int at, OpKind op, const Operand *in, int n_in, const Attr *attrs, int n_attrs,
                   int block, AwqcError *err);

// Every operand and graph output reading node `from` reads `to` instead
// (a node before `from`'s first reader, or a weight).
void ir_replace_uses(Graph *g, int from, Operand to);

// Removes the nodes marked in remove[n_nodes] and renumbers the rest. None of
// the kept nodes or outputs may read a removed node (checked: aborts).
void ir_remove_nodes(Graph *g, const bool *remove);

// Removes nodes whose value nobody reads (transitively), except inputs and
// outputs; then weights no node reads. Returns the number of nodes removed;
// *weights_removed (may be NULL) gets the weight count.
size_t ir_remove_dead(Graph *g, size_t *weights_removed);

// Removes the weights no node reads; returns how many.
size_t ir_remove_unused_weights(Graph *g);

// Sets (or replaces) an attribute of node i; the Attr is moved into the node.
// False when the node already has IR_MAX_ATTRS other attributes.
bool ir_set_node_attr(Graph *g, int i, Attr a);

#endif
