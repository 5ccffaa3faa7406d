// subgraph.h: a piece of a graph as a graph of its own: the nodes of the
// blocks a filter names ("layer.3", "layer.3.attn"), the weights they read
// (declared, unbound) and a param node for each value they read from outside.
// Filtered dumps (--print-after with --filter) print this, so they parse back.
#ifndef AWQC_IR_SUBGRAPH_H
#define AWQC_IR_SUBGRAPH_H

#include "ir/ir.h"

// Whether block name `block` is `filter` or starts with `filter` then '.'
// (a NULL filter selects every block).
bool ir_block_matches(const char *block, const char *filter);

// The subgraph; its outputs are the kept values read outside it or output by
// g. Node attributes and metadata are copied; weights are declared with their
// type and layout but no data.
Graph *ir_extract_blocks(const Graph *g, const char *filter);

#endif
