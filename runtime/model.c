// model.c: opens a checkpoint, finds and lowers its model description, binds
// the weights and builds the tokenizer; or opens a compiled artifact and
// takes its plan and tokenizer. Reports progress and load time.
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/lang/lang.h"
#include "runtime/artifact.h"

// RoPE scaling (linear, YaRN, Llama 3.1's "llama3") changes every rotation
// angle; the ops do not model it yet, so such checkpoints are refused rather
// than run with silently wrong positions.
static bool check_rope_scaling(const Checkpoint *c, AwqcError *err) {
    static const char *const type_keys[] = {"llama.rope.scaling.type", "rope_scaling.rope_type", "rope_scaling.type",
                                            "rope_parameters.rope_type"};
    for (size_t i = 0; i < sizeof type_keys / sizeof *type_keys; i++) {
        const char *type;
        if (ckpt_meta_string(c, type_keys[i], &type) && strcmp(type, "none") && strcmp(type, "default"))
            return awqc_fail(err, "%s: RoPE scaling '%s' (%s) is not supported yet", ckpt_path(c), type, type_keys[i]);
    }
    if (ckpt_find_tensor(c, "rope_freqs.weight"))
        return awqc_fail(err, "%s: RoPE frequency factors (rope_freqs.weight, Llama 3.1 scaling) are not supported yet",
                         ckpt_path(c));
    return true;
}

static Graph *lower_description(Model *m, const ModelLoadOptions *o, AwqcError *err) {
    m->description_path = o->description ? xstrdup(o->description) : lang_model_path_for(m->ckpt, o->models_dir, err);
    if (!m->description_path) return NULL;
    ModelAst *ast = lang_parse_file(m->description_path, err);
    if (!ast) return NULL;
    LowerOptions lo = {.load_weights = o->load_weights, .keep_quant_codes = o->keep_quant_codes};
    Graph *g = lang_lower(ast, m->ckpt, &lo, err);
    lang_ast_free(ast);
    return g;
}

// Every id the tokenizer can produce must index the embedding (a table may
// have spare rows, never fewer).
static bool check_vocab_fits(const Model *m, AwqcError *err) {
    int64_t rows = ir_embedding_rows(m->graph);
    if (rows < 0 || tok_vocab_size(m->tok) <= rows) return true;
    return awqc_fail(err, "%s: the tokenizer has %d tokens but the embedding table only %lld rows", m->path,
                     tok_vocab_size(m->tok), (long long)rows);
}

static bool load_checkpoint(Model *m, const char *path, const ModelLoadOptions *o, AwqcError *err) {
    m->ckpt = ckpt_open(path, err);
    if (m->ckpt && check_rope_scaling(m->ckpt, err)) m->graph = lower_description(m, o, err);
    if (m->graph) m->tok = tok_from_checkpoint(m->ckpt, err);
    return m->tok != NULL && (!o->load_weights || check_vocab_fits(m, err));
}

static bool load_artifact(Model *m, const char *path, AwqcError *err) {
    m->artifact = artifact_open(path, err);
    if (m->artifact) m->graph = artifact_load_graph(m->artifact, err);
    if (m->graph) m->tok = artifact_load_tokenizer(m->artifact, err);
    return m->tok != NULL && check_vocab_fits(m, err);
}

Model *model_load(const char *path, const ModelLoadOptions *o, AwqcError *err) {
    double t0 = awqc_now();
    Model *m = xcalloc(1, sizeof *m);
    m->path = xstrdup(path);
    if (!o->quiet) fprintf(stderr, "awqc: loading %s\n", path);
    size_t len = strlen(path);
    bool compiled = artifact_is_file(path) || (len > 5 && strcmp(path + len - 5, ".awqx") == 0);
    if (!(compiled ? load_artifact(m, path, err) : load_checkpoint(m, path, o, err))) {
        model_free(m);
        return NULL;
    }
    if (!o->quiet)
        fprintf(stderr, "awqc: %s: %zu nodes, %zu weights, %d-token vocabulary, loaded in %.2f s\n",
                compiled ? path : m->description_path, m->graph->n_nodes, m->graph->n_weights,
                tok_vocab_size(m->tok), awqc_now() - t0);
    return m;
}

// The graph's weights may point into the artifact's mapping: free it first.
void model_free(Model *m) {
    if (!m) return;
    tok_free(m->tok);
    ir_graph_free(m->graph);
    artifact_close(m->artifact);
    ckpt_close(m->ckpt);
    free(m->description_path);
    free(m->path);
    free(m);
}

int64_t model_train_ctx(const Model *m) {
    const Meta *meta = ir_get_meta(m->graph, "n_ctx_train");
    return meta && meta->value.kind == ATTR_INT ? meta->value.i : 0;
}
