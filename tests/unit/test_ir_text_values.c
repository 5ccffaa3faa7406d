// test_ir_text_values.c: the awkward corners of the text form survive
// print -> parse exactly: floats (shortest spelling, always float-looking,
// bit-exact), integers, escaped strings, weight names and keys that need
// quotes, interleaved blocks, several outputs, and the empty graph.
#include <math.h>
#include <float.h>
#include <stdlib.h>
#include <string.h>

#include "ir/ir.h"
#include "test_support.h"

// ----------------------------------------------------------------------------
// helpers

// Parses text; prints it again and checks that the text is unchanged.
static Graph *reparse(const char *text) {
    AwqcError err;
    Graph *g = ir_parse(text, "values.ir", &err);
    CHECK_MSG(g, "%s\n--- text:\n%s", err.msg, text);
    if (!g) return NULL;
    char *again = ir_print_to_string(g);
    CHECK_MSG(strcmp(again, text) == 0, "reprint differs:\n%s\n--- from:\n%s", again, text);
    free(again);
    return g;
}

static bool same_bits(double a, double b) {
    return memcmp(&a, &b, sizeof a) == 0;
}

// ----------------------------------------------------------------------------
// floats and integers

typedef struct {
    double value;
    const char *spelling;
} FloatCase;

static void test_floats(void) {
    const FloatCase cases[] = {
        {1e-5, "1e-05"},        {0.1, "0.1"},       {1e30, "1e+30"},
        {5e-324, "5e-324"},     {100000.0, "100000.0"}, {-0.0, "-0.0"},
        {0.0, "0.0"},           {576.0, "576.0"},   {-2.5, "-2.5"},
        {1.0 / 3.0, "0.3333333333333333"},          {0.1 + 0.2, "0.30000000000000004"},
        {DBL_MAX, "1.7976931348623157e+308"},       {INFINITY, "inf"},
        {-INFINITY, "-inf"},    {123456789.0, "123456789.0"},
    };
    size_t n = sizeof cases / sizeof *cases;
    Graph *g = ir_graph_new("floats");
    for (size_t i = 0; i < n; i++) {
        char key[16];
        snprintf(key, sizeof key, "f%zu", i);
        ir_set_meta(g, key, ir_attr_float(key, cases[i].value));
    }
    ir_set_meta(g, "not_a_number", ir_attr_float("nan", NAN));
    char *text = ir_print_to_string(g);
    for (size_t i = 0; i < n; i++) {
        char line[64];
        snprintf(line, sizeof line, "  meta f%zu = %s\n", i, cases[i].spelling);
        CHECK_MSG(strstr(text, line), "want '%s' in:\n%s", line, text);
    }
    CHECK(strstr(text, "  meta not_a_number = nan\n"));
    Graph *back = reparse(text);
    for (size_t i = 0; back && i < n; i++) {
        const Attr *v = &back->meta[i].value;
        CHECK_MSG(v->kind == ATTR_FLOAT && same_bits(v->f, cases[i].value), "%s came back as %.17g", cases[i].spelling, v->f);
    }
    CHECK(back && back->meta[n].value.kind == ATTR_FLOAT && isnan(back->meta[n].value.f));
    free(text);
    ir_graph_free(back);
    ir_graph_free(g);
}

static void test_integers_stay_integers(void) {
    const int64_t values[] = {0, 10000, -1, INT64_MAX, INT64_MIN};
    Graph *g = ir_graph_new("ints");
    for (size_t i = 0; i < 5; i++) {
        char key[16];
        snprintf(key, sizeof key, "i%zu", i);
        ir_set_meta(g, key, ir_attr_int(key, values[i]));
    }
    char *text = ir_print_to_string(g);
    CHECK(strstr(text, "  meta i1 = 10000\n") && strstr(text, "  meta i4 = -9223372036854775808\n"));
    Graph *back = reparse(text);
    for (size_t i = 0; back && i < 5; i++)
        CHECK(back->meta[i].value.kind == ATTR_INT && back->meta[i].value.i == values[i]);
    free(text);
    ir_graph_free(back);
    ir_graph_free(g);
}

// ----------------------------------------------------------------------------
// strings, names and keys

static void test_strings_and_keys(void) {
    const char *awkward = "line\nbreak \"q\" back\\slash\ttab \x01 \x7f caf\xc3\xa9";
    Graph *g = ir_graph_new("we\"ird\nname");
    ir_set_meta(g, "s", ir_attr_string("s", awkward));
    ir_set_meta(g, "my key", ir_attr_int("my key", 1));
    ir_set_meta(g, "rope.freq_base", ir_attr_int("k", 2));
    char *text = ir_print_to_string(g);
    CHECK_MSG(strstr(text, "graph \"we\\\"ird\\nname\" {\n") == text, "%s", text);
    CHECK_MSG(strstr(text, "  meta s = \"line\\nbreak \\\"q\\\" back\\\\slash\\ttab \\x01 \\x7f caf\xc3\xa9\"\n"), "%s", text);
    CHECK(strstr(text, "  meta \"my key\" = 1\n") && strstr(text, "  meta rope.freq_base = 2\n"));
    Graph *back = reparse(text);
    if (back) {
        CHECK(strcmp(back->name, g->name) == 0);
        CHECK(strcmp(back->meta[0].value.s, awkward) == 0);
        CHECK(ir_get_meta(back, "my key") && ir_get_meta(back, "my key")->value.i == 1);
    }
    free(text);
    ir_graph_free(back);
    ir_graph_free(g);
}

typedef struct {
    const char *name;
    const char *printed;
} NameCase;

static const NameCase name_cases[] = {
    {"blk.0/attn-q_w.weight", "@blk.0/attn-q_w.weight"},
    {"0starts-with-digit", "@0starts-with-digit"},
    {"my weight", "@\"my weight\""},
    {"quote\"d", "@\"quote\\\"d\""},
    {"tab\tname", "@\"tab\\tname\""},
    {"caf\xc3\xa9", "@\"caf\xc3\xa9\""},
    {"a,b", "@\"a,b\""},
    {"", "@\"\""},
};

// Every awkward name is both declared and used as an operand.
static void test_weight_names(void) {
    size_t n = sizeof name_cases / sizeof *name_cases;
    Graph *g = ir_graph_new("names");
    int64_t dims[2] = {16, 8};
    Attr name = ir_attr_string("name", "tokens");
    int tokens = ir_add_node(g, OP_INPUT, NULL, 0, &name, 1, -1, NULL);
    for (size_t i = 0; i < n; i++) {
        int w = ir_add_weight(g, name_cases[i].name, ir_type_const(DT_F32, 2, dims), NULL);
        Operand in[2] = {ir_weight_ref(w), ir_node_ref(tokens)};
        CHECK(ir_add_node(g, OP_EMBEDDING, in, 2, NULL, 0, -1, NULL) >= 0);
    }
    ir_add_output(g, (int)g->n_nodes - 1);
    char *text = ir_print_to_string(g);
    for (size_t i = 0; i < n; i++) {
        char decl[64], use[64];
        snprintf(decl, sizeof decl, "  weight %s : f32[16, 8]\n", name_cases[i].printed);
        snprintf(use, sizeof use, " = embedding %s, %%0 : f32[T, 8]\n", name_cases[i].printed);
        CHECK_MSG(strstr(text, decl) && strstr(text, use), "want %s in:\n%s", name_cases[i].printed, text);
    }
    Graph *back = reparse(text);
    for (size_t i = 0; back && i < n; i++) CHECK(ir_find_weight(back, name_cases[i].name) == (int)i);
    free(text);
    ir_graph_free(back);
    ir_graph_free(g);
}

// ----------------------------------------------------------------------------
// structure

// A block whose nodes are interleaved with another's opens twice and is still
// one block after parsing; attributes with quoted keys ride along.
static void test_interleaved_blocks_and_outputs(void) {
    const char *text = "graph \"blocks\" {\n"
                       "  weight @w : f32[4]\n"
                       "\n"
                       "  %0 = input {name = \"tokens\", \"odd key\" = -3} : i32[T]\n"
                       "  block \"a\" {\n"
                       "    %1 = embedding @\"t\", %0 : f32[T, 4]\n"
                       "  }\n"
                       "}\n";
    AwqcError err;
    CHECK(!ir_parse(text, "blocks.ir", &err)); // @"t" is not declared
    CHECK_MSG(strstr(err.msg, "blocks.ir:6:20: unknown weight @t"), "%s", err.msg);

    const char *good = "graph \"blocks\" {\n"
                       "  weight @t : f32[16, 4]\n"
                       "  weight @w : f32[4]\n"
                       "\n"
                       "  %0 = input {name = \"tokens\", \"odd key\" = -3} : i32[T]\n"
                       "  block \"a\" {\n"
                       "    %1 = embedding @t, %0 : f32[T, 4]\n"
                       "  }\n"
                       "  block \"b\" {\n"
                       "    %2 = rms_norm %1, @w {eps = 1e-06} : f32[T, 4]\n"
                       "  }\n"
                       "  block \"a\" {\n"
                       "    %3 = silu %2 : f32[T, 4]\n"
                       "  }\n"
                       "  %4 = softmax %3 : f32[T, 4]\n"
                       "  output %3, %4\n"
                       "}\n";
    Graph *g = reparse(good);
    if (!g) return;
    CHECK(g->n_blocks == 2 && g->nodes[1].block == g->nodes[3].block && g->nodes[2].block != g->nodes[1].block);
    CHECK(g->nodes[0].block == -1 && g->nodes[4].block == -1);
    CHECK(g->n_outputs == 2 && g->outputs[0] == 3 && g->outputs[1] == 4);
    CHECK(ir_node_attr_int(&g->nodes[0], "odd key", 0) == -3);
    CHECK_MSG(ir_verify(g, &err), "%s", err.msg);
    ir_graph_free(g);
}

// Comments and free layout are accepted; the reprint is canonical.
static void test_comments_and_layout(void) {
    const char *loose = "# a hand-written graph\ngraph \"x\"{weight @t:f32[2,2] %0=input{name=\"tokens\"}:i32[T]\n"
                        "%1=embedding @t,%0:f32[T,2] # the table\noutput %1}";
    AwqcError err;
    Graph *g = ir_parse(loose, "loose.ir", &err);
    CHECK_MSG(g, "%s", err.msg);
    if (!g) return;
    char *text = ir_print_to_string(g);
    CHECK_MSG(strcmp(text, "graph \"x\" {\n  weight @t : f32[2, 2]\n\n  %0 = input {name = \"tokens\"} : i32[T]\n"
                           "  %1 = embedding @t, %0 : f32[T, 2]\n  output %1\n}\n") == 0, "%s", text);
    free(text);
    ir_graph_free(g);
}

static void test_empty_graph(void) {
    Graph *g = ir_graph_new("empty");
    char *text = ir_print_to_string(g);
    CHECK_MSG(strcmp(text, "graph \"empty\" {\n}\n") == 0, "%s", text);
    Graph *back = reparse(text);
    CHECK(back && back->n_nodes == 0 && back->n_outputs == 0);
    AwqcError err;
    CHECK(back && !ir_verify(back, &err) && strstr(err.msg, "no outputs"));
    free(text);
    ir_graph_free(back);
    ir_graph_free(g);
}

int main(void) {
    test_floats();
    test_integers_stay_integers();
    test_strings_and_keys();
    test_weight_names();
    test_interleaved_blocks_and_outputs();
    test_comments_and_layout();
    test_empty_graph();
    return test_result();
}
