// subgraph.c: extracting the blocks a filter names as a standalone graph
// (subgraph.h). Values from outside become param nodes, numbered in order of
// first use, each remembering the value number it stands for.
#include "ir/subgraph.h"

#include <stdlib.h>
#include <string.h>

bool ir_block_matches(const char *block, const char *filter) {
    if (!filter) return true;
    size_t n = strlen(filter);
    return strncmp(block, filter, n) == 0 && (block[n] == 0 || block[n] == '.');
}

static bool kept(const Graph *g, size_t i, const char *filter) {
    int b = g->nodes[i].block;
    return b >= 0 && ir_block_matches(g->blocks[b], filter);
}

static int copy_weight(Graph *sub, const Graph *g, int w) {
    int i = ir_find_weight(sub, g->weights[w].name);
    if (i >= 0) return i;
    AwqcError e;
    i = ir_add_weight(sub, g->weights[w].name, g->weights[w].type, &e);
    AWQC_ASSERT(i >= 0);
    if (g->weights[w].layout) sub->weights[i].layout = xstrdup(g->weights[w].layout);
    return i;
}

// The value of g's node v inside sub: a kept node's copy, or a param made on first use.
static int value_in_sub(Graph *sub, const Graph *g, int v, int *map) {
    if (map[v] >= 0) return map[v];
    Attr a[2] = {ir_attr_int("value", v), ir_attr_int("width", g->nodes[v].type.dims[g->nodes[v].type.rank - 1].size)};
    AwqcError e;
    map[v] = ir_add_node(sub, OP_PARAM, NULL, 0, a, 2, -1, &e);
    AWQC_ASSERT(map[v] >= 0);
    return map[v];
}

static void copy_node(Graph *sub, const Graph *g, size_t i, int *map) {
    const Node *n = &g->nodes[i];
    Operand in[IR_MAX_OPERANDS];
    for (int k = 0; k < n->n_in; k++)
        in[k] = n->in[k].kind == OPND_WEIGHT ? ir_weight_ref(copy_weight(sub, g, n->in[k].index))
                                             : ir_node_ref(value_in_sub(sub, g, n->in[k].index, map));
    Attr attrs[IR_MAX_ATTRS];
    for (int k = 0; k < n->n_attrs; k++) attrs[k] = ir_attr_copy(&n->attrs[k]);
    AwqcError e;
    map[i] = ir_add_node(sub, n->op, in, n->n_in, attrs, n->n_attrs, ir_block(sub, g->blocks[n->block]), &e);
    AWQC_ASSERT(map[i] >= 0);
}

// Kept values that a node outside the filter, or the graph's outputs, read.
static void add_outputs(Graph *sub, const Graph *g, const char *filter, const int *map) {
    bool *out = xcalloc(g->n_nodes + 1, sizeof(bool));
    for (size_t i = 0; i < g->n_nodes; i++) {
        if (kept(g, i, filter)) continue;
        for (int k = 0; k < g->nodes[i].n_in; k++)
            if (g->nodes[i].in[k].kind == OPND_NODE && kept(g, (size_t)g->nodes[i].in[k].index, filter))
                out[g->nodes[i].in[k].index] = true;
    }
    for (size_t i = 0; i < g->n_outputs; i++)
        if (kept(g, (size_t)g->outputs[i], filter)) out[g->outputs[i]] = true;
    for (size_t i = 0; i < g->n_nodes; i++)
        if (out[i]) ir_add_output(sub, map[i]);
    free(out);
}

Graph *ir_extract_blocks(const Graph *g, const char *filter) {
    char *name = awqc_asprintf("%s [%s]", g->name ? g->name : "", filter);
    Graph *sub = ir_graph_new(name);
    free(name);
    for (size_t i = 0; i < g->n_meta; i++) ir_set_meta(sub, g->meta[i].key, ir_attr_copy(&g->meta[i].value));
    int *map = xmalloc(sizeof(int) * (g->n_nodes + 1));
    for (size_t i = 0; i < g->n_nodes; i++) map[i] = -1;
    for (size_t i = 0; i < g->n_nodes; i++)
        if (kept(g, i, filter)) copy_node(sub, g, i, map);
    add_outputs(sub, g, filter, map);
    free(map);
    return sub;
}
