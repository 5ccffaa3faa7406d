// cuda_engine.h: runs a plan on an NVIDIA GPU with the kernels of
// codegen/cuda: loads the module (the artifact's cubin or PTX, or code
// generated at load), uploads the weights and allocates the KV cache once,
// runs prompts node by node and replays the decode step as a CUDA graph.
#ifndef AWQC_CUDA_ENGINE_H
#define AWQC_CUDA_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/util.h"
#include "runtime/engine.h"
#include "runtime/model.h"

typedef struct CudaEngine CudaEngine;

// NULL with err when there is no driver ("no CUDA driver (libcuda.so.1 not
// found ...)"), no GPU ("no GPU: cuInit: ..."), or the plan cannot run (a
// node without a kernel, a q4 weight not packed as awq-gemm: compile with
// --target cuda:sm_XX), or the artifact holds code for another GPU only
// (cuda_arch.h: "X.awqx: built for cuda sm_90; this GPU is sm_87 ...").
// m must outlive the engine.
CudaEngine *cuda_engine_new(const Model *m, int n_ctx, AwqcError *err);
// The same; on failure *why tells a missing driver or device, or an artifact
// with code for other GPUs only, from a model that cannot run or a GPU fault
// (engine.h: --engine auto falls back to the CPU on the first two).
CudaEngine *cuda_engine_open(const Model *m, int n_ctx, GpuRefusal *why, AwqcError *err);
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
// "NVIDIA H100 80GB HBM3 (sm_90), module from the artifact's code.cuda.sm_90.cubin".
const char *cuda_engine_describe(const CudaEngine *e);
// "cuda sm_90 (NVIDIA H100 80GB HBM3)": what engine_name says.
const char *cuda_engine_name(const CudaEngine *e);
const char *cuda_engine_device(const CudaEngine *e); // "NVIDIA H100 80GB HBM3"
int cuda_engine_sm(const CudaEngine *e);             // 10 * major + minor
// Device bytes of the weights one decode step reads (one embedding row).
double cuda_engine_weight_bytes_per_token(const CudaEngine *e);

// Registers the CUDA engine behind engine_new (runtime/engine.h: ENGINE_CUDA,
// and ENGINE_AUTO for artifacts with CUDA code). The awqc command calls it once at start.
void cuda_engine_register(void);

// The compute capability (10 * major + minor) of the GPU the engine would use,
// and its name into name[cap] (name may be NULL); 0 with err ("no CUDA driver
// ...", "no GPU: ...") when there is none. compile --target cuda:native asks it.
int cuda_device_sm(char *name, size_t cap, AwqcError *err);

// Whether a GPU can be used here: false with the reason ("no CUDA driver ...",
// "no GPU: ...") in err. Tests use it to skip.
bool cuda_available(AwqcError *err);

// Device-to-device copy bandwidth in GB/s over bytes (the HBM bound the
// benchmark compares decode against); negative with err on failure.
double cuda_copy_bandwidth(size_t bytes, AwqcError *err);

#endif
