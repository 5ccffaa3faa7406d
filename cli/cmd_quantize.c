// cmd_quantize.c: `awqc quantize`: quantizes a model with round-to-nearest or
// AWQ (calibrated on a text file) and writes a Hugging Face folder: AutoAWQ
// "GEMM" tensors for INT4 (what transformers and vLLM load), awqc's packed
// layout for INT3. Bad options and inputs are refused before the long work.
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cli.h"
#include "common/json.h"
#include "quantizer/awq_driver.h"
#include "quantizer/export_hf.h"

static const char quantize_help[] =
    "usage: awqc quantize [options] -o OUT\n"
    "Quantizes a model's linear layers and writes a Hugging Face folder OUT\n"
    "(config.json with quantization_config, model.safetensors, tokenizer).\n"
    "  -o, --output DIR      the folder to write (replaced if it exists)\n"
    "      --method M        awq (default) or rtn (round-to-nearest)\n"
    "      --bits N          4 (default; AutoAWQ GEMM layout) or 3 (awqc layout)\n"
    "      --group N         32, 64 or 128 (default 128); layers whose input size\n"
    "                        it does not divide stay in floating point\n"
    "      --calib FILE      AWQ calibration text (e.g. ../shared/data/wikitext-2/valid.txt)\n"
    "      --calib-tokens N  calibration tokens used from its start (default 2048)\n"
    "      --calib-seqlen L  tokens per calibration window (default 512)\n"
    "      --no-duo          AWQ: plain s = s_x^ratio scales (default: duo scaling)\n"
    "      --no-clip         AWQ: skip the clipping search\n"
    "      --dump-scales F   AWQ: write every scale group's search result as JSON\n" COMMON_HELP;

typedef struct {
    CommonOpts common;
    const char *out, *calib, *dump_scales;
    QuantMethod method;
    int bits, group, calib_tokens, calib_seqlen;
    bool duo, clip;
} QuantizeOpts;

enum { OPT_METHOD = OPT_FIRST_FREE, OPT_BITS, OPT_GROUP, OPT_CALIB, OPT_CALIB_TOKENS, OPT_CALIB_SEQLEN, OPT_NO_DUO,
       OPT_NO_CLIP, OPT_DUMP_SCALES };

// ----------------------------------------------------------------------------
// options

static QuantMethod parse_method(const char *arg) {
    if (!strcmp(arg, "awq")) return QM_AWQ;
    if (!strcmp(arg, "rtn")) return QM_RTN;
    die("quantize: --method %s: expected awq or rtn", arg);
}

static void check_quantize_options(const QuantizeOpts *o) {
    if (!o->out) die("quantize: no output: give -o DIR (see awqc quantize --help)");
    if (o->bits != 3 && o->bits != 4) die("quantize: --bits %d: supported are 4 (AutoAWQ GEMM) and 3", o->bits);
    if (o->group != 32 && o->group != 64 && o->group != 128) die("quantize: --group %d: use 32, 64 or 128", o->group);
    if (o->method == QM_AWQ && !o->calib)
        die("quantize: AWQ needs calibration text: give --calib FILE (e.g. ../shared/data/wikitext-2/valid.txt)");
    if (o->calib_tokens < o->calib_seqlen)
        die("quantize: --calib-tokens %d is less than one window of --calib-seqlen %d", o->calib_tokens,
            o->calib_seqlen);
}

static void parse_quantize_options(int argc, char **argv, QuantizeOpts *o) {
    static const struct option longs[] = {COMMON_LONG_OPTS,
                                          {"output", required_argument, 0, 'o'},
                                          {"method", required_argument, 0, OPT_METHOD},
                                          {"bits", required_argument, 0, OPT_BITS},
                                          {"group", required_argument, 0, OPT_GROUP},
                                          {"calib", required_argument, 0, OPT_CALIB},
                                          {"calib-tokens", required_argument, 0, OPT_CALIB_TOKENS},
                                          {"calib-seqlen", required_argument, 0, OPT_CALIB_SEQLEN},
                                          {"no-duo", no_argument, 0, OPT_NO_DUO},
                                          {"no-clip", no_argument, 0, OPT_NO_CLIP},
                                          {"dump-scales", required_argument, 0, OPT_DUMP_SCALES},
                                          {0, 0, 0, 0}};
    *o = (QuantizeOpts){.method = QM_AWQ, .bits = 4, .group = 128, .calib_tokens = 2048, .calib_seqlen = 512,
                        .duo = true, .clip = true};
    common_init(&o->common);
    int c;
    while ((c = getopt_long(argc, argv, "m:t:o:h", longs, NULL)) != -1) {
        if (common_option(&o->common, c, optarg)) continue;
        switch (c) {
        case 'o': o->out = optarg; break;
        case OPT_METHOD: o->method = parse_method(optarg); break;
        case OPT_BITS: o->bits = parse_int_arg("--bits", optarg, 1, 16); break;
        case OPT_GROUP: o->group = parse_int_arg("--group", optarg, 1, 1 << 20); break;
        case OPT_CALIB: o->calib = optarg; break;
        case OPT_CALIB_TOKENS: o->calib_tokens = parse_int_arg("--calib-tokens", optarg, 2, 1 << 24); break;
        case OPT_CALIB_SEQLEN: o->calib_seqlen = parse_int_arg("--calib-seqlen", optarg, 2, 1 << 16); break;
        case OPT_NO_DUO: o->duo = false; break;
        case OPT_NO_CLIP: o->clip = false; break;
        case OPT_DUMP_SCALES: o->dump_scales = optarg; break;
        case 'h': fputs(quantize_help, stdout); exit(0);
        default: fputs(quantize_help, stderr); exit(2);
        }
    }
    if (optind < argc) die("quantize: unexpected argument '%s' (see awqc quantize --help)", argv[optind]);
    check_quantize_options(o);
}

// ----------------------------------------------------------------------------
// calibration text

static int32_t *calibration_ids(const QuantizeOpts *o, const Model *m, int *windows) {
    AwqcError err;
    size_t n;
    int32_t *ids = tok_encode_file(m->tok, o->calib, &n, NULL, &err);
    if (!ids) die_error(&err);
    if (n == 0) die("quantize: %s: empty calibration text", o->calib);
    if (n < (size_t)o->calib_seqlen)
        die("quantize: %s: %zu tokens, fewer than one calibration window of %d (lower --calib-seqlen or give more "
            "text)",
            o->calib, n, o->calib_seqlen);
    size_t use = n < (size_t)o->calib_tokens ? n : (size_t)o->calib_tokens;
    *windows = (int)(use / (size_t)o->calib_seqlen);
    if (n < (size_t)o->calib_tokens)
        fprintf(stderr, "awqc: warning: %s has %zu tokens, fewer than --calib-tokens %d: using %d windows\n",
                o->calib, n, o->calib_tokens, *windows);
    fprintf(stderr, "awqc: calibration: %d windows of %d tokens from %s\n", *windows, o->calib_seqlen, o->calib);
    return ids;
}

// ----------------------------------------------------------------------------
// progress

typedef struct {
    double t0;
    bool tty;
} Bar;

static void show_block(const QuantProgress *p, void *user) {
    const Bar *b = user;
    double elapsed = awqc_now() - b->t0, eta = elapsed / p->done * (p->total - p->done);
    if (!b->tty) {
        fprintf(stderr, "awq: [%d/%d] %-16s loss %.3g -> %.3g  (%.2f s)\n", p->done, p->total, p->block, p->rtn_loss,
                p->best_loss, p->seconds);
        return;
    }
    enum { WIDTH = 30 };
    int filled = p->done * WIDTH / p->total;
    fprintf(stderr, "\r[%.*s%*s] %d/%d %-16s %4.0f s elapsed, ~%.0f s left ", filled,
            "##############################", WIDTH - filled, "", p->done, p->total, p->block, elapsed, eta);
    if (p->done == p->total) fputc('\n', stderr);
}

// ----------------------------------------------------------------------------
// reports

static void report_skipped(const QuantReport *rep, int group) {
    if (!rep->skipped) return;
    fprintf(stderr, "awqc: %zu linear weight%s left in floating point (tied to the embedding, the lm head, or an "
                    "input size group %d does not divide):\n",
            rep->skipped, rep->skipped == 1 ? "" : "s", group);
    for (size_t i = 0; i < rep->skipped; i++) fprintf(stderr, "  %s\n", rep->skipped_names[i]);
}

static cJSON *scale_record_json(const QuantScaleRecord *q) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "prev", q->prev);
    cJSON_AddNumberToObject(o, "ratio", q->ratio);
    cJSON_AddNumberToObject(o, "rtn_loss", q->rtn_loss);
    cJSON_AddNumberToObject(o, "best_loss", q->best_loss);
    cJSON_AddItemToObject(o, "linears", cJSON_CreateStringArray((const char *const *)q->linears, q->n_linears));
    cJSON_AddItemToObject(o, "scales", cJSON_CreateFloatArray(q->scales, (int)q->channels));
    return o;
}

static void dump_scales(const char *path, const QuantReport *rep) {
    cJSON *list = cJSON_CreateArray();
    for (size_t i = 0; i < rep->n_scales; i++) cJSON_AddItemToArray(list, scale_record_json(&rep->scales[i]));
    AwqcError err;
    if (!awqc_json_write(path, list, true, &err)) die_error(&err);
    fprintf(stderr, "awqc: wrote %zu scale groups to %s\n", rep->n_scales, path);
}

static double peak_rss_mib(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0; // kilobytes on Linux
}

// ----------------------------------------------------------------------------
// the command

static void quantize_or_die(const QuantizeOpts *o, Model *m, QuantReport *rep, size_t *calib_tokens) {
    int windows = 0;
    int32_t *ids = o->method == QM_AWQ ? calibration_ids(o, m, &windows) : NULL;
    *calib_tokens = (size_t)windows * (size_t)o->calib_seqlen;
    Bar bar = {awqc_now(), isatty(STDERR_FILENO) != 0};
    QuantOptions qo = {.method = o->method, .bits = o->bits, .group = o->group, .duo = o->duo, .clip = o->clip,
                       .threads = o->common.threads, .on_block = show_block, .progress_user = &bar};
    AwqcError err;
    if (!awq_quantize_graph(m->graph, ids, ids ? *calib_tokens : 0, o->calib_seqlen, windows, &qo, rep, &err))
        die_error(&err);
    free(ids);
    if (rep->quantized == 0 && rep->skipped == 0) die("quantize: the model has no linear layers to quantize");
    if (rep->quantized == 0)
        die("quantize: --group %d divides the input size of none of the %zu linear layers; try 64 or 32", o->group,
            rep->skipped);
}

int cmd_quantize(int argc, char **argv) {
    QuantizeOpts o;
    parse_quantize_options(argc, argv, &o);
    check_output_writable("quantize", o.out);
    double t0 = awqc_now();
    Model *m = load_model_or_die(&o.common);
    if (m->artifact) die("quantize: %s is a compiled artifact; quantize the checkpoint it came from", m->path);
    QuantReport rep;
    size_t calib_tokens;
    quantize_or_die(&o, m, &rep, &calib_tokens);
    report_skipped(&rep, o.group);
    if (o.dump_scales) dump_scales(o.dump_scales, &rep);
    ExportInfo info = {.method = o.method == QM_AWQ ? "awq" : "rtn", .bits = o.bits, .group = o.group,
                       .source = o.common.model, .calib_tokens = calib_tokens, .calib_seqlen = o.calib_seqlen,
                       .duo = o.duo, .clip = o.clip};
    AwqcError err;
    if (!quant_export_hf(m->graph, m->tok, &rep, &info, o.out, &err)) die_error(&err);
    fprintf(stderr, "awqc: %s W%d g%d: %zu linears quantized in %.1f s; wrote %s (total %.1f s, peak RSS %.0f MiB)\n",
            info.method, o.bits, o.group, rep.quantized, rep.seconds, o.out, awqc_now() - t0, peak_rss_mib());
    quant_report_free(&rep);
    model_free(m);
    free(o.common.model);
    return 0;
}
