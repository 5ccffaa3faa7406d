// test_lang_scale_groups.c: the AWQ scale groups of the real model:
// models/llama.model lowered against the default SmolLM2-135M GGUF (shapes
// only). 30 layers x {norm -> q,k,v; norm -> gate,up; up -> down}, no v -> o
// (9 heads share 3 kv heads), and layer 0's listing matches the fixture.
#include <stdlib.h>
#include <string.h>

#include "frontend/lang/lang.h"
#include "ir/scale_groups.h"
#include "test_support.h"

#define SMOLLM2_LAYERS 30

// ----------------------------------------------------------------------------
// helpers

static Graph *lower_smollm2(const char *model) {
    char *path = awqc_asprintf("%s/models/llama.model", test_source_dir());
    AwqcError err = {{0}};
    ModelAst *ast = lang_parse_file(path, &err);
    CHECK_MSG(ast != NULL, "%s", err.msg);
    Checkpoint *ck = ast ? ckpt_open(model, &err) : NULL;
    CHECK_MSG(!ast || ck != NULL, "%s", err.msg);
    Graph *g = ck ? lang_lower(ast, ck, &(LowerOptions){.load_weights = false}, &err) : NULL;
    CHECK_MSG(!ck || g != NULL, "%s", err.msg);
    ckpt_close(ck);
    lang_ast_free(ast);
    free(path);
    return g;
}

static const char *weight_of(const Graph *g, int linear) {
    return g->weights[g->nodes[linear].in[1].index].name;
}

// ----------------------------------------------------------------------------
// checks

// Every layer contributes the same three groups, in this order.
static void check_layer_pattern(const Graph *g, const ScaleGroup *sg, size_t n) {
    static const int64_t channels[3] = {576, 576, 1536};
    static const int n_linears[3] = {3, 2, 1};
    for (size_t i = 0; i < n; i++) {
        const ScaleGroup *s = &sg[i];
        int kind = (int)(i % 3);
        CHECK_MSG(s->kind == (kind == 2 ? SG_PREV_LINEAR : SG_PREV_NORM), "group %zu kind", i);
        CHECK_MSG(s->channels == channels[kind], "group %zu: %lld channels", i, (long long)s->channels);
        CHECK_MSG(s->n_linears == n_linears[kind], "group %zu: %d linears", i, s->n_linears);
        CHECK_MSG(g->nodes[s->inspect].op == OP_LINEAR, "group %zu: inspect %%%d", i, s->inspect);
        CHECK_MSG(strcmp(g->blocks[s->block], g->blocks[2 * (i / 3) + (kind > 0)]) == 0, "group %zu block", i);
        // v -> o would be a linear prev whose next is the attention output.
        if (s->kind == SG_PREV_LINEAR)
            CHECK_MSG(strstr(weight_of(g, s->linears[0]), "ffn_down") != NULL, "group %zu: %s", i,
                      weight_of(g, s->linears[0]));
        for (int l = 0; l < s->n_linears; l++)
            CHECK_MSG(strcmp(weight_of(g, s->linears[l]), "token_embd.weight") != 0, "group %zu: lm head", i);
    }
}

static void check_layer0_listing(const Graph *g, const ScaleGroup *sg, size_t n) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    AWQC_ASSERT(f != NULL);
    ir_print_scale_groups(g, sg, n < 3 ? n : 3, f);
    fclose(f);
    char *path = awqc_asprintf("%s/tests/fixtures/ir/scale_groups_smollm2_layer0.expected", test_source_dir());
    AwqcError err = {{0}};
    char *want = awqc_read_file(path, NULL, &err);
    CHECK_MSG(want != NULL, "%s", err.msg);
    CHECK_MSG(want && strcmp(text, want) == 0, "got\n%s", text);
    free(want);
    free(path);
    free(text);
}

int main(void) {
    const char *model = test_model_or_skip();
    Graph *g = lower_smollm2(model);
    if (!g) return test_result();
    ScaleGroup *sg;
    size_t n = ir_find_scale_groups(g, &sg);
    CHECK_MSG(n == 3 * SMOLLM2_LAYERS, "%zu groups", n);
    check_layer_pattern(g, sg, n);
    check_layer0_listing(g, sg, n);
    free(sg);
    ir_graph_free(g);
    return test_result();
}
