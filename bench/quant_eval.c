// quant_eval.c: perplexity of a model quantized in memory (RTN or AWQ as fake
// quantization, quantizer/awq_driver.h) next to its FP32 reference, on the
// same windows of the same text: the measurement behind the quantizer's
// results table until `awqc quantize` writes files `awqc ppl` can load.
//   awqc-quant-eval [-m MODEL] --method fp|rtn|awq [--bits 4] [--group 64]
//                   [--calib FILE --calib-windows 8 --calib-len 512] [--duo]
//                   -f TEXT [--ctx 512] [--chunks K] [-t THREADS]
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quantizer/awq_driver.h"
#include "runtime/model.h"
#include "runtime/perplexity.h"

typedef struct {
    const char *model, *method, *calib, *text;
    int bits, group, calib_windows, calib_len, ctx, chunks, threads;
    bool duo;
} EvalOpts;

static _Noreturn void fail(const char *msg) {
    fprintf(stderr, "awqc-quant-eval: %s\n", msg);
    exit(1);
}

static void parse(int argc, char **argv, EvalOpts *o) {
    static const struct option longs[] = {
        {"model", required_argument, 0, 'm'},  {"method", required_argument, 0, 'M'},
        {"bits", required_argument, 0, 'b'},   {"group", required_argument, 0, 'g'},
        {"calib", required_argument, 0, 'C'},  {"calib-windows", required_argument, 0, 'W'},
        {"calib-len", required_argument, 0, 'L'}, {"file", required_argument, 0, 'f'},
        {"ctx", required_argument, 0, 'c'},    {"chunks", required_argument, 0, 'k'},
        {"threads", required_argument, 0, 't'}, {"duo", no_argument, 0, 'D'}, {0, 0, 0, 0}};
    *o = (EvalOpts){.method = "fp", .bits = 4, .group = 64, .calib_windows = 8, .calib_len = 512, .ctx = 512};
    int c;
    while ((c = getopt_long(argc, argv, "m:f:c:t:", longs, NULL)) != -1) {
        switch (c) {
        case 'm': o->model = optarg; break;
        case 'M': o->method = optarg; break;
        case 'b': o->bits = atoi(optarg); break;
        case 'g': o->group = atoi(optarg); break;
        case 'C': o->calib = optarg; break;
        case 'W': o->calib_windows = atoi(optarg); break;
        case 'L': o->calib_len = atoi(optarg); break;
        case 'f': o->text = optarg; break;
        case 'c': o->ctx = atoi(optarg); break;
        case 'k': o->chunks = atoi(optarg); break;
        case 't': o->threads = atoi(optarg); break;
        case 'D': o->duo = true; break;
        default: fail("see the usage in bench/quant_eval.c");
        }
    }
    if (!o->text) fail("no evaluation text: give -f FILE");
    if (strcmp(o->method, "fp") && strcmp(o->method, "rtn") && strcmp(o->method, "awq"))
        fail("--method must be fp, rtn or awq");
    if (!strcmp(o->method, "awq") && !o->calib) fail("--method awq needs --calib FILE");
}

static int32_t *tokenize_file(const Model *m, const char *path, size_t *n) {
    AwqcError err;
    int32_t *ids = tok_encode_file(m->tok, path, n, NULL, &err);
    if (!ids) fail(err.msg);
    return ids;
}

static void quantize(const EvalOpts *o, Model *m) {
    QuantOptions qo = {.method = strcmp(o->method, "awq") ? QM_RTN : QM_AWQ, .bits = o->bits, .group = o->group,
                       .duo = o->duo, .clip = true, .threads = o->threads, .progress = true};
    size_t n_calib = 0;
    int32_t *calib = o->calib ? tokenize_file(m, o->calib, &n_calib) : NULL;
    QuantReport rep;
    AwqcError err;
    if (!awq_quantize_graph(m->graph, calib, n_calib, o->calib_len, o->calib_windows, &qo, &rep, &err)) fail(err.msg);
    fprintf(stderr, "quantized %zu linears, %zu left FP, %zu groups scaled, %.1f s\n", rep.quantized, rep.skipped,
            rep.n_groups_scaled, rep.seconds);
    quant_report_free(&rep);
    free(calib);
}

int main(int argc, char **argv) {
    EvalOpts o;
    parse(argc, argv, &o);
    char *path = o.model ? xstrdup(o.model) : awqc_default_model_path();
    ModelLoadOptions lo = {.models_dir = AWQC_MODELS_DIR, .load_weights = true, .quiet = true};
    AwqcError err;
    Model *m = model_load(path, &lo, &err);
    if (!m) fail(err.msg);
    if (strcmp(o.method, "fp")) quantize(&o, m);
    size_t n_ids;
    int32_t *ids = tokenize_file(m, o.text, &n_ids);
    EngineOptions eo = {.n_ctx = o.ctx, .n_threads = o.threads, .kind = ENGINE_INTERP};
    Engine *in = engine_new(m, &eo, &err);
    PplOptions po = {.ctx = o.ctx, .max_windows = (size_t)(o.chunks > 0 ? o.chunks : 0), .bos = -1};
    PplResult r;
    if (!in || !ppl_evaluate(in, ids, n_ids, &po, &r, &err)) fail(err.msg);
    printf("%s%s w%dg%d: ppl %.4f over %zu tokens (%zu windows of %d)\n", o.method, o.duo ? "-duo" : "", o.bits, o.group, ppl_value(&r),
           r.scored, r.windows, o.ctx);
    engine_free(in);
    free(ids);
    model_free(m);
    free(path);
    return 0;
}
