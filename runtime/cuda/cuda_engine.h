// cuda_engine.h: runs a plan on an NVIDIA GPU with the kernels of
// codegen/cuda: loads the module (the artifact's cubin or PTX, or code
// generated at load), uploads the weights and allocates the KV cache once,
// runs prompts node by node and replays the decode step as a CUDA graph.
#ifndef AWQC_CUDA_ENGINE_H
#define AWQC_CUDA_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/util.h"
#include "runtime/model.h"

typedef struct CudaEngine CudaEngine;

// NULL with err when there is no driver ("no CUDA driver (libcuda.so.1 not
// found ...)"), no GPU ("no GPU: cuInit: ..."), or the plan cannot run (a
// node without a kernel, a q4 weight not packed as awq-gemm: compile with
// --target cuda:sm_XX). m must outlive the engine.
CudaEngine *cuda_engine_new(const Model *m, int n_ctx, AwqcError *err);
void cuda_engine_free(CudaEngine *e);

// Same contract as engine_forward (runtime/engine.h): n tokens at the current
// position; logits of all rows [n, vocab] or of the last; valid until the next call.
const float *cuda_engine_forward(CudaEngine *e, const int32_t *ids, int n, bool all_rows, AwqcError *err);
// The greedy pick of the last forward's last row, computed on the device.
bool cuda_engine_argmax(CudaEngine *e, int32_t *id, AwqcError *err);

int cuda_engine_pos(const CudaEngine *e);
int cuda_engine_n_ctx(const CudaEngine *e);
int64_t cuda_engine_vocab(const CudaEngine *e);
void cuda_engine_rewind(CudaEngine *e, int pos);
void cuda_engine_reset(CudaEngine *e);
// "NVIDIA H100 80GB HBM3 (sm_90), module from cubin" and the like.
const char *cuda_engine_describe(const CudaEngine *e);

// Whether a GPU can be used here: false with the reason ("no CUDA driver ...",
// "no GPU: ...") in err. Tests use it to skip.
bool cuda_available(AwqcError *err);

// Device-to-device copy bandwidth in GB/s over bytes (the HBM bound the
// benchmark compares decode against); negative with err on failure.
double cuda_copy_bandwidth(size_t bytes, AwqcError *err);

#endif
