// cmd_ppl.c: `awqc ppl`: perplexity of a text file. Protocol: the file is
// read verbatim and tokenized as one text; the ids are cut into consecutive,
// non-overlapping windows of C tokens (the incomplete tail is dropped); each
// window runs from an empty cache and every position but its first is scored
// (models that want a BOS get it as each window's first token, as llama.cpp
// does); ppl = exp(mean NLL over all scored positions).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

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

// Negative log-likelihood of `target` under a logits row, in double.
static double nll(const float *logits, int64_t vocab, int32_t target) {
    float mx = logits[0];
    for (int64_t i = 1; i < vocab; i++) mx = logits[i] > mx ? logits[i] : mx;
    double sum = 0;
    for (int64_t i = 0; i < vocab; i++) sum += exp((double)logits[i] - mx);
    return log(sum) + mx - (double)logits[target];
}

static double window_nll(Interp *in, int32_t *ids, int ctx) {
    AwqcError err;
    interp_reset(in);
    const float *logits = interp_forward(in, ids, ctx, true, &err);
    if (!logits) die_error(&err);
    int64_t vocab = interp_vocab(in);
    double total = 0;
    for (int j = 1; j < ctx; j++) total += nll(logits + (int64_t)(j - 1) * vocab, vocab, ids[j]);
    return total;
}

int cmd_ppl(int argc, char **argv) {
    PplOpts o;
    parse_ppl_options(argc, argv, &o);
    AwqcError err;
    size_t len;
    char *text = awqc_read_file(o.file, &len, &err);
    if (!text) die_error(&err);
    Model *m = load_model_or_die(&o.common);
    int32_t *ids;
    double t0 = awqc_now();
    size_t n_ids = tok_encode(m->tok, text, len, false, false, &ids);
    fprintf(stderr, "awqc: %s: %zu bytes, %zu tokens (tokenized in %.2f s)\n", o.file, len, n_ids, awqc_now() - t0);
    int ctx = o.common.ctx;
    size_t windows = n_ids / (size_t)ctx;
    if (o.chunks && (size_t)o.chunks < windows) windows = (size_t)o.chunks;
    if (windows == 0) die("ppl: %s has %zu tokens, fewer than one window of %d (lower --ctx)", o.file, n_ids, ctx);
    Interp *in = new_interp_or_die(m, ctx, o.common.threads);
    double total = 0;
    t0 = awqc_now();
    for (size_t w = 0; w < windows; w++) {
        int32_t *win = ids + w * (size_t)ctx;
        if (tok_add_bos(m->tok) && tok_bos(m->tok) >= 0) win[0] = tok_bos(m->tok);
        total += window_nll(in, win, ctx);
        double scored = (double)(w + 1) * (ctx - 1);
        fprintf(stderr, "\r[%zu/%zu] ppl %.4f  (%.1f tok/s)", w + 1, windows, exp(total / scored),
                (double)(w + 1) * ctx / (awqc_now() - t0));
    }
    size_t scored = windows * (size_t)(ctx - 1);
    fprintf(stderr, "\n");
    printf("ppl %.4f  nll_sum %.6f  scored %zu tokens in %zu windows of %d  (file: %zu tokens)\n",
           exp(total / (double)scored), total, scored, windows, ctx, n_ids);
    interp_free(in);
    free(ids);
    free(text);
    free(o.common.model);
    model_free(m);
    return 0;
}
