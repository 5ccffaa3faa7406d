// cmd_ppl.c: `awqc ppl`: perplexity of a text file, read verbatim and
// tokenized as one text, then scored in windows by the protocol of
// runtime/perplexity.h (models that want a BOS get it as each window's first
// token, as llama.cpp does).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "runtime/perplexity.h"

static const char ppl_help[] =
    "usage: awqc ppl [options] -f TEXT\n"
    "Perplexity of a text file with the reference interpreter (FP32).\n"
    "  -f, --file FILE       the text (e.g. ../shared/data/wikitext-2/test.txt)\n"
    "  -c, --ctx N           window size in tokens (default 512)\n"
    "      --chunks K        score only the first K windows (default: all)\n" COMMON_HELP;

typedef struct {
    CommonOpts common;
    const char *file;
    int chunks;
} PplOpts;

enum { OPT_CHUNKS = OPT_FIRST_FREE };

static void parse_ppl_options(int argc, char **argv, PplOpts *o) {
    static const struct option longs[] = {COMMON_LONG_OPTS,
                                          {"file", required_argument, 0, 'f'},
                                          {"chunks", required_argument, 0, OPT_CHUNKS},
                                          {0, 0, 0, 0}};
    *o = (PplOpts){0};
    common_init(&o->common);
    o->common.ctx = 512;
    int c;
    while ((c = getopt_long(argc, argv, "m:t:c:f:h", longs, NULL)) != -1) {
        if (common_option(&o->common, c, optarg)) continue;
        switch (c) {
        case 'f': o->file = optarg; break;
        case OPT_CHUNKS: o->chunks = parse_int_arg("--chunks", optarg, 1, 1 << 30); break;
        case 'h': fputs(ppl_help, stdout); exit(0);
        default: fputs(ppl_help, stderr); exit(2);
        }
    }
    if (optind < argc) die("ppl: unexpected argument '%s' (see awqc ppl --help)", argv[optind]);
    if (!o->file) die("ppl: no text: give -f FILE (see awqc ppl --help)");
}

typedef struct {
    double t0;
    int ctx;
} Progress;

static void show_progress(const PplResult *r, size_t total, void *user) {
    const Progress *p = user;
    fprintf(stderr, "\r[%zu/%zu] ppl %.4f  (%.1f tok/s)", r->windows, total, ppl_value(r),
            (double)r->windows * p->ctx / (awqc_now() - p->t0));
}

int cmd_ppl(int argc, char **argv) {
    PplOpts o;
    parse_ppl_options(argc, argv, &o);
    AwqcError err;
    Model *m = load_model_or_die(&o.common);
    size_t len, n_ids;
    double t0 = awqc_now();
    int32_t *ids = tok_encode_file(m->tok, o.file, &n_ids, &len, &err);
    if (!ids) die_error(&err);
    fprintf(stderr, "awqc: %s: %zu bytes, %zu tokens (tokenized in %.2f s)\n", o.file, len, n_ids, awqc_now() - t0);
    int ctx = o.common.ctx;
    if (n_ids < (size_t)ctx)
        die("ppl: %s has %zu tokens, fewer than one window of %d (lower --ctx)", o.file, n_ids, ctx);
    Engine *in = new_engine_or_die(m, ctx, &o.common);
    Progress progress = {awqc_now(), ctx};
    PplOptions po = {.ctx = ctx,
                     .max_windows = (size_t)o.chunks,
                     .bos = tok_add_bos(m->tok) ? tok_bos(m->tok) : -1,
                     .progress = show_progress,
                     .user = &progress};
    PplResult r;
    if (!ppl_evaluate(in, ids, n_ids, &po, &r, &err)) die_error(&err);
    fprintf(stderr, "\n");
    printf("ppl %.4f  nll_sum %.6f  scored %zu tokens in %zu windows of %d  (file: %zu tokens)\n", ppl_value(&r),
           r.nll_sum, r.scored, r.windows, ctx, n_ids);
    engine_free(in);
    free(ids);
    free(o.common.model);
    model_free(m);
    return 0;
}
