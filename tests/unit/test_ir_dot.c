// test_ir_dot.c: the Graphviz view of the IR (ir/dot.c) on the tiny llama
// fixture: one cluster per block, one edge per node operand, block filters
// with input stubs, fusion and AWQ-scale highlighting, DOT escaping of odd
// names, and (when Graphviz is installed) that dot accepts what we write.
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "ir/dot.h"
#include "ir/subgraph.h"
#include "ir/ir.h"
#include "test_support.h"

// ----------------------------------------------------------------------------
// helpers

static Graph *load_tiny_llama(void) {
    char *path = awqc_asprintf("%s/tests/fixtures/ir/tiny_llama.ir", test_source_dir());
    AwqcError err;
    char *text = awqc_read_file(path, NULL, &err);
    CHECK_MSG(text, "%s", err.msg);
    if (!text) test_skip("fixture tests/fixtures/ir/tiny_llama.ir is unreadable");
    Graph *g = ir_parse(text, path, &err);
    CHECK_MSG(g, "%s", err.msg);
    AWQC_ASSERT(g);
    free(text);
    free(path);
    return g;
}

static char *emit_dot(const Graph *g, const char *filter) {
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    AWQC_ASSERT(out);
    ir_print_dot(g, filter, out);
    AWQC_ASSERT(fclose(out) == 0);
    return text;
}

// Counts occurrences of needle in the DOT text outside double-quoted strings,
// honouring backslash escapes inside them. If escaping were wrong, quotes would
// pair up differently and brace or edge counts would drift.
static int count_outside_quotes(const char *text, const char *needle) {
    int count = 0;
    bool quoted = false;
    size_t n = strlen(needle);
    for (const char *p = text; *p; p++) {
        if (quoted) {
            if (*p == '\\' && p[1]) p++;
            else if (*p == '"') quoted = false;
        } else if (*p == '"') {
            quoted = true;
        } else if (strncmp(p, needle, n) == 0) {
            count++;
        }
    }
    return count;
}

static bool braces_balanced(const char *text) {
    return count_outside_quotes(text, "{") == count_outside_quotes(text, "}") && count_outside_quotes(text, "{") > 0;
}

// The line holding a node's declaration ("n14 [..."), heap string, or NULL.
static char *node_line(const char *text, int node) {
    char key[32];
    snprintf(key, sizeof key, " n%d [", node);
    const char *at = strstr(text, key);
    if (!at) return NULL;
    const char *end = strchr(at, '\n');
    return xstrndup(at, end ? (size_t)(end - at) : strlen(at));
}

static bool block_selected(const Graph *g, const Node *n, const char *prefix) {
    if (!prefix) return true;
    size_t len = strlen(prefix);
    const char *name = n->block >= 0 ? g->blocks[n->block] : "";
    return strncmp(name, prefix, len) == 0 && (name[len] == 0 || name[len] == '.');
}

static int node_operands_in(const Graph *g, const char *prefix) {
    int count = 0;
    for (size_t i = 0; i < g->n_nodes; i++) {
        const Node *n = &g->nodes[i];
        if (!block_selected(g, n, prefix)) continue;
        for (int k = 0; k < n->n_in; k++) count += n->in[k].kind == OPND_NODE;
    }
    return count;
}

static bool have_graphviz(void) { return system("command -v dot >/dev/null 2>&1") == 0; }

// Runs `dot -Tsvg` on text when Graphviz is installed; true when it is not.
static bool graphviz_accepts(const char *text, const char *name) {
    if (!have_graphviz()) return true;
    char *path = awqc_asprintf("%s/%s.dot", test_tmpdir(), name);
    test_write_file(path, text, strlen(text));
    char *cmd = awqc_asprintf("dot -Tsvg '%s' -o '%s.svg'", path, path);
    bool ok = system(cmd) == 0;
    free(cmd);
    free(path);
    return ok;
}

// ----------------------------------------------------------------------------
// tests

static void test_whole_graph(void) {
    Graph *g = load_tiny_llama();
    char *dot = emit_dot(g, NULL);
    CHECK(strncmp(dot, "digraph", 7) == 0);
    CHECK(braces_balanced(dot));
    CHECK(strstr(dot, "rankdir=TB"));
    CHECK_MSG(count_outside_quotes(dot, "subgraph cluster_b") == (int)g->n_blocks, "%d clusters",
              count_outside_quotes(dot, "subgraph cluster_b"));
    CHECK(count_outside_quotes(dot, "->") == node_operands_in(g, NULL));
    CHECK(count_outside_quotes(dot, "->") == 45);
    CHECK(strstr(dot, "\"%3 linear\\n@blk.0.attn_q.weight q4g32[64, 64]\\nf32[T, 64]\""));
    CHECK(strstr(dot, "label=\"layer.1.mlp\""));
    CHECK(!strstr(dot, "ellipse")); // nothing is outside the selection
    for (int i = 0; i < (int)g->n_nodes; i++) {
        char *line = node_line(dot, i);
        CHECK_MSG(line, "node %d not drawn", i);
        CHECK_MSG(!line || (strstr(line, "peripheries=2") != NULL) == (i == 35), "node %d output marking", i);
        free(line);
    }
    char *again = emit_dot(g, NULL);
    CHECK(strcmp(dot, again) == 0);
    CHECK(graphviz_accepts(dot, "whole"));
    free(again);
    free(dot);
    ir_graph_free(g);
}

static void test_filter_layer0(void) {
    Graph *g = load_tiny_llama();
    char *dot = emit_dot(g, "layer.0");
    CHECK(strncmp(dot, "digraph", 7) == 0);
    CHECK(braces_balanced(dot));
    CHECK(!strstr(dot, "layer.1"));
    CHECK(count_outside_quotes(dot, "subgraph cluster_b") == 2);
    CHECK(count_outside_quotes(dot, "->") == node_operands_in(g, "layer.0"));
    CHECK(count_outside_quotes(dot, "->") == 21);
    char *stub = node_line(dot, 1); // the embedding feeds layer.0 from outside
    CHECK(stub && strstr(stub, "shape=ellipse") && strstr(stub, "\"%1 embedding\""));
    free(stub);
    CHECK(count_outside_quotes(dot, "ellipse") == 1);
    char *input = node_line(dot, 0);
    CHECK(!input); // read only by the embedding, which is a stub
    free(input);
    for (int i = 18; i < (int)g->n_nodes; i++) {
        char *line = node_line(dot, i);
        CHECK_MSG(!line, "node %d is outside layer.0", i);
        free(line);
    }
    CHECK(graphviz_accepts(dot, "layer0"));
    free(dot);
    ir_graph_free(g);
}

static void test_filter_edges(void) {
    Graph *g = load_tiny_llama();
    char *dot = emit_dot(g, "layer.0.mlp");
    CHECK(count_outside_quotes(dot, "subgraph cluster_b") == 1);
    CHECK(count_outside_quotes(dot, "->") == node_operands_in(g, "layer.0.mlp"));
    char *stub = node_line(dot, 10); // the residual from layer.0.attn
    CHECK(stub && strstr(stub, "ellipse"));
    free(stub);
    free(dot);
    // A prefix must end at a '.': "layer.0.ml" names no block.
    dot = emit_dot(g, "layer.0.ml");
    CHECK(count_outside_quotes(dot, "subgraph") == 0);
    CHECK(count_outside_quotes(dot, "->") == 0);
    CHECK(braces_balanced(dot));
    free(dot);
    CHECK(ir_block_matches("layer.1.attn", "layer.1"));
    CHECK(!ir_block_matches("layer.10.attn", "layer.1"));
    CHECK(ir_block_matches("layer.1", "layer.1"));
    CHECK(ir_block_matches("anything", NULL));
    ir_graph_free(g);
}

static void rename_weight(Graph *g, const char *old, const char *name) {
    int w = ir_find_weight(g, old);
    AWQC_ASSERT(w >= 0);
    free(g->weights[w].name);
    g->weights[w].name = xstrdup(name);
}

static void test_escaping(void) {
    Graph *g = load_tiny_llama();
    rename_weight(g, "blk.0.attn_q.weight", "blk.0.\"q\"\\weight}");
    rename_weight(g, "blk.0.attn_k.weight", "blk.0.k\nweight\xff");
    free(g->blocks[1]);
    g->blocks[1] = xstrdup("layer.0.\"mlp\" {x}");
    char *dot = emit_dot(g, NULL);
    CHECK(strstr(dot, "@blk.0.\\\"q\\\"\\\\weight} q4g32[64, 64]"));
    CHECK(strstr(dot, "@blk.0.k\\\\x0aweight\\\\xff q4g32[32, 64]"));
    CHECK(strstr(dot, "label=\"layer.0.\\\"mlp\\\" {x}\""));
    CHECK(!strchr(dot, '\xff'));
    CHECK(braces_balanced(dot));
    CHECK(count_outside_quotes(dot, "->") == node_operands_in(g, NULL));
    CHECK(count_outside_quotes(dot, "subgraph cluster_b") == (int)g->n_blocks);
    CHECK(graphviz_accepts(dot, "escaping"));
    free(dot);
    ir_graph_free(g);
}

// Fusion and AWQ highlighting depend only on the rule attribute and the op, so
// the test marks fixture nodes by hand instead of running the passes.
static void test_fusion_and_awq_scale(void) {
    Graph *g = load_tiny_llama();
    Node *mul = &g->nodes[15];
    mul->attrs[mul->n_attrs++] = ir_attr_string("rule", "gate-\"silu\"-mul");
    g->nodes[14].op = OP_AWQ_SCALE;
    char *dot = emit_dot(g, NULL);
    CHECK(count_outside_quotes(dot, "subgraph cluster_f") == 1);
    const char *fused = strstr(dot, "subgraph cluster_f15 {");
    CHECK(fused && strstr(fused, "label=\"gate-\\\"silu\\\"-mul\"") && strstr(fused, "fillcolor=\"#fff2b3\""));
    CHECK(fused && strstr(fused, " n15 [") && strstr(fused, " n15 [") < strstr(fused, "}"));
    char *scale = node_line(dot, 14);
    CHECK(scale && strstr(scale, "awq_scale") && strstr(scale, "fillcolor=\"#cfe3f7\""));
    free(scale);
    char *plain = node_line(dot, 13);
    CHECK(plain && !strstr(plain, "fillcolor"));
    free(plain);
    CHECK(braces_balanced(dot));
    CHECK(count_outside_quotes(dot, "subgraph cluster_b") == (int)g->n_blocks);
    CHECK(graphviz_accepts(dot, "fused"));
    free(dot);
    ir_graph_free(g);
}

// scripts/render_dot.sh renders with Graphviz, or says it is missing and exits 2.
static void test_render_script(void) {
    char *in = awqc_asprintf("%s/render.dot", test_tmpdir());
    char *svg = awqc_asprintf("%s/render.svg", test_tmpdir());
    test_write_file(in, "digraph g { a -> b; }\n", 22);
    char *cmd = awqc_asprintf("bash '%s/scripts/render_dot.sh' '%s' '%s' 2>/dev/null", test_source_dir(), in, svg);
    int status = system(cmd);
    int rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (have_graphviz()) {
        CHECK_MSG(rc == 0, "render_dot.sh exited %d", rc);
        char *text = awqc_read_file(svg, NULL, NULL);
        CHECK(text && strstr(text, "<svg"));
        free(text);
    } else {
        CHECK_MSG(rc == 2, "render_dot.sh exited %d without graphviz", rc);
    }
    free(cmd);
    free(svg);
    free(in);
}

int main(void) {
    test_whole_graph();
    test_filter_layer0();
    test_filter_edges();
    test_escaping();
    test_fusion_and_awq_scale();
    test_render_script();
    return test_result();
}
