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
    ENGINE_AUTO,     // the artifact's GPU code when it has some and a GPU is here, else
                     // its CPU code, else the interpreter
    ENGINE_INTERP,   // always the reference interpreter
    ENGINE_COMPILED, // the artifact's CPU code; an error when there is none
    ENGINE_CUDA,     // the artifact's CUDA code on the GPU; an error (the reason) without one
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

// ----------------------------------------------------------------------------
// GPU backends. The runtime library cannot link the GPU runtime (that one
// links the runtime), so the GPU runtime registers itself: the awqc command
// calls cuda_engine_register() at start when it is built with CUDA.

// What the benchmark compares decode speed against on a GPU.
typedef struct {
    char device[128];       // "NVIDIA H100 80GB HBM3"
    int sm;                 // 10 * major + minor
    double copy_gbps;       // measured device-to-device copy bandwidth (read + write)
    double bytes_per_token; // device bytes the weights of one decode step take (one embedding row)
} EngineDeviceInfo;

// Why a GPU backend could not open a model; AUTO's fallback depends on it.
typedef enum {
    GPU_FAULT,      // the model cannot run, or the GPU failed (memory, a module that does not load)
    GPU_ABSENT,     // no driver or no device here
    GPU_OTHER_ARCH, // the artifact's GPU code is for other GPUs only
} GpuRefusal;

typedef struct {
    // Whether m carries code for this backend (ENGINE_AUTO tries it then).
    bool (*has_code)(const Model *m);
    // NULL with err, and *why, when it cannot run m.
    void *(*open)(const Model *m, const EngineOptions *o, GpuRefusal *why, AwqcError *err);
    void (*close)(void *b);
    const char *(*name)(const void *b); // "cuda sm_87 (NVIDIA Jetson AGX Orin)"
    // The device and the code it runs: "NVIDIA H100 (sm_90), module from the artifact's code.cuda.sm_90.cubin"
    const char *(*describe)(const void *b);
    int (*pos)(const void *b);
    int (*n_ctx)(const void *b);
    int64_t (*vocab)(const void *b);
    void (*rewind)(void *b, int pos);
    const float *(*forward)(void *b, const int32_t *tokens, int n, bool all_rows, AwqcError *err);
    bool (*device_info)(void *b, EngineDeviceInfo *out, AwqcError *err);
} EngineGpuBackend;

// Registers the GPU backend (one; a second call replaces it). b must outlive every engine.
void engine_register_gpu(const EngineGpuBackend *b);

// False (err says why) for engines that do not run on a GPU.
bool engine_device_info(Engine *e, EngineDeviceInfo *out, AwqcError *err);

#endif
