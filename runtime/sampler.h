// sampler.h: picks the next token from logits: greedy, or temperature with
// top-k and top-p (nucleus) filtering, from a seeded generator so runs repeat.
// Order (as Hugging Face does): temperature, then top-k, then top-p over the
// renormalised top-k survivors, then a draw.
#ifndef AWQC_SAMPLER_H
#define AWQC_SAMPLER_H

#include <stdint.h>

typedef struct {
    float temp;    // <= 0: greedy (argmax)
    int top_k;     // <= 0: no limit
    float top_p;   // >= 1: no limit; 0: only the most likely token
    uint64_t seed;
} SamplerParams;

typedef struct Sampler Sampler;

Sampler *sampler_new(SamplerParams p, int64_t vocab);
void sampler_free(Sampler *s);
int32_t sampler_sample(Sampler *s, const float *logits);
int32_t argmax(const float *x, int64_t n);

#endif
