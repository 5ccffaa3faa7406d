// test_sampler.c: the sampler's choices and their frequencies: greedy is the
// argmax; with temperature 1 tokens come out in proportion to their
// probabilities; top-k and top-p drop the tail (top-p over the renormalised
// top-k mass); the same seed repeats the same draws.
#include <math.h>
#include <stdlib.h>

#include "runtime/sampler.h"
#include "test_support.h"

// Logits of the probabilities {0.5, 0.3, 0.15, 0.05}.
static const float logits[4] = {-0.693147f, -1.203973f, -1.897120f, -2.995732f};

static void frequencies(SamplerParams p, int draws, double freq[4]) {
    Sampler *s = sampler_new(p, 4);
    for (int i = 0; i < 4; i++) freq[i] = 0;
    for (int i = 0; i < draws; i++) freq[sampler_sample(s, logits)] += 1.0 / draws;
    sampler_free(s);
}

static void check_freq(const char *what, const double got[4], const double want[4]) {
    for (int i = 0; i < 4; i++)
        CHECK_MSG(fabs(got[i] - want[i]) < 0.015, "%s: token %d drawn %.3f of the time, expected %.3f", what, i, got[i],
                  want[i]);
}

int main(void) {
    Sampler *greedy = sampler_new((SamplerParams){.temp = 0}, 4);
    CHECK(sampler_sample(greedy, logits) == 0);
    sampler_free(greedy);
    CHECK(argmax((const float[]){1, 5, 5, 2}, 4) == 1); // first of equal maxima

    double f[4];
    frequencies((SamplerParams){.temp = 1, .top_k = 0, .top_p = 1, .seed = 3}, 40000, f);
    check_freq("plain", f, (const double[]){0.5, 0.3, 0.15, 0.05});
    frequencies((SamplerParams){.temp = 1, .top_k = 2, .top_p = 1, .seed = 4}, 40000, f);
    check_freq("top-k 2", f, (const double[]){0.625, 0.375, 0, 0});
    // top-p 0.6 of all: {0, 1} (0.5 < 0.6 <= 0.8).
    frequencies((SamplerParams){.temp = 1, .top_k = 0, .top_p = 0.6f, .seed = 5}, 40000, f);
    check_freq("top-p 0.6", f, (const double[]){0.625, 0.375, 0, 0});
    // top-k 3 keeps 0.95 of the mass; top-p 0.5 of that (0.475) is token 0 alone.
    frequencies((SamplerParams){.temp = 1, .top_k = 3, .top_p = 0.5f, .seed = 6}, 2000, f);
    check_freq("top-k 3 + top-p 0.5", f, (const double[]){1, 0, 0, 0});
    frequencies((SamplerParams){.temp = 1, .top_k = 0, .top_p = 0, .seed = 7}, 2000, f);
    check_freq("top-p 0", f, (const double[]){1, 0, 0, 0});
    // A high temperature flattens: all four within reach.
    frequencies((SamplerParams){.temp = 100, .top_k = 0, .top_p = 1, .seed = 8}, 40000, f);
    check_freq("temp 100", f, (const double[]){0.2525, 0.2512, 0.2495, 0.2468});

    Sampler *a = sampler_new((SamplerParams){.temp = 1, .top_p = 1, .seed = 42}, 4);
    Sampler *b = sampler_new((SamplerParams){.temp = 1, .top_p = 1, .seed = 42}, 4);
    bool same = true;
    for (int i = 0; i < 100; i++) same = same && sampler_sample(a, logits) == sampler_sample(b, logits);
    CHECK(same);
    sampler_free(a);
    sampler_free(b);
    return test_result();
}
