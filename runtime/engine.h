// engine.h: one way to run a loaded model, whatever executes it. The commands
// (run, chat, serve, ppl, bench) go through an Engine; today it is backed by
// the reference interpreter, and a compiled artifact's code plugs in behind
// the same calls, so the commands never know which one runs.
#ifndef AWQC_ENGINE_H
#define AWQC_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/util.h"
#include "runtime/model.h"

typedef enum {
    ENGINE_AUTO,     // compiled code when the model carries it, else the interpreter
    ENGINE_INTERP,   // always the reference interpreter
    ENGINE_COMPILED, // the artifact's code; an error when there is none
} EngineKind;

typedef struct {
    int n_ctx;       // KV cache room in tokens (> 0)
    int n_threads;   // <= 0: one per logical CPU
    EngineKind kind;
} EngineOptions;

typedef struct Engine Engine;

// Prepares m (which must outlive the engine) to run. NULL with err when it cannot.
Engine *engine_new(const Model *m, const EngineOptions *o, AwqcError *err);
void engine_free(Engine *e);

// What runs: "interp" or the compiled target's name.
const char *engine_name(const Engine *e);
int engine_pos(const Engine *e);     // tokens in the KV cache
int engine_n_ctx(const Engine *e);
int engine_threads(const Engine *e);
int64_t engine_vocab(const Engine *e);

// Forgets the KV cache: the next forward starts at position 0.
void engine_reset(Engine *e);
// Keeps only the first pos tokens of the KV cache (pos <= engine_pos), so a
// conversation can drop an unfinished answer without re-running its history.
void engine_rewind(Engine *e, int pos);

// Runs n tokens at the current position and advances it by n. Returns the
// logits of all n rows [n, vocab] when all_rows, else of the last row only;
// valid until the next call. NULL with err when the tokens do not fit in the
// context or an id is out of range.
const float *engine_forward(Engine *e, const int32_t *tokens, int n, bool all_rows, AwqcError *err);

#endif
