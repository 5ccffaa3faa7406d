// model.c: opens a checkpoint, finds and lowers its model description, binds
// the weights and builds the tokenizer, reporting progress and load time.
#include "model.h"

#include <stdio.h>
#include <stdlib.h>

#include "frontend/lang/lang.h"

static Graph *lower_description(Model *m, const ModelLoadOptions *o, AwqcError *err) {
    m->description_path = o->description ? xstrdup(o->description) : lang_model_path_for(m->ckpt, o->models_dir, err);
    if (!m->description_path) return NULL;
    ModelAst *ast = lang_parse_file(m->description_path, err);
    if (!ast) return NULL;
    LowerOptions lo = {.load_weights = o->load_weights};
    Graph *g = lang_lower(ast, m->ckpt, &lo, err);
    lang_ast_free(ast);
    return g;
}

Model *model_load(const char *path, const ModelLoadOptions *o, AwqcError *err) {
    double t0 = awqc_now();
    Model *m = xcalloc(1, sizeof *m);
    if (!o->quiet) fprintf(stderr, "awqc: loading %s\n", path);
    m->ckpt = ckpt_open(path, err);
    if (m->ckpt) m->graph = lower_description(m, o, err);
    if (m->graph) m->tok = tok_from_checkpoint(m->ckpt, err);
    if (!m->tok) {
        model_free(m);
        return NULL;
    }
    if (!o->quiet)
        fprintf(stderr, "awqc: %s: %zu nodes, %zu weights, %d-token vocabulary, loaded in %.2f s\n",
                m->description_path, m->graph->n_nodes, m->graph->n_weights, tok_vocab_size(m->tok),
                awqc_now() - t0);
    return m;
}

void model_free(Model *m) {
    if (!m) return;
    tok_free(m->tok);
    ir_graph_free(m->graph);
    ckpt_close(m->ckpt);
    free(m->description_path);
    free(m);
}

int64_t model_train_ctx(const Model *m) {
    const Meta *meta = ir_get_meta(m->graph, "n_ctx_train");
    return meta && meta->value.kind == ATTR_INT ? meta->value.i : 0;
}
