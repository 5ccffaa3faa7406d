// test_lang_hf.c: models/llama.model lowered against a tiny Hugging Face
// folder written by the test: HF tensor names and config keys, "halves" RoPE,
// weights loaded with the right data, tied and untied lm heads, the n_kv
// default, param overrides, and lang_model_path_for.
#include <stdlib.h>
#include <string.h>

#include "frontend/lang/lang.h"
#include "test_lang_tiny_hf.h"
#include "test_support.h"

#define TINY_NODES (4 + TINY_LAYERS * (9 + 7))

// ----------------------------------------------------------------------------
// helpers

static char *models_dir(void) {
    return awqc_asprintf("%s/models", test_source_dir());
}

static Graph *lower_folder(const ModelAst *ast, const char *dir, const LowerOptions *opts, AwqcError *err) {
    Checkpoint *ck = ckpt_open(dir, err);
    CHECK_MSG(ck != NULL, "%s", err->msg);
    if (!ck) return NULL;
    Graph *g = lang_lower(ast, ck, opts, err);
    ckpt_close(ck);
    return g;
}

// Every weight of the graph holds exactly the values the test wrote.
static void check_weight_data(const Graph *g, bool with_lm_head) {
    TinyTensor t[64];
    size_t n = tiny_tensors(t, with_lm_head, TINY_KV);
    CHECK(g->n_weights == n);
    for (size_t i = 0; i < n; i++) {
        int w = ir_find_weight(g, t[i].name);
        CHECK_MSG(w >= 0, "weight %s", t[i].name);
        if (w < 0) continue;
        const Weight *wt = &g->weights[w];
        CHECK(wt->data != NULL && wt->type.dtype == DT_F32 && ir_type_elements(&wt->type) == tiny_elements(&t[i]));
        CHECK(wt->type.dims[0].size == t[i].shape[0]);
        bool same = wt->data != NULL;
        for (int64_t k = 0; same && k < tiny_elements(&t[i]); k++) same = wt->data[k] == tiny_value(i, k);
        CHECK_MSG(same, "data of %s", t[i].name);
    }
}

// ----------------------------------------------------------------------------
// cases

static void test_untied(const ModelAst *ast) {
    char *dir = tiny_hf_folder("untied", true, false, false);
    AwqcError err = {{0}};
    LowerOptions opts = {.load_weights = true};
    Graph *g = lower_folder(ast, dir, &opts, &err);
    CHECK_MSG(g != NULL, "%s", err.msg);
    if (g) {
        CHECK_MSG(g->n_nodes == TINY_NODES, "%zu nodes", g->n_nodes);
        CHECK(strcmp(ir_get_meta(g, "rope_mode")->value.s, "halves") == 0);
        const Meta *theta = ir_get_meta(g, "theta"); // an integer in config.json
        CHECK(theta && theta->value.kind == ATTR_FLOAT && theta->value.f == 10000.0);
        CHECK(ir_get_meta(g, "n_kv")->value.i == TINY_KV);
        CHECK(ir_get_meta(g, "eps")->value.f == 1e-6);
        const Node *head = &g->nodes[g->outputs[0]];
        CHECK(strcmp(g->weights[head->in[1].index].name, "lm_head.weight") == 0);
        CHECK(strcmp(ir_node_attr_string(&g->nodes[4], "mode", ""), "halves") == 0);
        check_weight_data(g, true);
        CHECK_MSG(ir_verify(g, &err), "%s", err.msg);
    }
    ir_graph_free(g);
    free(dir);
}

static void test_tied_with_default_kv(const ModelAst *ast) {
    char *dir = tiny_hf_folder("tied", false, true, true);
    AwqcError err = {{0}};
    LowerOptions opts = {.load_weights = true};
    Graph *g = lower_folder(ast, dir, &opts, &err);
    CHECK_MSG(g != NULL, "%s", err.msg);
    if (g) {
        CHECK(ir_get_meta(g, "n_kv")->value.i == TINY_HEADS); // the default: n_heads
        CHECK(ir_get_meta(g, "theta")->value.f == 500000.0);  // from rope_parameters.rope_theta
        const Node *head = &g->nodes[g->outputs[0]];
        CHECK(strcmp(g->weights[head->in[1].index].name, "model.embed_tokens.weight") == 0);
        CHECK(ir_find_weight(g, "lm_head.weight") < 0);
        CHECK(ir_node_attr_int(&g->nodes[8], "kv_heads", 0) == TINY_HEADS);
    }
    ir_graph_free(g);
    free(dir);
}

static void test_overrides(const ModelAst *ast) {
    char *dir = tiny_hf_folder("overrides", true, false, false);
    AwqcError err = {{0}};
    const char *one_layer[] = {"n_layers=1", "rope_mode=pairs", NULL};
    LowerOptions opts = {.load_weights = false, .param_overrides = one_layer};
    Graph *g = lower_folder(ast, dir, &opts, &err);
    CHECK_MSG(g != NULL, "%s", err.msg);
    if (g) {
        CHECK(g->n_nodes == 4 + 9 + 7);
        CHECK(strcmp(ir_get_meta(g, "rope_mode")->value.s, "pairs") == 0);
        CHECK(g->weights[0].data == NULL);
    }
    ir_graph_free(g);
    const char *typo[] = {"n_layer=1", NULL};
    opts.param_overrides = typo;
    g = lower_folder(ast, dir, &opts, &err);
    CHECK(g == NULL);
    CHECK_MSG(strstr(err.msg, "param override 'n_layer=1' names no param of the model"), "%s", err.msg);
    free(dir);
}

static void test_model_path(void) {
    char *dir = tiny_hf_folder("path", true, false, false), *models = models_dir();
    AwqcError err = {{0}};
    Checkpoint *ck = ckpt_open(dir, &err);
    char *path = ck ? lang_model_path_for(ck, models, &err) : NULL;
    char *want = awqc_asprintf("%s/llama.model", models);
    CHECK_MSG(path && strcmp(path, want) == 0, "%s", path ? path : err.msg);
    char *none = ck ? lang_model_path_for(ck, test_tmpdir(), &err) : NULL;
    CHECK(none == NULL);
    CHECK_MSG(strstr(err.msg, "no model description for architecture 'llama'") && strstr(err.msg, "available in"),
              "%s", err.msg);
    ckpt_close(ck);
    free(want);
    free(path);
    free(models);
    free(dir);
}

int main(void) {
    char *models = models_dir(), *path = awqc_asprintf("%s/llama.model", models);
    AwqcError err = {{0}};
    ModelAst *ast = lang_parse_file(path, &err);
    CHECK_MSG(ast != NULL, "%s", err.msg);
    if (ast) {
        test_untied(ast);
        test_tied_with_default_kv(ast);
        test_overrides(ast);
    }
    test_model_path();
    lang_ast_free(ast);
    free(path);
    free(models);
    return test_result();
}
