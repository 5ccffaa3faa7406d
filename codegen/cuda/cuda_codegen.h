// cuda_codegen.h: CUDA code generation for a plan: one CUDA C source per plan
// whose kernels are specialised by the plan's constant shapes, bits and group
// size (emit.c), compiled by NVRTC to PTX per arch and assembled by ptxas to
// cubin when the tool is there (nvrtc.c), packed as artifact sections (codegen.c).
#ifndef AWQC_CODEGEN_CUDA_H
#define AWQC_CODEGEN_CUDA_H

#include <stdbool.h>
#include <stddef.h>

#include "common/util.h"
#include "ir/ir.h"
#include "runtime/artifact.h"
#include "runtime/cuda/cuda_arch.h"

// ----------------------------------------------------------------------------
// launches: how the runtime runs one node. Every kernel takes the KArgs struct
// of kernels.cuh; the runtime fills it from the node (operands, output buffer,
// KV cache) and launches the node's kernels in order with these shapes.

typedef enum {
    CUDA_GRID_ONE,  // grid.y = 1
    CUDA_GRID_T,    // grid.y = T (one token per block row)
    CUDA_GRID_T64,  // grid.y = ceil(T / 64) (the tensor-core GEMM's token tiles)
} CudaGridY;

#define CUDA_KERNEL_NAME_MAX 96
#define CUDA_MAX_LAUNCHES 3

typedef struct {
    char name[CUDA_KERNEL_NAME_MAX];
    int grid_x;
    CudaGridY grid_y;
    int block_x, block_y;
    int min_blocks; // __launch_bounds__'s blocks per SM hint, 0 for none
    bool smem_ctx; // dynamic shared memory of (smem_head_dim + n_ctx) floats (attention)
    int smem_head_dim;
    // Operand 0 is a folded producer's: KArgs.in[0] is that node's operand 0
    // (a q4 GEMV computing silu(gate) * up from the gate|up the silu_mul read).
    bool x_through_producer;
} CudaLaunch;

typedef struct {
    int n;
    CudaLaunch l[CUDA_MAX_LAUNCHES];
    int64_t scratch_per_token; // floats of scratch per token the kernels use
    int64_t part_per_token;    // floats of partial sums per token (a q4 GEMV splitting K), below CUDA_MMA_MIN_T
    int64_t done_per_token;    // and u32 arrival counts, zero between launches
    bool uses_kv;              // the node owns a KV cache (attention)
} CudaNodeLaunches;

// From T >= this many tokens a q4 linear runs on the tensor-core GEMM.
#define CUDA_MMA_MIN_T 16

// The launches of node i for a step of T tokens (T = 1: decode); false with
// a message naming the node and op when no kernel can run it (an op or a
// weight form the CUDA generator does not handle).
bool cuda_node_launches(const Graph *g, int i, int T, CudaNodeLaunches *out, AwqcError *err);

// A linear's f32 matrix (ir_linear_matrix_operand) is read as f16 (gemv_h16):
// the runtime uploads it converted, half the bytes per token.

// The device-side greedy pick kernel for logits of width vocab.
void cuda_argmax_launch(int64_t vocab, CudaLaunch *out);

// ----------------------------------------------------------------------------
// source

// The whole .cu text for g (the kernel templates, then one instantiation per
// distinct kernel the plan launches): a heap string, or NULL with err naming
// the first node that cannot be generated.
char *cuda_emit_source(const Graph *g, AwqcError *err);

// ----------------------------------------------------------------------------
// compiling

// cuda_target_sm ("cuda:sm_87" -> 87) is in runtime/cuda/cuda_arch.h.

typedef struct {
    void *data;
    size_t size;
} CudaBytes;

// Whether NVRTC loads here (nvrtc.c loads it at first use); false with the
// candidates tried in err.
bool cuda_nvrtc_available(AwqcError *err);
// NVRTC: source -> PTX for compute_<sm> (NUL-terminated; size excludes the
// NUL). False with NVRTC's log in err, or why NVRTC is not there.
bool cuda_nvrtc_ptx(const char *source, int sm, CudaBytes *ptx, AwqcError *err);
// The ptxas found on PATH, in $CUDA_HOME/bin or /usr/local/cuda/bin; NULL if none.
const char *cuda_find_ptxas(void);
// Assembles PTX for sm_<sm> with ptxas as a child process; false with its
// output in err.
bool cuda_ptxas_cubin(const char *ptxas, const CudaBytes *ptx, int sm, CudaBytes *cubin, AwqcError *err);
// The NVRTC version and the real archs it can target ("NVRTC 13.0: sm_75 ..."),
// or "NVRTC: not found (...)".
char *cuda_nvrtc_describe(void);

// ----------------------------------------------------------------------------
// artifact sections

// Beside code.cuda.sm_XY.ptx / .cubin (cuda_code_section_name, runtime/cuda/cuda_arch.h):
#define AWQX_SEC_CUDA_KERNELS "code.cuda.kernels" // JSON: per node, kernels and launch shapes
#define AWQX_SEC_CUDA_SOURCE "code.cuda.cu"       // the generated CUDA C
#define CUDA_MAX_SECTIONS 4
typedef struct {
    int sm;
    char *source;   // the .cu text
    CudaBytes ptx;  // for compute_<sm>
    CudaBytes cubin; // for sm_<sm>; size 0 when ptxas was not found
    char *kernels_json; // "code.cuda.kernels": kernel names and launch shapes per node
    char names[CUDA_MAX_SECTIONS][AWQX_NAME_MAX];
    int n_sections;
    const void *section_data[CUDA_MAX_SECTIONS];
    size_t section_size[CUDA_MAX_SECTIONS];
} CudaCode;

// Generates, compiles and packs g's code for target ("cuda:sm_87"); the
// sections are names[i] / section_data[i] / section_size[i]. False with err.
bool cuda_codegen(const Graph *g, const char *target, CudaCode *out, AwqcError *err);
void cuda_code_free(CudaCode *c);

#endif
