// sampler.c: greedy and temperature/top-k/top-p sampling over a logits row.
#include "sampler.h"

#include <math.h>
#include <stdlib.h>

#include "common/util.h"

typedef struct {
    float p;
    int32_t id;
} Candidate;

struct Sampler {
    SamplerParams p;
    int64_t vocab;
    uint64_t rng;
    Candidate *cand; // scratch, vocab entries
};

Sampler *sampler_new(SamplerParams p, int64_t vocab) {
    Sampler *s = xcalloc(1, sizeof *s);
    s->p = p;
    s->vocab = vocab;
    s->rng = p.seed ? p.seed : 0x9E3779B97F4A7C15ull;
    s->cand = xmalloc(sizeof(Candidate) * (size_t)vocab);
    return s;
}

void sampler_free(Sampler *s) {
    if (!s) return;
    free(s->cand);
    free(s);
}

int32_t argmax(const float *x, int64_t n) {
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return (int32_t)best;
}

// splitmix64: small, fast, and good enough to draw one token at a time.
static double next_uniform(Sampler *s) {
    uint64_t z = (s->rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}

static int by_prob_desc(const void *a, const void *b) {
    float pa = ((const Candidate *)a)->p, pb = ((const Candidate *)b)->p;
    return (pa < pb) - (pa > pb);
}

// Softmax of logits / temp into s->cand, sorted by probability.
static void softmax_sorted(Sampler *s, const float *logits) {
    float mx = logits[argmax(logits, s->vocab)];
    double sum = 0;
    for (int64_t i = 0; i < s->vocab; i++) {
        float p = expf((logits[i] - mx) / s->p.temp);
        s->cand[i] = (Candidate){p, (int32_t)i};
        sum += p;
    }
    for (int64_t i = 0; i < s->vocab; i++) s->cand[i].p = (float)(s->cand[i].p / sum);
    qsort(s->cand, (size_t)s->vocab, sizeof *s->cand, by_prob_desc);
}

// How many of the n most likely candidates the nucleus keeps: the smallest
// prefix holding top_p of their (renormalised) mass, at least one.
static int64_t nucleus_size(const Sampler *s, int64_t n) {
    if (s->p.top_p >= 1) return n;
    double kept = 0, mass = 0;
    for (int64_t i = 0; i < n; i++) kept += s->cand[i].p;
    for (int64_t i = 0; i < n; i++)
        if ((mass += s->cand[i].p) >= s->p.top_p * kept) return i + 1;
    return n;
}

int32_t sampler_sample(Sampler *s, const float *logits) {
    if (s->p.temp <= 0) return argmax(logits, s->vocab);
    softmax_sorted(s, logits);
    int64_t n = s->p.top_k > 0 && s->p.top_k < s->vocab ? s->p.top_k : s->vocab;
    n = nucleus_size(s, n);
    double total = 0;
    for (int64_t i = 0; i < n; i++) total += s->cand[i].p;
    double r = next_uniform(s) * total, acc = 0;
    for (int64_t i = 0; i < n; i++)
        if ((acc += s->cand[i].p) >= r) return s->cand[i].id;
    return s->cand[n - 1].id;
}
