// cuda_compile.h: the one call `awqc compile` makes for CUDA targets: runs the
// code generator on the finished plan, prints --emit=cu / --emit=ptx, and
// hands back the code.cuda.* sections as artifact blobs.
#ifndef AWQC_CODEGEN_CUDA_COMPILE_H
#define AWQC_CODEGEN_CUDA_COMPILE_H

#include "codegen/cuda/cuda_codegen.h"
#include "runtime/artifact.h"

// False with err when target is a CUDA target and NVRTC does not load here:
// checked before the model loads, so a missing toolkit costs no minutes.
bool cuda_compile_ready(const char *target, AwqcError *err);

// For a target that is not CUDA: nothing (n_blobs = 0), or an error when emit
// asks for cu/ptx. For cuda:sm_XX: generates code (kept alive in code, free
// with cuda_code_free), writes the source or PTX to out when emit is "cu" or
// "ptx", and fills blobs[CUDA_MAX_SECTIONS]. False with err naming the node
// that could not be generated or the compiler's log.
bool cuda_compile_step(const Graph *g, const char *target, const char *emit, FILE *out, CudaCode *code,
                       ArtifactBlob *blobs, size_t *n_blobs, AwqcError *err);

#endif
