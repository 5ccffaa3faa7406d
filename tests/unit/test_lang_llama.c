// test_lang_llama.c: models/llama.model lowered against the default SmolLM2
// GGUF (shapes only): node and block counts, metadata, the tied lm head, a
// clean ir_verify, and that the printed graph parses back to the same text.
#include <stdlib.h>
#include <string.h>

#include "frontend/lang/lang.h"
#include "test_support.h"

// Per layer: attention 9 nodes (norm, q, rope, k, rope, v, attention, o, add),
// MLP 7 (norm, gate, silu, up, mul, down, add); plus input, embedding, final
// norm and lm head.
#define SMOLLM2_LAYERS 30
#define SMOLLM2_NODES (4 + SMOLLM2_LAYERS * (9 + 7))

// ----------------------------------------------------------------------------
// helpers

static ModelAst *parse_llama(void) {
    char *path = awqc_asprintf("%s/models/llama.model", test_source_dir());
    AwqcError err = {{0}};
    ModelAst *ast = lang_parse_file(path, &err);
    CHECK_MSG(ast != NULL, "%s", err.msg);
    free(path);
    return ast;
}

static void check_meta_int(const Graph *g, const char *key, int64_t want) {
    const Meta *m = ir_get_meta(g, key);
    CHECK_MSG(m && m->value.kind == ATTR_INT && m->value.i == want, "meta %s", key);
}

static void check_meta_float(const Graph *g, const char *key, double want) {
    const Meta *m = ir_get_meta(g, key);
    CHECK_MSG(m && m->value.kind == ATTR_FLOAT && m->value.f == want, "meta %s", key);
}

static void check_meta_string(const Graph *g, const char *key, const char *want) {
    const Meta *m = ir_get_meta(g, key);
    CHECK_MSG(m && m->value.kind == ATTR_STRING && strcmp(m->value.s, want) == 0, "meta %s", key);
}

// ----------------------------------------------------------------------------
// checks

static void check_blocks(const Graph *g) {
    CHECK(g->n_blocks == 2 * SMOLLM2_LAYERS);
    char name[64];
    for (int i = 0; i < SMOLLM2_LAYERS; i++) {
        snprintf(name, sizeof name, "layer.%d.attn", i);
        CHECK_MSG(ir_find_block(g, name) == 2 * i, "%s", name);
        snprintf(name, sizeof name, "layer.%d.mlp", i);
        CHECK_MSG(ir_find_block(g, name) == 2 * i + 1, "%s", name);
    }
    // The first layer's q projection is inside layer.0.attn.
    CHECK(g->nodes[3].op == OP_LINEAR && g->nodes[3].block == 0);
}

static void check_metadata(const Graph *g) {
    check_meta_string(g, "arch", "llama");
    check_meta_int(g, "dim", 576);
    check_meta_int(g, "n_layers", 30);
    check_meta_int(g, "n_heads", 9);
    check_meta_int(g, "n_kv", 3);
    check_meta_int(g, "head_dim", 64);
    check_meta_int(g, "n_ff", 1536);
    check_meta_int(g, "n_ctx_train", 8192);
    check_meta_float(g, "theta", 100000.0);
    check_meta_float(g, "eps", (double)1e-5f);
    check_meta_string(g, "rope_mode", "pairs");
}

static void check_lm_head(const Graph *g) {
    CHECK(g->n_outputs == 1);
    const Node *head = &g->nodes[g->outputs[0]];
    CHECK(head->op == OP_LINEAR);
    CHECK(head->in[1].kind == OPND_WEIGHT);
    CHECK(strcmp(g->weights[head->in[1].index].name, "token_embd.weight") == 0);
    CHECK(ir_find_weight(g, "output.weight") < 0);
    CHECK(g->nodes[1].op == OP_EMBEDDING && g->nodes[1].in[0].index == head->in[1].index);
    char ty[64];
    CHECK(strcmp(ir_type_str(&head->type, ty, sizeof ty), "f32[T, 49152]") == 0);
}

static void check_attrs(const Graph *g) {
    const Node *rope_k = &g->nodes[6]; // input, embedding, norm, q, rope, k, rope
    CHECK(rope_k->op == OP_ROPE);
    CHECK(ir_node_attr_int(rope_k, "heads", 0) == 3);
    CHECK(ir_node_attr(rope_k, "theta") && ir_node_attr(rope_k, "theta")->kind == ATTR_FLOAT);
    CHECK(strcmp(ir_node_attr_string(rope_k, "mode", ""), "pairs") == 0);
    CHECK(ir_node_attr(&g->nodes[2], "eps")->kind == ATTR_FLOAT);
}

static void check_roundtrip(const Graph *g) {
    char *text = ir_print_to_string(g);
    AwqcError err = {{0}};
    Graph *back = ir_parse(text, "smollm2.ir", &err);
    CHECK_MSG(back != NULL, "%s", err.msg);
    if (back) {
        char *again = ir_print_to_string(back);
        CHECK(strcmp(text, again) == 0);
        free(again);
        ir_graph_free(back);
    }
    free(text);
}

// GGUF names in the message: the misspelt tensor of layer 0.
static void check_missing_weight(const Checkpoint *ck) {
    const char *text = "model t {\n"
                       "  input tokens;\n"
                       "  for i in 0 .. 2 { w = tensor(\"blk.{i}.attn_qq.weight\", \"unused\"); }\n"
                       "}\n";
    AwqcError err = {{0}};
    ModelAst *ast = lang_parse(text, strlen(text), "qq.model", &err);
    CHECK_MSG(ast != NULL, "%s", err.msg);
    Graph *g = ast ? lang_lower(ast, ck, NULL, &err) : NULL;
    CHECK(g == NULL);
    char *want = awqc_asprintf("qq.model:3:25: missing weight 'blk.0.attn_qq.weight' in GGUF checkpoint '%s'\n"
                               "  for i in 0 .. 2 { w = tensor(\"blk.{i}.attn_qq.weight\", \"unused\"); }\n"
                               "                        ^",
                               ckpt_path(ck));
    CHECK_MSG(strcmp(err.msg, want) == 0, "%s", err.msg);
    free(want);
    ir_graph_free(g);
    lang_ast_free(ast);
}

int main(void) {
    const char *model = test_model_or_skip();
    ModelAst *ast = parse_llama();
    if (!ast) return test_result();
    CHECK(strcmp(lang_model_name(ast), "llama") == 0);
    AwqcError err = {{0}};
    Checkpoint *ck = ckpt_open(model, &err);
    CHECK_MSG(ck != NULL, "%s", err.msg);
    LowerOptions opts = {.load_weights = false};
    Graph *g = ck ? lang_lower(ast, ck, &opts, &err) : NULL;
    CHECK_MSG(g != NULL, "%s", err.msg);
    if (g) {
        CHECK_MSG(g->n_nodes == SMOLLM2_NODES, "%zu nodes", g->n_nodes);
        CHECK(g->n_weights == 272);
        check_blocks(g);
        check_metadata(g);
        check_lm_head(g);
        check_attrs(g);
        CHECK_MSG(ir_verify(g, &err), "%s", err.msg);
        check_roundtrip(g);
    }
    if (ck) check_missing_weight(ck);
    ir_graph_free(g);
    ckpt_close(ck);
    lang_ast_free(ast);
    return test_result();
}
