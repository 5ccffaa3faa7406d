// test_quant_export.c: the Hugging Face folder export (quantizer/export_hf.h)
// and its import (frontend/ckpt/awq_tensors.c). A tiny LLaMA folder is
// quantized (INT4 -> AutoAWQ GEMM, INT3 -> awqc layout), exported, and read
// back: every weight must equal the dequantized weights in memory bit for bit.
// On the real default model (a GGUF: Q/K rows permuted) the exported folder
// must give the same logits as the in-memory quantized graph.
//   test_quant_export --write DIR   writes DIR/w4, DIR/w3 and DIR/dequant.safetensors
//                                   for tests/reference/check_gemm_export.py
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "frontend/ckpt/safetensors_write.h"
#include "frontend/lang/lang.h"
#include "quantizer/export_hf.h"
#include "runtime/interp.h"
#include "runtime/model.h"
#include "test_lang_tiny_hf.h"
#include "test_support.h"

// ----------------------------------------------------------------------------
// helpers

static Graph *lower_folder(const char *dir) {
    AwqcError err;
    char *desc = awqc_asprintf("%s/models/llama.model", test_source_dir());
    ModelAst *ast = lang_parse_file(desc, &err);
    AWQC_ASSERT(ast != NULL);
    Checkpoint *ck = ckpt_open(dir, &err);
    CHECK_MSG(ck != NULL, "%s", err.msg);
    LowerOptions lo = {.load_weights = true};
    Graph *g = ck ? lang_lower(ast, ck, &lo, &err) : NULL;
    CHECK_MSG(!ck || g != NULL, "%s", err.msg);
    ckpt_close(ck);
    lang_ast_free(ast);
    free(desc);
    return g;
}

static Graph *quantized_tiny(const char *src, int bits, QuantReport *rep) {
    Graph *g = lower_folder(src);
    QuantOptions o = {.method = QM_RTN, .bits = bits, .group = 32, .threads = 1};
    AwqcError err;
    AWQC_ASSERT(g && awq_quantize_graph(g, NULL, 0, 0, 0, &o, rep, &err));
    return g;
}

static bool export_folder(const Graph *g, const Tokenizer *tok, const QuantReport *rep, int bits, const char *out,
                          AwqcError *err) {
    ExportInfo info = {.method = "rtn", .bits = bits, .group = 32};
    return quant_export_hf(g, tok, rep, &info, out, err);
}

// Same weights (by name), bit for bit.
static void check_same_weights(const Graph *a, const Graph *b, const char *what) {
    CHECK_MSG(a->n_weights == b->n_weights, "%s: %zu vs %zu weights", what, a->n_weights, b->n_weights);
    for (size_t i = 0; i < a->n_weights; i++) {
        int j = ir_find_weight(b, a->weights[i].name);
        CHECK_MSG(j >= 0, "%s: %s missing", what, a->weights[i].name);
        if (j < 0) continue;
        size_t n = (size_t)ir_type_elements(&a->weights[i].type);
        CHECK_MSG(n == (size_t)ir_type_elements(&b->weights[j].type) &&
                      memcmp(a->weights[i].data, b->weights[j].data, n * sizeof(float)) == 0,
                  "%s: %s differs after the round trip", what, a->weights[i].name);
    }
}

// ----------------------------------------------------------------------------
// the tiny folder: round trips

static void check_round_trip(const char *src, int bits) {
    QuantReport rep;
    Graph *g = quantized_tiny(src, bits, &rep);
    CHECK(rep.quantized == (size_t)TINY_LAYERS * 7);
    char *out = awqc_asprintf("%s/out-w%d", test_tmpdir(), bits);
    AwqcError err;
    CHECK_MSG(export_folder(g, NULL, &rep, bits, out, &err), "%s", err.msg);
    Checkpoint *ck = ckpt_open(out, &err);
    CHECK_MSG(ck != NULL, "%s", err.msg);
    int qbits = 0, group = 0;
    CHECK(ck && ckpt_awq_config(ck, &qbits, &group) && qbits == bits && group == 32);
    const CkptTensor *q = ck ? ckpt_find_tensor(ck, "model.layers.1.mlp.down_proj.weight") : NULL;
    CHECK(q && q->type == (bits == 4 ? ST_AWQ_GEMM4 : ST_AWQC_U3) && q->shape[0] == TINY_DIM && q->shape[1] == TINY_FF);
    CHECK(!ck || ckpt_find_tensor(ck, bits == 4 ? "model.layers.0.self_attn.q_proj.qweight"
                                                : "model.layers.0.self_attn.q_proj.qcodes"));
    ckpt_close(ck);
    Graph *back = lower_folder(out);
    if (back) check_same_weights(g, back, bits == 4 ? "W4 GEMM" : "W3 awqc");
    // Exporting again replaces the folder.
    CHECK_MSG(export_folder(g, NULL, &rep, bits, out, &err), "%s", err.msg);
    ir_graph_free(back);
    ir_graph_free(g);
    quant_report_free(&rep);
    free(out);
}

static bool exists(const char *path) { return access(path, F_OK) == 0; }

static void check_export_errors(const char *src) {
    QuantReport rep;
    Graph *g = quantized_tiny(src, 4, &rep);
    AwqcError err;
    char *out = awqc_asprintf("%s/no-such-dir/out", test_tmpdir());
    CHECK(!export_folder(g, NULL, &rep, 4, out, &err) && strstr(err.msg, "no-such-dir"));
    ExportInfo info = {.method = "rtn", .bits = 2, .group = 32};
    char *out2 = awqc_asprintf("%s/out-w2", test_tmpdir());
    CHECK(!quant_export_hf(g, NULL, &rep, &info, out2, &err) && strstr(err.msg, "2-bit"));
    CHECK(!exists(out2));
    // A weight without a Hugging Face name cannot be exported; nothing is left.
    free(g->weights[0].hf_name);
    g->weights[0].hf_name = NULL;
    CHECK(!export_folder(g, NULL, &rep, 4, out2, &err) && strstr(err.msg, "no Hugging Face name"));
    CHECK(!exists(out2));
    char *partial = awqc_asprintf("%s.partial.%ld", out2, (long)getpid());
    CHECK(!exists(partial));
    free(partial);
    free(out);
    free(out2);
    ir_graph_free(g);
    quant_report_free(&rep);
}

// ----------------------------------------------------------------------------
// --write: files for the numpy check

static void write_dequant(const Graph *g, const char *path) {
    StOutTensor *t = xcalloc(g->n_weights, sizeof *t);
    for (size_t i = 0; i < g->n_weights; i++) {
        const Weight *w = &g->weights[i];
        t[i] = (StOutTensor){.name = w->hf_name, .type = ST_F32, .rank = w->type.rank, .data = w->data};
        for (int d = 0; d < w->type.rank; d++) t[i].shape[d] = w->type.dims[d].size;
    }
    AwqcError err;
    if (!st_write_file(path, t, g->n_weights, &err)) AWQC_PANIC("%s", err.msg);
    free(t);
}

static int write_for_numpy(const char *dir) {
    mkdir(dir, 0755);
    char *src = tiny_hf_folder("src", false, false, false);
    for (int bits = 4; bits >= 3; bits--) {
        QuantReport rep;
        Graph *g = quantized_tiny(src, bits, &rep);
        char *out = awqc_asprintf("%s/w%d", dir, bits);
        char *ref = awqc_asprintf("%s/dequant-w%d.safetensors", dir, bits);
        AwqcError err;
        if (!export_folder(g, NULL, &rep, bits, out, &err)) AWQC_PANIC("%s", err.msg);
        write_dequant(g, ref);
        free(out);
        free(ref);
        ir_graph_free(g);
        quant_report_free(&rep);
    }
    free(src);
    return 0;
}

// ----------------------------------------------------------------------------
// the real model: GGUF source, Q/K rows permuted on export

static float *logits_of(const Graph *g, const int32_t *ids, int n) {
    AwqcError err;
    Interp *in = interp_new(g, 64, 0, &err);
    AWQC_ASSERT(in != NULL);
    const float *y = interp_forward(in, ids, n, false, &err);
    AWQC_ASSERT(y != NULL);
    int64_t v = interp_vocab(in);
    float *copy = xmalloc(sizeof(float) * (size_t)v);
    memcpy(copy, y, sizeof(float) * (size_t)v);
    interp_free(in);
    return copy;
}

static void check_real_model(const char *path) {
    AwqcError err;
    ModelLoadOptions lo = {.models_dir = NULL, .load_weights = true, .quiet = true};
    char *models = awqc_asprintf("%s/models", test_source_dir());
    lo.models_dir = models;
    Model *m = model_load(path, &lo, &err);
    AWQC_ASSERT(m != NULL);
    QuantOptions o = {.method = QM_RTN, .bits = 4, .group = 64};
    QuantReport rep;
    AWQC_ASSERT(awq_quantize_graph(m->graph, NULL, 0, 0, 0, &o, &rep, &err));
    char *out = awqc_asprintf("%s/smollm2-w4g64", test_tmpdir());
    ExportInfo info = {.method = "rtn", .bits = 4, .group = 64};
    CHECK_MSG(quant_export_hf(m->graph, m->tok, &rep, &info, out, &err), "%s", err.msg);
    Model *back = model_load(out, &lo, &err);
    CHECK_MSG(back != NULL, "%s", err.msg);
    if (back) {
        int32_t ids[8] = {504, 3458, 282, 4649, 314, 253, 1345, 30};
        float *a = logits_of(m->graph, ids, 8), *b = logits_of(back->graph, ids, 8);
        double max_diff = 0, range = 0;
        for (int64_t i = 0; i < 49152; i++) {
            max_diff = fmax(max_diff, fabs((double)a[i] - b[i]));
            range = fmax(range, fabs((double)a[i]));
        }
        printf("SmolLM2 RTN W4 g64: exported folder logits differ by %.3g (of range %.3g)\n", max_diff, range);
        CHECK_MSG(max_diff <= 1e-4 * range, "logits differ by %g", max_diff);
        free(a);
        free(b);
        model_free(back);
    }
    quant_report_free(&rep);
    model_free(m);
    free(out);
    free(models);
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "--write")) return write_for_numpy(argv[2]);
    char *src = tiny_hf_folder("src", false, false, false);
    check_round_trip(src, 4);
    check_round_trip(src, 3);
    check_export_errors(src);
    free(src);
    int failed = test_result();
    if (failed) return failed;
    const char *model = test_model_or_skip();
    check_real_model(model);
    return test_result();
}
