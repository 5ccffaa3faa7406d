// test_cuda_artifact.c: `awqc compile --target cuda:sm_87 -o X.awqx` on the
// default model writes an artifact that artifact_open accepts, whose sections
// hold the PTX (and the cubin when ptxas is there) and a kernel index naming a
// kernel and launch shape for every node; and --emit=cu prints the source.
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/cuda/cuda_codegen.h"
#include "runtime/artifact.h"
#include "test_support.h"

// Generating or compiling CUDA code needs NVRTC, absent from a runtime-only build.
#ifdef AWQC_CUDA_NVRTC

static const char *awqc_bin(void) {
    const char *bin = getenv("AWQC_BIN");
    if (!bin) test_skip("AWQC_BIN is not set (run through ctest)");
    return bin;
}

static void check_kernel_index(const Artifact *a) {
    AwqcError err;
    cJSON *k = artifact_section_json(a, AWQX_SEC_CUDA_KERNELS, &err);
    CHECK_MSG(k != NULL, "%s", err.msg);
    if (!k) return;
    CHECK(strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(k, "target")), "cuda:sm_87") == 0);
    const cJSON *nodes = cJSON_GetObjectItem(k, "nodes");
    CHECK(cJSON_GetArraySize(nodes) > 100); // 30 layers of unfused ops
    const cJSON *first = cJSON_GetArrayItem(nodes, 0);
    CHECK(strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(first, "op")), "embedding") == 0);
    const cJSON *l = cJSON_GetArrayItem(cJSON_GetObjectItem(first, "decode"), 0);
    CHECK(strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(l, "kernel")), "embedding_576") == 0);
    cJSON_Delete(k);
}

static void check_sections(const char *path) {
    AwqcError err;
    Artifact *a = artifact_open(path, &err);
    CHECK_MSG(a != NULL, "%s", err.msg);
    if (!a) return;
    uint64_t size = 0;
    const uint8_t *ptx = artifact_find(a, "code.cuda.sm_87.ptx", &size);
    CHECK(ptx != NULL && size > 1000);
    if (ptx) CHECK(memmem(ptx, size, ".target sm_87", 13) != NULL && memmem(ptx, size, ".entry gemv_h16_", 16) != NULL);
    CHECK((artifact_find(a, "code.cuda.sm_87.cubin", &size) != NULL) == (cuda_find_ptxas() != NULL));
    CHECK(artifact_find(a, AWQX_SEC_CUDA_SOURCE, &size) != NULL);
    CHECK(strcmp(artifact_meta_string(a, "target"), "cuda:sm_87") == 0);
    check_kernel_index(a);
    artifact_close(a);
}

int main(void) {
    const char *model = test_model_or_skip(), *bin = awqc_bin();
    char *out = awqc_asprintf("%s/smol.awqx", test_tmpdir());
    char *cmd = awqc_asprintf("'%s' compile -m '%s' --target cuda:sm_87 -c 256 -o '%s' 2>/dev/null", bin, model, out);
    CHECK_MSG(system(cmd) == 0, "%s", cmd);
    check_sections(out);
    free(cmd);
    char *cu = awqc_asprintf("%s/plan.cu", test_tmpdir());
    cmd = awqc_asprintf("'%s' compile -m '%s' --target cuda:sm_87 -c 256 --emit=cu > '%s' 2>/dev/null", bin, model, cu);
    CHECK_MSG(system(cmd) == 0, "%s", cmd);
    char *src = awqc_read_file(cu, NULL, NULL);
    CHECK(src && strstr(src, "extern \"C\" __global__ void __launch_bounds__(256) embedding_576(KArgs a)"));
    free(src);
    free(cmd);
    // --emit=ptx needs a CUDA target.
    cmd = awqc_asprintf("'%s' compile -m '%s' --emit=ptx > /dev/null 2>&1", bin, model);
    CHECK(system(cmd) != 0);
    free(cmd);
    free(cu);
    free(out);
    return test_result();
}
#else
int main(void) { test_skip("built without NVRTC (AWQC_CUDA_RUNTIME_ONLY)"); }
#endif
