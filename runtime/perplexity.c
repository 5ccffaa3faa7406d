// perplexity.c: see perplexity.h.
#include "perplexity.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

double nll_of(const float *logits, int64_t vocab, int32_t target) {
    float mx = logits[0];
    for (int64_t i = 1; i < vocab; i++) mx = logits[i] > mx ? logits[i] : mx;
    double sum = 0;
    for (int64_t i = 0; i < vocab; i++) sum += exp((double)logits[i] - mx);
    return log(sum) + mx - (double)logits[target];
}

double ppl_value(const PplResult *r) { return r->scored ? exp(r->nll_sum / (double)r->scored) : NAN; }

// NLL of positions 1..ctx-1 of one window, each predicted from those before.
static bool window_nll(Engine *in, const int32_t *win, int ctx, double *nll, AwqcError *err) {
    engine_reset(in);
    const float *logits = engine_forward(in, win, ctx, true, err);
    if (!logits) return false;
    int64_t vocab = engine_vocab(in);
    *nll = 0;
    for (int j = 1; j < ctx; j++) *nll += nll_of(logits + (int64_t)(j - 1) * vocab, vocab, win[j]);
    return true;
}

bool ppl_evaluate(Engine *in, const int32_t *ids, size_t n_ids, const PplOptions *o, PplResult *out,
                  AwqcError *err) {
    *out = (PplResult){0};
    if (o->ctx < 2) return awqc_fail(err, "perplexity windows need at least 2 tokens, got %d", o->ctx);
    size_t windows = n_ids / (size_t)o->ctx;
    if (o->max_windows && o->max_windows < windows) windows = o->max_windows;
    if (windows == 0)
        return awqc_fail(err, "%zu tokens are fewer than one window of %d (lower the context)", n_ids, o->ctx);
    int32_t *win = xmalloc(sizeof(int32_t) * (size_t)o->ctx);
    bool ok = true;
    for (size_t w = 0; ok && w < windows; w++) {
        memcpy(win, ids + w * (size_t)o->ctx, sizeof(int32_t) * (size_t)o->ctx);
        if (o->bos >= 0) win[0] = o->bos;
        double nll;
        ok = window_nll(in, win, o->ctx, &nll, err);
        if (!ok) break;
        out->windows++;
        out->scored += (size_t)o->ctx - 1;
        out->nll_sum += nll;
        if (o->progress) o->progress(out, windows, o->user);
    }
    free(win);
    return ok;
}
