// generate.h: the token generation loop shared by `awqc run`, `chat` and `serve`:
// a KV session that remembers which tokens the engine's cache holds (so a new
// prompt only runs the part beyond the common prefix), and text streaming that
// only hands out complete UTF-8 and honours stop strings.
#ifndef AWQC_GENERATE_H
#define AWQC_GENERATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/util.h"
#include "runtime/engine.h"
#include "runtime/sampler.h"
#include "runtime/tokenizer/tokenizer.h"

// ----------------------------------------------------------------------------
// KV session: the tokens whose keys and values the engine's cache holds.

typedef struct {
    Engine *engine;
    int32_t *ids;
    size_t n, cap;
} KvSession;

void kv_init(KvSession *kv, Engine *e);
void kv_free(KvSession *kv);
// Forgets everything (engine_reset).
void kv_clear(KvSession *kv);
// Runs the prompt, reusing the cached common prefix (rewinding the engine to
// it first). At least one token always runs, since its logits are needed.
// *n_reused (may be NULL) gets the number of tokens taken from the cache.
// Returns the last row's logits, NULL with err (the session is then empty).
const float *kv_feed_prompt(KvSession *kv, const int32_t *ids, int n, int *n_reused, AwqcError *err);
// Runs one more token (a generated one). NULL with err.
const float *kv_feed_token(KvSession *kv, int32_t id, AwqcError *err);

// ----------------------------------------------------------------------------
// Stop strings and UTF-8 boundaries

#define GEN_MAX_STOP 4

// Length of the longest suffix of text[0, len) that is a proper prefix of one
// of the stop strings: output that must be held back until it resolves.
size_t gen_stop_holdback(const char *text, size_t len, const char *const *stop, int n_stop);
// Length of the longest prefix of s[0, len) that ends on a complete UTF-8
// character (an incomplete trailing sequence of at most 3 bytes is cut off).
size_t gen_utf8_complete(const char *s, size_t len);

// ----------------------------------------------------------------------------
// Generation

typedef enum {
    GEN_END_EOG,       // the model ended its answer (EOS, <|im_end|>, ...)
    GEN_END_LENGTH,    // max_tokens reached
    GEN_END_STOP,      // a stop string appeared
    GEN_END_CTX_FULL,  // the context is full
    GEN_END_CANCELLED, // keep_going said no (Ctrl-C, client gone)
    GEN_END_ERROR,
} GenEnd;

// Text as it becomes final (complete UTF-8, stop strings held back and cut).
typedef void (*GenEmitFn)(const char *text, size_t len, void *user);
// Asked before every token; false stops generation (GEN_END_CANCELLED).
typedef bool (*GenKeepGoingFn)(void *user);
// Each generated token's id, as it is sampled (awqc run --print-ids).
typedef void (*GenTokenFn)(int32_t id, void *user);

typedef struct {
    SamplerParams sampling;
    int max_tokens;                 // < 0: until the end of generation or a full context
    const char *stop[GEN_MAX_STOP]; // stop strings (not part of the output)
    int n_stop;
    GenEmitFn emit;                 // may be NULL
    GenKeepGoingFn keep_going;      // may be NULL
    GenTokenFn on_token;            // may be NULL
    void *user;
} GenParams;

typedef struct {
    int n_prompt, n_reused, n_gen;
    double t_prompt, t_gen; // seconds
    GenEnd end;
    char *text; // the whole answer (heap, caller frees)
} GenResult;

// Runs the prompt (reusing the session's cache) and generates. The session
// afterwards holds the prompt and the generated tokens that were fed back.
// False with err when the engine failed (r->end == GEN_END_ERROR).
bool gen_run(KvSession *kv, const Tokenizer *tok, const int32_t *prompt, int n_prompt, const GenParams *p,
             GenResult *r, AwqcError *err);

const char *gen_end_name(GenEnd end);

#endif
