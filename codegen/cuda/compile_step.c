// compile_step.c: cuda_compile_step (cuda_compile.h), the glue between
// `awqc compile` and the CUDA code generator, so the command's own edit for
// CUDA stays one call.
#include "codegen/cuda/cuda_compile.h"

#include <string.h>

static bool wants(const char *emit, const char *what) { return emit && strcmp(emit, what) == 0; }

bool cuda_compile_ready(const char *target, AwqcError *err) {
    if (!cuda_target_sm(target) || cuda_nvrtc_available(err)) return true;
    awqc_error_prefix(err, "compile: --target %s", target);
    return false;
}

bool cuda_compile_step(const Graph *g, const char *target, const char *emit, FILE *out, CudaCode *code,
                       ArtifactBlob *blobs, size_t *n_blobs, AwqcError *err) {
    memset(code, 0, sizeof *code);
    *n_blobs = 0;
    if (!cuda_target_sm(target)) {
        if (wants(emit, "cu") || wants(emit, "ptx"))
            return awqc_fail(err, "--emit=%s needs a CUDA target (--target cuda:sm_80, cuda:sm_87 or cuda:sm_90)", emit);
        return true;
    }
    if (!cuda_codegen(g, target, code, err)) return false;
    if (wants(emit, "cu")) fputs(code->source, out);
    if (wants(emit, "ptx")) fputs((const char *)code->ptx.data, out);
    for (int i = 0; i < code->n_sections; i++)
        blobs[(*n_blobs)++] = (ArtifactBlob){code->names[i], code->section_data[i], code->section_size[i]};
    return true;
}
