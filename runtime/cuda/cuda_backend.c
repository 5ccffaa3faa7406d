// cuda_backend.c: the CUDA engine behind runtime/engine.h. engine.c cannot
// call cuda_engine.c directly (this library links the runtime, not the other
// way round), so this file hands it a table of the engine's calls.
#include <stdio.h>

#include "runtime/cuda/cuda_arch.h"
#include "runtime/cuda/cuda_engine.h"
#include "runtime/engine.h"

// Large enough to leave the caches behind; small enough for an 8 GB Orin.
#define BANDWIDTH_PROBE_BYTES ((size_t)256 << 20)

static bool has_code(const Model *m) { return m->artifact && cuda_artifact_has_code(m->artifact); }

static void *open_engine(const Model *m, const EngineOptions *o, GpuRefusal *why, AwqcError *err) {
    return cuda_engine_open(m, o->n_ctx, why, err);
}

static void close_engine(void *b) { cuda_engine_free(b); }
static const char *name(const void *b) { return cuda_engine_name(b); }
static const char *describe(const void *b) { return cuda_engine_describe(b); }
static int pos(const void *b) { return cuda_engine_pos(b); }
static int n_ctx(const void *b) { return cuda_engine_n_ctx(b); }
static int64_t vocab(const void *b) { return cuda_engine_vocab(b); }
static void rewind_to(void *b, int p) { cuda_engine_rewind(b, p); }

static const float *forward(void *b, const int32_t *tokens, int n, bool all_rows, AwqcError *err) {
    return cuda_engine_forward(b, tokens, n, all_rows, err);
}

static bool device_info(void *b, EngineDeviceInfo *out, AwqcError *err) {
    snprintf(out->device, sizeof out->device, "%s", cuda_engine_device(b));
    out->sm = cuda_engine_sm(b);
    out->bytes_per_token = cuda_engine_weight_bytes_per_token(b);
    out->copy_gbps = cuda_copy_bandwidth(BANDWIDTH_PROBE_BYTES, err);
    return out->copy_gbps > 0;
}

static const EngineGpuBackend cuda_backend = {
    .has_code = has_code,
    .open = open_engine,
    .close = close_engine,
    .name = name,
    .describe = describe,
    .pos = pos,
    .n_ctx = n_ctx,
    .vocab = vocab,
    .rewind = rewind_to,
    .forward = forward,
    .device_info = device_info,
};

void cuda_engine_register(void) { engine_register_gpu(&cuda_backend); }
