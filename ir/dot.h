// dot.h: draws a Graph as a Graphviz digraph for people to read (`awqc compile
// --emit=dot`): one box per node, layer blocks as clusters, each fused node in
// its own cluster named after its fusion rule. scripts/render_dot.sh makes SVG.
#ifndef AWQC_IR_DOT_H
#define AWQC_IR_DOT_H

#include <stdio.h>

#include "ir/ir.h"

// Writes g as a Graphviz digraph. filter: NULL for the whole graph, or a block name prefix such
// as "layer.0" (exact block name or prefix followed by '.'), keeping the nodes of those blocks plus
// small "input" stubs for values they read from outside (drawn as plain ellipses labelled %N op).
// Node boxes read "%3 linear\n@blk.0.attn_q.weight q4g64[576, 576]\nf32[T, 576]": weights are
// named in the label of the node that reads them, not drawn as nodes. Output is deterministic.
void ir_print_dot(const Graph *g, const char *filter, FILE *out);

#endif
