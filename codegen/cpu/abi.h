// abi.h: the calling convention between the kernels codegen/cpu generates and
// the runtime that calls them (runtime/cpu_engine.c). Header only: the runtime
// includes it without linking LLVM. Every kernel of the generated shared
// object has the type AwqcKernelFn and is listed in the exported table.
#ifndef AWQC_CPU_ABI_H
#define AWQC_CPU_ABI_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define AWQC_CPU_ABI_VERSION 1
#define AWQC_CPU_MAX_OPERANDS 4

// One call of one node's kernel. Every field is 8 bytes, in this order (the
// generated code reads them by index: AWQC_ARG_*).
typedef struct {
    const void *opnd[AWQC_CPU_MAX_OPERANDS]; // the node's operands in order: node values (f32 rows, i32 ids) or
                                              // weights (f32 data or packed bytes); NULL past n_in
    float *out;       // the node's value, [T, width] rows
    float *k_cache;   // attention: this node's K cache [n_ctx, kv_dim]; else NULL
    float *v_cache;   // attention: V cache, same shape
    float *scratch;   // this thread's scratch (awqc_cpu_scratch_floats floats)
    int64_t T;        // tokens in this step
    int64_t pos;      // cache position of the first of them
    int64_t row0;     // first output row wanted: rows before it may be left unwritten
} AwqcKernelArgs;

enum { AWQC_ARG_OPND = 0, AWQC_ARG_OUT = 4, AWQC_ARG_K, AWQC_ARG_V, AWQC_ARG_SCRATCH, AWQC_ARG_T, AWQC_ARG_POS,
       AWQC_ARG_ROW0, AWQC_ARG_COUNT };

// Thread ith of nth does its share; a node may have several phases, run in
// order with every thread finished between them.
typedef void (*AwqcKernelFn)(const AwqcKernelArgs *a, int64_t ith, int64_t nth);

typedef struct {
    int64_t node;  // index of the plan node
    int64_t phase; // 0, 1, ...
    AwqcKernelFn fn;
} AwqcKernelEntry;

// The shared object exports: int64_t awqc_abi_version, int64_t
// awqc_kernel_count, and AwqcKernelEntry awqc_kernels[awqc_kernel_count] in
// node then phase order.
#define AWQC_SYM_ABI "awqc_abi_version"
#define AWQC_SYM_COUNT "awqc_kernel_count"
#define AWQC_SYM_TABLE "awqc_kernels"
// And char awqc_layout4[]: the target's own 4-bit layout (avx2-i4, neon-i4).
// The kernels read either CPU layout as stored; a weight packed in another
// target's layout (an orin artifact keeps awq-gemm for its GPU half) is read
// in this one, repacked when the runtime loads it.
#define AWQC_SYM_LAYOUT4 "awqc_layout4"

// The one rule of which 4-bit layouts the CPU kernels read as stored: the
// codes per half block (32 for avx2-i4, 16 for neon-i4), 0 for any other
// layout, which the runtime repacks into the code's awqc_layout4.
static inline int awqc_cpu_layout4_half(const char *layout) {
    if (!layout) return 0;
    if (strcmp(layout, "avx2-i4") == 0) return 32;
    if (strcmp(layout, "neon-i4") == 0) return 16;
    return 0;
}

// Whether the CPU kernels read a 4-bit layout as stored: the two above, and
// vnni-i4 (x86-64 with AVX-512 VNNI, 16 rows interleaved, read with 8-bit
// activations). Any other is repacked at load.
static inline bool awqc_cpu_reads_layout4(const char *layout) {
    return awqc_cpu_layout4_half(layout) || (layout && strcmp(layout, "vnni-i4") == 0);
}

// Dequantised weight rows a prefill linear keeps in scratch at once.
#define AWQC_CPU_WEIGHT_ROWS 4

// Scratch each thread needs: the widest operand row for t_max tokens (a
// normalised copy of a linear's input), the same rows rounded to 8 bits
// (a byte per value, and a step and a sum per group of at least 16: at most
// 3/8 of a float per value), AWQC_CPU_WEIGHT_ROWS dequantised weight rows
// (each rounded up to 16 floats), and attention scores over the whole context.
static inline int64_t awqc_cpu_scratch_floats(int64_t t_max, int64_t max_width, int64_t n_ctx) {
    return t_max * max_width + t_max * max_width / 2 + AWQC_CPU_WEIGHT_ROWS * (max_width + 16) + n_ctx + 64;
}

#endif
