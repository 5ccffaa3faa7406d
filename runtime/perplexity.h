// perplexity.h: the perplexity protocol, shared by `awqc ppl` and the tests
// that compare it with other implementations. The token stream is cut into
// consecutive, non-overlapping windows of ctx tokens (an incomplete tail is
// dropped); each window runs from an empty cache; every position but the
// first of a window is scored; ppl = exp(total NLL / scored positions).
#ifndef AWQC_PERPLEXITY_H
#define AWQC_PERPLEXITY_H

#include "runtime/engine.h"

typedef struct {
    size_t windows; // windows scored
    size_t scored;  // positions scored: windows * (ctx - 1)
    double nll_sum; // natural log
} PplResult;

// Called after each window (for progress output); may be NULL.
typedef void (*PplProgress)(const PplResult *so_far, size_t total_windows, void *user);

typedef struct {
    int ctx;            // window size in tokens (>= 2)
    size_t max_windows; // 0: all complete windows
    int32_t bos;        // >= 0: put this token first in every window (models trained with BOS)
    PplProgress progress;
    void *user;
} PplOptions;

// Scores ids with the interpreter (whose context must hold ctx tokens).
bool ppl_evaluate(Engine *in, const int32_t *ids, size_t n_ids, const PplOptions *o, PplResult *out,
                  AwqcError *err);
double ppl_value(const PplResult *r);

// Negative log-likelihood of target under a row of logits, in double.
double nll_of(const float *logits, int64_t vocab, int32_t target);

#endif
