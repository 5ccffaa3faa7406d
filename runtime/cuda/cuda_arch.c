// cuda_arch.c: the arch choice of cuda_arch.h. CUDA's compatibility rules:
// a cubin runs on GPUs of its major with an equal or higher minor; PTX is
// JIT-compiled for any GPU at least as new as its virtual arch.
#include "runtime/cuda/cuda_arch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ----------------------------------------------------------------------------
// section names

#define CODE_PREFIX "code.cuda.sm_"

bool cuda_code_section_parse(const char *name, int *sm, CudaCodeKind *kind) {
    size_t plen = strlen(CODE_PREFIX);
    if (strncmp(name, CODE_PREFIX, plen) != 0) return false;
    const char *digits = name + plen;
    size_t nd = strspn(digits, "0123456789");
    if (nd == 0 || nd > 4) return false;
    const char *ext = digits + nd;
    if (strcmp(ext, ".cubin") == 0) *kind = CUDA_CODE_CUBIN;
    else if (strcmp(ext, ".ptx") == 0) *kind = CUDA_CODE_PTX;
    else return false;
    *sm = atoi(digits);
    return *sm > 0;
}

void cuda_code_section_name(int sm, CudaCodeKind kind, char out[AWQX_NAME_MAX]) {
    snprintf(out, AWQX_NAME_MAX, CODE_PREFIX "%d.%s", sm, kind == CUDA_CODE_CUBIN ? "cubin" : "ptx");
}

static bool cubin_runs_on(int code_sm, int device_sm) {
    return code_sm / 10 == device_sm / 10 && code_sm % 10 <= device_sm % 10;
}

// ----------------------------------------------------------------------------
// the choice

static bool better(const CudaCodeChoice *cand, const CudaCodeChoice *best, bool have_best) {
    if (!have_best) return true;
    if (cand->kind != best->kind) return cand->kind == CUDA_CODE_CUBIN;
    return cand->sm > best->sm; // the newest code the GPU can take uses the most of it
}

static bool usable(CudaCodeKind kind, int sm, int device_sm) {
    return kind == CUDA_CODE_CUBIN ? cubin_runs_on(sm, device_sm) : sm <= device_sm;
}

// "sm_80, sm_90" (each arch once, in the order found).
static void list_archs(const char *const *names, size_t n, char *out, size_t cap) {
    int seen[32], n_seen = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        int sm;
        CudaCodeKind kind;
        if (!cuda_code_section_parse(names[i], &sm, &kind)) continue;
        bool dup = false;
        for (int k = 0; k < n_seen; k++) dup = dup || seen[k] == sm;
        if (dup || n_seen == 32) continue;
        seen[n_seen++] = sm;
        size_t len = strlen(out);
        snprintf(out + len, cap - len, "%ssm_%d", n_seen > 1 ? ", " : "", sm);
    }
}

int cuda_target_sm(const char *target) {
    if (target && strcmp(target, "orin") == 0) return 87;
    if (!target || strncmp(target, "cuda:sm_", 8) != 0) return 0;
    char *end;
    long sm = strtol(target + 8, &end, 10);
    return *end == 0 && sm >= 10 && sm < 1000 ? (int)sm : 0;
}

// Why each answer of cuda_target_sm_for (cuda_arch.h): sm_80's cubin is
// binary compatible with every 8.x GPU; sm_90's PTX is compiled by the
// driver at load for newer ones; the prefill GEMM's mma.sync m16n8k16 needs sm_80.
int cuda_target_sm_for(int device_sm) {
    if (device_sm == 80 || device_sm == 87 || device_sm == 90) return device_sm;
    if (device_sm / 10 == 8) return 80;
    return device_sm > 90 ? 90 : 0;
}

static bool refuse(const char *const *names, size_t n, int device_sm, const char *path, AwqcError *err) {
    char archs[256], gpu[64], hint[96];
    list_archs(names, n, archs, sizeof archs);
    snprintf(gpu, sizeof gpu, "sm_%d (compute capability %d.%d)", device_sm, device_sm / 10, device_sm % 10);
    int target = cuda_target_sm_for(device_sm);
    if (!target)
        return awqc_fail(err,
                         "%s: this GPU is %s; awqc's CUDA kernels need compute capability 8.0 or newer (on the "
                         "CPU: --engine compiled for an artifact with CPU code, else --engine interp)",
                         path, gpu);
    snprintf(hint, sizeof hint, "--target cuda:sm_%d%s", target, target == 87 ? " (or --target orin)" : "");
    if (!archs[0]) return awqc_fail(err, "%s: holds no CUDA code: compile it with %s", path, hint);
    return awqc_fail(err, "%s: built for cuda %s; this GPU is %s: recompile with %s", path, archs, gpu, hint);
}

bool cuda_select_code(const char *const *names, size_t n, int device_sm, const char *path, CudaCodeChoice *out,
                      AwqcError *err) {
    AWQC_ASSERT(device_sm > 0);
    bool found = false;
    for (size_t i = 0; i < n; i++) {
        CudaCodeChoice c = {0};
        if (!cuda_code_section_parse(names[i], &c.sm, &c.kind) || !usable(c.kind, c.sm, device_sm)) continue;
        if (!better(&c, out, found)) continue;
        snprintf(c.section, sizeof c.section, "%s", names[i]);
        *out = c;
        found = true;
    }
    return found || refuse(names, n, device_sm, path, err);
}

// ----------------------------------------------------------------------------
// over an artifact

static const char **section_names(const Artifact *a, size_t *n) {
    *n = artifact_section_count(a);
    const char **names = xcalloc(*n + 1, sizeof *names);
    for (size_t i = 0; i < *n; i++) names[i] = artifact_section_at(a, i)->name;
    return names;
}

bool cuda_select_artifact_code(const Artifact *a, const char *path, int device_sm, CudaCodeChoice *out,
                               AwqcError *err) {
    size_t n;
    const char **names = section_names(a, &n);
    bool ok = cuda_select_code(names, n, device_sm, path, out, err);
    free(names);
    return ok;
}

bool cuda_artifact_has_code(const Artifact *a) {
    for (size_t i = 0; i < artifact_section_count(a); i++) {
        int sm;
        CudaCodeKind kind;
        if (cuda_code_section_parse(artifact_section_at(a, i)->name, &sm, &kind)) return true;
    }
    return false;
}
