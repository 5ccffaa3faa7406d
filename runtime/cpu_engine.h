// cpu_engine.h: runs a plan with the kernels the CPU code generator compiled
// (codegen/cpu/abi.h): the shared object is loaded from memory, activations
// live in the buffers plan-memory assigned, the KV cache is allocated once,
// and a thread pool runs each kernel phase on every thread. The runtime never
// links LLVM: it only loads what the compiler wrote.
#ifndef AWQC_CPU_ENGINE_H
#define AWQC_CPU_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/util.h"
#include "ir/ir.h"

typedef struct CpuEngine CpuEngine;

// g: the plan (weights bound: f32 data or packed bytes), so: the shared object
// generated for it, origin: its file for messages. t_max <= 0: min(n_ctx, 512)
// tokens per pass (longer inputs go in chunks). NULL with err.
CpuEngine *cpu_engine_new(const Graph *g, const uint8_t *so, size_t so_size, const char *origin, int n_ctx,
                          int n_threads, int t_max, AwqcError *err);
void cpu_engine_free(CpuEngine *e);

int cpu_engine_pos(const CpuEngine *e);
int cpu_engine_n_ctx(const CpuEngine *e);
int cpu_engine_threads(const CpuEngine *e);
int64_t cpu_engine_vocab(const CpuEngine *e);
void cpu_engine_rewind(CpuEngine *e, int pos);

// As interp_forward: n tokens at the current position; all n rows of logits
// or the last one, valid until the next call.
const float *cpu_engine_forward(CpuEngine *e, const int32_t *tokens, int n, bool all_rows, AwqcError *err);

// Whether this machine can run code described by a code.cpu.json text (arch
// and the vector features it was built for); false with err saying what it
// was built for and what is missing.
bool cpu_engine_can_run(const char *info_json, const char *origin, AwqcError *err);

#endif
