// test_ir_roundtrip.c: builds a two-layer llama-like graph with the builder,
// checks it verifies, that print -> parse -> print is the identity, and that
// the printed form matches the golden file tests/fixtures/ir/tiny_llama.ir
// (AWQC_UPDATE_FIXTURES=1 rewrites the golden file instead).
#include <stdlib.h>
#include <string.h>

#include "ir/ir.h"
#include "test_support.h"

// ----------------------------------------------------------------------------
// the tiny llama

enum { DIM = 64, HEADS = 4, KV_HEADS = 2, HEAD_DIM = 16, FFN = 128, VOCAB = 256, LAYERS = 2, GROUP = 32 };

static int add_weight(Graph *g, const char *name, Type t) {
    AwqcError err;
    int w = ir_add_weight(g, name, t, &err);
    CHECK_MSG(w >= 0, "%s", err.msg);
    return w;
}

static int vector_weight(Graph *g, const char *name, int64_t n) {
    return add_weight(g, name, ir_type_const(DT_F32, 1, &n));
}

static int matrix_weight(Graph *g, const char *name, int64_t rows, int64_t cols) {
    int64_t dims[2] = {rows, cols};
    Type t = ir_type_const(DT_Q4, 2, dims);
    t.group = GROUP;
    return add_weight(g, name, t);
}

static int node(Graph *g, OpKind op, const Operand *in, int n_in, const Attr *attrs, int n_attrs, int block) {
    AwqcError err;
    int n = ir_add_node(g, op, in, n_in, attrs, n_attrs, block, &err);
    CHECK_MSG(n >= 0, "%s", err.msg);
    AWQC_ASSERT(n >= 0); // later nodes would reference garbage
    return n;
}

static int unary(Graph *g, OpKind op, int x, int block) {
    Operand in[1] = {ir_node_ref(x)};
    return node(g, op, in, 1, NULL, 0, block);
}

static int binary(Graph *g, OpKind op, Operand a, Operand b, int block) {
    Operand in[2] = {a, b};
    return node(g, op, in, 2, NULL, 0, block);
}

static int rms_norm(Graph *g, int x, int w, int block) {
    Operand in[2] = {ir_node_ref(x), ir_weight_ref(w)};
    Attr eps = ir_attr_float("eps", 1e-5);
    return node(g, OP_RMS_NORM, in, 2, &eps, 1, block);
}

static int linear(Graph *g, int x, int w, int block) {
    return binary(g, OP_LINEAR, ir_node_ref(x), ir_weight_ref(w), block);
}

static int rope(Graph *g, int x, int heads, int block) {
    Attr a[4] = {ir_attr_int("heads", heads), ir_attr_int("head_dim", HEAD_DIM), ir_attr_float("theta", 10000.0),
                 ir_attr_string("mode", "halves")};
    Operand in[1] = {ir_node_ref(x)};
    return node(g, OP_ROPE, in, 1, a, 4, block);
}

static int layer_weight(Graph *g, int layer, const char *what, int64_t rows, int64_t cols) {
    char name[64];
    snprintf(name, sizeof name, "blk.%d.%s.weight", layer, what);
    return cols ? matrix_weight(g, name, rows, cols) : vector_weight(g, name, rows);
}

static int attention_block(Graph *g, int layer, int x) {
    char name[32];
    snprintf(name, sizeof name, "layer.%d.attn", layer);
    int b = ir_block(g, name);
    int h = rms_norm(g, x, layer_weight(g, layer, "attn_norm", DIM, 0), b);
    int q = linear(g, h, layer_weight(g, layer, "attn_q", HEADS * HEAD_DIM, DIM), b);
    int k = linear(g, h, layer_weight(g, layer, "attn_k", KV_HEADS * HEAD_DIM, DIM), b);
    int v = linear(g, h, layer_weight(g, layer, "attn_v", KV_HEADS * HEAD_DIM, DIM), b);
    q = rope(g, q, HEADS, b);
    k = rope(g, k, KV_HEADS, b);
    Attr a[3] = {ir_attr_int("heads", HEADS), ir_attr_int("kv_heads", KV_HEADS), ir_attr_int("head_dim", HEAD_DIM)};
    Operand in[3] = {ir_node_ref(q), ir_node_ref(k), ir_node_ref(v)};
    int att = node(g, OP_ATTENTION, in, 3, a, 3, b);
    int o = linear(g, att, layer_weight(g, layer, "attn_output", DIM, HEADS * HEAD_DIM), b);
    return binary(g, OP_ADD, ir_node_ref(x), ir_node_ref(o), b);
}

static int mlp_block(Graph *g, int layer, int x) {
    char name[32];
    snprintf(name, sizeof name, "layer.%d.mlp", layer);
    int b = ir_block(g, name);
    int h = rms_norm(g, x, layer_weight(g, layer, "ffn_norm", DIM, 0), b);
    int gate = linear(g, h, layer_weight(g, layer, "ffn_gate", FFN, DIM), b);
    int up = linear(g, h, layer_weight(g, layer, "ffn_up", FFN, DIM), b);
    int act = binary(g, OP_MUL, ir_node_ref(unary(g, OP_SILU, gate, b)), ir_node_ref(up), b);
    int down = linear(g, act, layer_weight(g, layer, "ffn_down", DIM, FFN), b);
    return binary(g, OP_ADD, ir_node_ref(x), ir_node_ref(down), b);
}

static void set_meta(Graph *g) {
    ir_set_meta(g, "arch", ir_attr_string("arch", "llama"));
    ir_set_meta(g, "dim", ir_attr_int("dim", DIM));
    ir_set_meta(g, "n_layers", ir_attr_int("n_layers", LAYERS));
    ir_set_meta(g, "heads", ir_attr_int("heads", HEADS));
    ir_set_meta(g, "kv_heads", ir_attr_int("kv_heads", KV_HEADS));
    ir_set_meta(g, "vocab", ir_attr_int("vocab", VOCAB));
    ir_set_meta(g, "eps", ir_attr_float("eps", 1e-5));
    ir_set_meta(g, "rope.theta", ir_attr_float("rope.theta", 10000.0));
}

static Graph *build_tiny_llama(void) {
    Graph *g = ir_graph_new("tiny_llama");
    set_meta(g);
    int64_t embd_dims[2] = {VOCAB, DIM};
    int embd = add_weight(g, "token_embd.weight", ir_type_const(DT_F32, 2, embd_dims));
    Attr name = ir_attr_string("name", "tokens");
    int tokens = node(g, OP_INPUT, NULL, 0, &name, 1, -1);
    int x = binary(g, OP_EMBEDDING, ir_weight_ref(embd), ir_node_ref(tokens), -1);
    for (int layer = 0; layer < LAYERS; layer++) x = mlp_block(g, layer, attention_block(g, layer, x));
    x = rms_norm(g, x, vector_weight(g, "output_norm.weight", DIM), -1);
    int logits = linear(g, x, embd, -1); // tied: the head reuses the embedding table
    ir_add_output(g, logits);
    return g;
}

// ----------------------------------------------------------------------------
// tests

static void test_builder_graph_shape(const Graph *g) {
    CHECK(g->n_nodes == 4 + LAYERS * 16);
    CHECK(g->n_blocks == 2 * LAYERS);
    const Node *head = &g->nodes[g->n_nodes - 1];
    CHECK(head->op == OP_LINEAR && head->type.rank == 2);
    CHECK(head->type.dims[0].kind == DIM_T && head->type.dims[1].size == VOCAB);
    AwqcError err;
    CHECK_MSG(ir_verify(g, &err), "%s", err.msg);
}

static void test_print_parse_print(const Graph *g, const char *text) {
    AwqcError err;
    Graph *back = ir_parse(text, "tiny_llama.ir", &err);
    CHECK_MSG(back, "%s", err.msg);
    if (!back) return;
    CHECK_MSG(ir_verify(back, &err), "%s", err.msg);
    char *again = ir_print_to_string(back);
    CHECK_MSG(strcmp(text, again) == 0, "reprinted text differs:\n%s", again);
    CHECK(back->n_nodes == g->n_nodes && back->n_weights == g->n_weights && back->n_meta == g->n_meta);
    CHECK(back->n_blocks == g->n_blocks && back->n_outputs == 1 && back->outputs[0] == g->outputs[0]);
    for (size_t i = 0; i < back->n_weights; i++) CHECK(back->weights[i].data == NULL);
    free(again);
    ir_graph_free(back);
}

static void test_spot_checks(const char *text) {
    CHECK(strstr(text, "graph \"tiny_llama\" {\n") == text);
    CHECK(strstr(text, "  meta eps = 1e-05\n"));
    CHECK(strstr(text, "  meta arch = \"llama\"\n"));
    CHECK(strstr(text, "  weight @blk.0.attn_q.weight : q4g32[64, 64]\n"));
    CHECK(strstr(text, "  %0 = input {name = \"tokens\"} : i32[T]\n"));
    CHECK(strstr(text, "  %1 = embedding @token_embd.weight, %0 : f32[T, 64]\n"));
    CHECK(strstr(text, "  block \"layer.0.attn\" {\n    %2 = rms_norm %1, @blk.0.attn_norm.weight {eps = 1e-05}"));
    CHECK(strstr(text, "{heads = 4, head_dim = 16, theta = 10000.0, mode = \"halves\"} : f32[T, 64]\n"));
    CHECK(strstr(text, "= linear %34, @token_embd.weight : f32[T, 256]\n  output %35\n}\n"));
}

// The golden file pins the text form: a change to it is a visible diff.
static void test_golden(const char *text) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fixtures/ir/tiny_llama.ir", test_source_dir());
    const char *update = getenv("AWQC_UPDATE_FIXTURES");
    if (update && strcmp(update, "1") == 0) test_write_file(path, text, strlen(text));
    AwqcError err;
    size_t len;
    char *golden = awqc_read_file(path, &len, &err);
    CHECK_MSG(golden, "%s", err.msg);
    if (!golden) return;
    CHECK_MSG(strcmp(golden, text) == 0, "%s differs from the builder's graph", path);
    Graph *g = ir_parse(golden, path, &err);
    CHECK_MSG(g, "%s", err.msg);
    if (g) {
        char *again = ir_print_to_string(g);
        CHECK(strlen(again) == len && memcmp(again, golden, len) == 0);
        free(again);
        ir_graph_free(g);
    }
    free(golden);
}

int main(void) {
    Graph *g = build_tiny_llama();
    test_builder_graph_shape(g);
    char *text = ir_print_to_string(g);
    test_spot_checks(text);
    test_print_parse_print(g, text);
    test_golden(text);
    free(text);
    ir_graph_free(g);
    return test_result();
}
