// dot.c: writes a Graph as a Graphviz digraph (see dot.h) for people to read,
// not for tools: layer blocks become clusters, fused nodes sit in a nested,
// tinted cluster labelled with their fusion rule, and weights appear inside
// the label of the node that reads them so the picture stays a dataflow chain.
#include <stdlib.h>
#include <string.h>

#include "ir/dot.h"
#include "ir/subgraph.h"

// Light fills: fusions must stand out at a glance, AWQ scales still waiting to
// be folded are a different story, so they get a different tint.
#define FUSED_FILL "#fff2b3"
#define AWQ_SCALE_FILL "#cfe3f7"

// ----------------------------------------------------------------------------
// escaping

// Length of the well-formed UTF-8 sequence at p, or 0 when it is not one
// (Graphviz rejects malformed UTF-8, so such bytes are shown as \xNN instead).
static int utf8_sequence_length(const unsigned char *p) {
    int len = p[0] >= 0xf0 && p[0] <= 0xf4 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc2 && p[0] < 0xe0 ? 2 : 0;
    if (p[0] > 0xf4) len = 0;
    for (int i = 1; i < len; i++)
        if ((p[i] & 0xc0) != 0x80) return 0;
    return len;
}

// Appends s as it must appear inside a DOT double-quoted label: quotes and
// backslashes escaped (a bare backslash would start a label escape such as \N),
// control bytes made visible so a name never silently breaks a line.
static void sb_append_dot_text(StrBuf *b, const char *s) {
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        int len = *p >= 0x80 ? utf8_sequence_length(p) : 1;
        if (*p == '"' || *p == '\\') {
            sb_append(b, *p == '"' ? "\\\"" : "\\\\");
        } else if (len == 0 || *p < 0x20 || *p == 0x7f) {
            char hex[8];
            snprintf(hex, sizeof hex, "\\\\x%02x", *p);
            sb_append(b, hex);
            len = 1;
        } else {
            sb_append_n(b, (const char *)p, (size_t)len);
        }
        p += len;
    }
}

static void print_dot_string(FILE *out, const char *s) {
    StrBuf b = {0};
    sb_append_dot_text(&b, s);
    char *text = sb_finish(&b);
    fprintf(out, "\"%s\"", text);
    free(text);
}

static void sb_append_type(StrBuf *b, const Type *t) {
    char buf[160];
    sb_append(b, ir_type_str(t, buf, sizeof buf));
}

// ----------------------------------------------------------------------------
// selection


static bool node_selected(const Graph *g, const Node *n, const char *filter) {
    if (!filter) return true;
    return n->block >= 0 && ir_block_matches(g->blocks[n->block], filter);
}

// kept[i]: node i is drawn in full; stub[i]: node i is outside the selection
// but a kept node reads it, so it appears as a small input ellipse.
static void select_nodes(const Graph *g, const char *filter, bool *kept, bool *stub) {
    for (size_t i = 0; i < g->n_nodes; i++) kept[i] = node_selected(g, &g->nodes[i], filter);
    for (size_t i = 0; i < g->n_nodes; i++) {
        const Node *n = &g->nodes[i];
        for (int k = 0; k < n->n_in && kept[i]; k++)
            if (n->in[k].kind == OPND_NODE && !kept[n->in[k].index]) stub[n->in[k].index] = true;
    }
}

// ----------------------------------------------------------------------------
// nodes

static bool is_graph_output(const Graph *g, size_t index) {
    for (size_t i = 0; i < g->n_outputs; i++)
        if ((size_t)g->outputs[i] == index) return true;
    return false;
}

// "%3 linear\n@w q4g32[64, 64]\nf32[T, 64]" with DOT's \n line breaks.
static char *node_label(const Graph *g, size_t index) {
    const Node *n = &g->nodes[index];
    StrBuf b = {0};
    char head[64];
    snprintf(head, sizeof head, "%%%zu ", index);
    sb_append(&b, head);
    sb_append_dot_text(&b, ir_op_name(n->op));
    for (int k = 0; k < n->n_in; k++) {
        if (n->in[k].kind != OPND_WEIGHT) continue;
        const Weight *w = &g->weights[n->in[k].index];
        sb_append(&b, "\\n@");
        sb_append_dot_text(&b, w->name);
        sb_append(&b, " ");
        sb_append_type(&b, &w->type);
    }
    sb_append(&b, "\\n");
    sb_append_type(&b, &n->type);
    return sb_finish(&b);
}

// The fusion rule that made a node, or NULL for an ordinary node.
static const char *fusion_rule(const Node *n) { return ir_node_attr_string(n, "rule", NULL); }

static void print_node_box(const Graph *g, size_t index, const char *indent, FILE *out) {
    const Node *n = &g->nodes[index];
    char *label = node_label(g, index);
    fprintf(out, "%sn%zu [label=\"%s\"", indent, index, label);
    if (n->op == OP_AWQ_SCALE) fputs(", style=filled, fillcolor=\"" AWQ_SCALE_FILL "\"", out);
    else if (fusion_rule(n)) fputs(", style=filled, fillcolor=white", out);
    if (is_graph_output(g, index)) fputs(", peripheries=2", out);
    fputs("];\n", out);
    free(label);
}

// A fused node gets a cluster of its own, so the rule that made it is visible
// as a tinted frame around it.
static void print_node(const Graph *g, size_t index, const char *indent, FILE *out) {
    const char *rule = fusion_rule(&g->nodes[index]);
    if (!rule) {
        print_node_box(g, index, indent, out);
        return;
    }
    fprintf(out, "%ssubgraph cluster_f%zu {\n", indent, index);
    fprintf(out, "%s  label=", indent);
    print_dot_string(out, rule);
    fprintf(out, "; style=\"filled,rounded\"; fillcolor=\"" FUSED_FILL "\"; color=\"#c9a400\";\n");
    char inner[32];
    snprintf(inner, sizeof inner, "%s  ", indent);
    print_node_box(g, index, inner, out);
    fprintf(out, "%s}\n", indent);
}

static void print_stub(const Graph *g, size_t index, FILE *out) {
    char label[64];
    snprintf(label, sizeof label, "%%%zu %s", index, ir_op_name(g->nodes[index].op));
    fprintf(out, "  n%zu [shape=ellipse, style=dashed, label=", index);
    print_dot_string(out, label);
    fputs("];\n", out);
}

// ----------------------------------------------------------------------------
// clusters and edges

// Every block is one cluster even when its nodes are interleaved with other
// blocks' in the node order.
static void print_block(const Graph *g, int block, const bool *kept, FILE *out) {
    bool any = false;
    for (size_t i = 0; i < g->n_nodes && !any; i++) any = kept[i] && g->nodes[i].block == block;
    if (!any) return;
    fprintf(out, "  subgraph cluster_b%d {\n    label=", block);
    print_dot_string(out, g->blocks[block]);
    fputs("; style=rounded; color=\"#888888\"; fontcolor=\"#444444\";\n", out);
    for (size_t i = 0; i < g->n_nodes; i++)
        if (kept[i] && g->nodes[i].block == block) print_node(g, i, "    ", out);
    fputs("  }\n", out);
}

static void print_edges(const Graph *g, const bool *kept, FILE *out) {
    for (size_t i = 0; i < g->n_nodes; i++) {
        if (!kept[i]) continue;
        const Node *n = &g->nodes[i];
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k].kind == OPND_NODE) fprintf(out, "  n%d -> n%zu;\n", n->in[k].index, i);
    }
}

static void print_header(const Graph *g, FILE *out) {
    fputs("digraph ", out);
    print_dot_string(out, g->name ? g->name : "graph");
    fputs(" {\n", out);
    fputs("  rankdir=TB;\n", out);
    fputs("  node [shape=box, fontname=\"Helvetica\", fontsize=10];\n", out);
    fputs("  edge [color=\"#555555\"];\n", out);
    fputs("  graph [fontname=\"Helvetica\", fontsize=11];\n", out);
}

// ----------------------------------------------------------------------------
// entry point

void ir_print_dot(const Graph *g, const char *filter, FILE *out) {
    bool *kept = xcalloc(g->n_nodes + 1, sizeof *kept);
    bool *stub = xcalloc(g->n_nodes + 1, sizeof *stub);
    select_nodes(g, filter, kept, stub);
    print_header(g, out);
    for (size_t i = 0; i < g->n_nodes; i++)
        if (stub[i]) print_stub(g, i, out);
    for (size_t i = 0; i < g->n_nodes; i++)
        if (kept[i] && g->nodes[i].block < 0) print_node(g, i, "  ", out);
    for (size_t b = 0; b < g->n_blocks; b++) print_block(g, (int)b, kept, out);
    print_edges(g, kept, out);
    fputs("}\n", out);
    free(kept);
    free(stub);
}
