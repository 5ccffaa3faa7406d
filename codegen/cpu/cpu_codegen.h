// cpu_codegen.h: the CPU code generator. It turns a plan (a graph after the
// pass pipeline, weights packed for the target) into a shared object whose
// kernels follow codegen/cpu/abi.h: LLVM IR written through the LLVM C API,
// specialised for the plan's shapes, optimised at O3 for the target CPU,
// emitted as an object file and linked by ld.lld.
#ifndef AWQC_CPU_CODEGEN_H
#define AWQC_CPU_CODEGEN_H

#include <stdio.h>

#include "common/util.h"
#include "ir/ir.h"

// Artifact sections the CPU code lives in.
#define AWQX_SEC_CPU_CODE "code.cpu.so"    // the shared object
#define AWQX_SEC_CPU_INFO "code.cpu.json"  // {triple, cpu, features, arch, vector_lanes, abi}

typedef struct {
    char *triple;   // e.g. "x86_64-pc-linux-gnu"
    char *cpu;      // e.g. "znver4", "x86-64-v3", "cortex-a78"
    char *features; // LLVM feature string, "+avx2,+fma,..."
    const char *arch; // "x86-64" or "aarch64"
    int vector_lanes; // f32 lanes of the widest vector the kernels use
} CpuTarget;

// Resolves a compile target (host, x86-64, x86-64-avx2, x86-64-avx512,
// aarch64, orin) to an LLVM triple, CPU and features; "host" asks LLVM
// for this machine's. False with err for a non-CPU target.
bool cpu_target_resolve(const char *target, CpuTarget *t, AwqcError *err);
void cpu_target_free(CpuTarget *t);
bool cpu_target_is_cpu(const char *target);

typedef struct {
    FILE *emit_ll;       // non-NULL: print the optimised LLVM IR here
    bool no_opt;         // skip the O3 pipeline (debugging)
    bool verbose;        // timings on stderr
} CpuCodegenOptions;

typedef struct {
    CpuTarget target;
    uint8_t *so;         // the linked shared object
    size_t so_size;
    char *info_json;     // the AWQX_SEC_CPU_INFO text
    int n_kernels;
    double seconds_emit, seconds_opt, seconds_object, seconds_link;
} CpuCode;

bool cpu_codegen(const Graph *g, const char *target, const CpuCodegenOptions *o, CpuCode *out, AwqcError *err);
void cpu_code_free(CpuCode *c);

#endif
