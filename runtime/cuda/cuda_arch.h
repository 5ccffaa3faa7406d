// cuda_arch.h: which of an artifact's CUDA code a GPU of a given compute
// capability runs, decided without the driver (so it is testable anywhere):
// the exact cubin, a binary-compatible cubin, PTX to JIT, or a refusal that
// names what the artifact was built for and what the GPU is.
#ifndef AWQC_CUDA_ARCH_H
#define AWQC_CUDA_ARCH_H

#include <stdbool.h>
#include <stddef.h>

#include "common/util.h"
#include "runtime/artifact.h"

typedef enum {
    CUDA_CODE_CUBIN, // machine code for one real arch (sm_XY)
    CUDA_CODE_PTX,   // virtual-arch code the driver compiles for the GPU at load
} CudaCodeKind;

typedef struct {
    CudaCodeKind kind;
    int sm;                      // the arch the code was built for (10 * major + minor)
    char section[AWQX_NAME_MAX]; // "code.cuda.sm_87.cubin"
} CudaCodeChoice;

// "code.cuda.sm_87.cubin" -> 87, CUDA_CODE_CUBIN; false for any other name.
bool cuda_code_section_parse(const char *name, int *sm, CudaCodeKind *kind);
// The reverse: 87, CUDA_CODE_CUBIN -> "code.cuda.sm_87.cubin" into out.
void cuda_code_section_name(int sm, CudaCodeKind kind, char out[AWQX_NAME_MAX]);

// "cuda:sm_87" -> 87, "orin" -> 87 (Jetson AGX Orin); 0 when target names no GPU.
int cuda_target_sm(const char *target);

// The awqc target (80, 87 or 90) whose code a GPU of compute capability
// device_sm runs: its own arch where awqc has it, 80 for other 8.x GPUs, 90
// for newer ones; 0 below 8.0, where awqc's kernels do not run.
int cuda_target_sm_for(int device_sm);

// Among the section names, the code a GPU of compute capability device_sm
// (10 * major + minor) runs: the cubin for exactly that arch; else a cubin of
// the same major and a lower minor (binary compatible; the highest such);
// else the PTX of the highest arch <= the GPU's (JIT-compiled by the driver).
// Else false with "PATH: built for cuda sm_90; this GPU is sm_87 (compute
// capability 8.7): recompile with --target cuda:sm_87 (or --target orin)",
// or "PATH: holds no CUDA code ..." when there is none at all. The target it
// names is one awqc builds (sm_80 for other 8.x GPUs, sm_90 for newer ones);
// a GPU older than 8.0 is told awqc's kernels need 8.0.
bool cuda_select_code(const char *const *names, size_t n, int device_sm, const char *path, CudaCodeChoice *out,
                      AwqcError *err);

// The same over an artifact's sections.
bool cuda_select_artifact_code(const Artifact *a, const char *path, int device_sm, CudaCodeChoice *out,
                               AwqcError *err);

// Whether the artifact holds any cubin or PTX section.
bool cuda_artifact_has_code(const Artifact *a);

#endif
