// test_cuda_arch_select.c: which code of an artifact a GPU runs (cuda_arch.h),
// without a GPU: exact, binary-compatible and PTX choices and the refusal
// message on made-up section lists, then an artifact compiled for real with
// `awqc compile --target cuda:sm_90`, and engine_new's choice on it here.
#include <stdlib.h>
#include <string.h>

#include "runtime/cuda/cuda_arch.h"
#include "runtime/cuda/cuda_engine.h"
#include "runtime/engine.h"
#include "runtime/model.h"
#include "test_support.h"

#define N_OF(a) (sizeof(a) / sizeof *(a))

// ----------------------------------------------------------------------------
// made-up artifacts

static const char *const full_90[] = {"plan", "code.cuda.sm_90.ptx", "code.cuda.sm_90.cubin", "code.cuda.kernels",
                                      "code.cuda.cu"};
static const char *const full_87[] = {"plan", "code.cuda.sm_87.ptx", "code.cuda.sm_87.cubin", "code.cuda.kernels"};
static const char *const full_80[] = {"code.cuda.sm_80.ptx", "code.cuda.sm_80.cubin"};
static const char *const ptx_80[] = {"plan", "code.cuda.sm_80.ptx", "code.cuda.kernels"};
static const char *const cpu_only[] = {"plan", "tokenizer", "code.cpu.so"};

static void expect_choice(const char *const *names, size_t n, int device_sm, CudaCodeKind kind, const char *section) {
    CudaCodeChoice c;
    AwqcError err = {{0}};
    bool ok = cuda_select_code(names, n, device_sm, "m.awqx", &c, &err);
    CHECK_MSG(ok, "device sm_%d: %s", device_sm, err.msg);
    if (!ok) return;
    CHECK_MSG(c.kind == kind && strcmp(c.section, section) == 0, "device sm_%d: got %s, want %s", device_sm,
              c.section, section);
}

static void expect_refusal(const char *const *names, size_t n, int device_sm, const char *msg) {
    CudaCodeChoice c;
    AwqcError err = {{0}};
    CHECK_MSG(!cuda_select_code(names, n, device_sm, "X.awqx", &c, &err), "device sm_%d: chose %s", device_sm,
              c.section);
    CHECK_MSG(strcmp(err.msg, msg) == 0, "got:  %s\nwant: %s", err.msg, msg);
}

static void test_made_up(void) {
    expect_refusal(full_90, N_OF(full_90), 87,
                   "X.awqx: built for cuda sm_90; this GPU is sm_87 (compute capability 8.7): recompile with "
                   "--target cuda:sm_87 (or --target orin)");
    expect_refusal(full_90, N_OF(full_90), 80,
                   "X.awqx: built for cuda sm_90; this GPU is sm_80 (compute capability 8.0): recompile with "
                   "--target cuda:sm_80");
    expect_refusal(cpu_only, N_OF(cpu_only), 87,
                   "X.awqx: holds no CUDA code: compile it with --target cuda:sm_87 (or --target orin)");
    expect_choice(full_87, N_OF(full_87), 87, CUDA_CODE_CUBIN, "code.cuda.sm_87.cubin");
    expect_choice(full_80, N_OF(full_80), 87, CUDA_CODE_CUBIN, "code.cuda.sm_80.cubin"); // same major, lower minor
    expect_choice(ptx_80, N_OF(ptx_80), 87, CUDA_CODE_PTX, "code.cuda.sm_80.ptx");
    expect_choice(ptx_80, N_OF(ptx_80), 90, CUDA_CODE_PTX, "code.cuda.sm_80.ptx");     // PTX JITs up a major
    expect_choice(full_80, N_OF(full_80), 90, CUDA_CODE_PTX, "code.cuda.sm_80.ptx");   // a cubin does not
    expect_choice(full_90, N_OF(full_90), 100, CUDA_CODE_PTX, "code.cuda.sm_90.ptx");
    expect_choice(full_87, N_OF(full_87), 86 + 3, CUDA_CODE_CUBIN, "code.cuda.sm_87.cubin"); // sm_89 takes 8.7's
    // Several archs: the exact cubin beats a compatible one and any PTX; refusals list them all.
    const char *const multi[] = {"code.cuda.sm_80.cubin", "code.cuda.sm_86.ptx", "code.cuda.sm_87.cubin",
                                 "code.cuda.sm_90.ptx"};
    expect_choice(multi, N_OF(multi), 87, CUDA_CODE_CUBIN, "code.cuda.sm_87.cubin");
    expect_choice(multi, N_OF(multi), 86, CUDA_CODE_CUBIN, "code.cuda.sm_80.cubin");
    expect_choice(multi, N_OF(multi), 90, CUDA_CODE_PTX, "code.cuda.sm_90.ptx");
    expect_refusal(multi, N_OF(multi), 75,
                   "X.awqx: this GPU is sm_75 (compute capability 7.5); awqc's CUDA kernels need compute "
                   "capability 8.0 or newer (on the CPU: --engine compiled for an artifact with CPU code, else --engine interp)");
    // The hint names a target awqc has: sm_80's cubin for other 8.x GPUs, sm_90's PTX for newer ones.
    expect_refusal(full_90, N_OF(full_90), 86,
                   "X.awqx: built for cuda sm_90; this GPU is sm_86 (compute capability 8.6): recompile with "
                   "--target cuda:sm_80");
    expect_refusal(cpu_only, N_OF(cpu_only), 120, "X.awqx: holds no CUDA code: compile it with --target cuda:sm_90");
    expect_refusal(cpu_only, N_OF(cpu_only), 61,
                   "X.awqx: this GPU is sm_61 (compute capability 6.1); awqc's CUDA kernels need compute "
                   "capability 8.0 or newer (on the CPU: --engine compiled for an artifact with CPU code, else --engine interp)");
}

static void test_section_names(void) {
    int sm = 0;
    CudaCodeKind kind;
    CHECK(cuda_code_section_parse("code.cuda.sm_121.cubin", &sm, &kind) && sm == 121 && kind == CUDA_CODE_CUBIN);
    CHECK(cuda_code_section_parse("code.cuda.sm_87.ptx", &sm, &kind) && sm == 87 && kind == CUDA_CODE_PTX);
    CHECK(!cuda_code_section_parse("code.cuda.kernels", &sm, &kind));
    CHECK(!cuda_code_section_parse("code.cuda.sm_.ptx", &sm, &kind));
    CHECK(!cuda_code_section_parse("code.cuda.sm_90a.cubin", &sm, &kind));
    CHECK(!cuda_code_section_parse("code.cuda.sm_90.ptx.bak", &sm, &kind));
    char name[AWQX_NAME_MAX];
    cuda_code_section_name(87, CUDA_CODE_CUBIN, name);
    CHECK(strcmp(name, "code.cuda.sm_87.cubin") == 0 && cuda_code_section_parse(name, &sm, &kind) && sm == 87);
    cuda_code_section_name(90, CUDA_CODE_PTX, name);
    CHECK(strcmp(name, "code.cuda.sm_90.ptx") == 0 && cuda_code_section_parse(name, &sm, &kind) && kind == CUDA_CODE_PTX);
}

// ----------------------------------------------------------------------------
// a real artifact

#ifdef AWQC_CUDA_NVRTC
static char *compile_sm90(void) {
    const char *model = test_model_or_skip(), *bin = getenv("AWQC_BIN");
    if (!bin) test_skip("AWQC_BIN is not set (run through ctest)");
    char *out = awqc_asprintf("%s/sm90.awqx", test_tmpdir());
    char *cmd = awqc_asprintf("'%s' compile -m '%s' --target cuda:sm_90 -c 64 -o '%s' 2>/dev/null",
                              bin, model, out);
    CHECK_MSG(system(cmd) == 0, "%s", cmd);
    free(cmd);
    return out;
}

static void test_real_artifact(const Artifact *a) {
    CHECK(cuda_artifact_has_code(a));
    CudaCodeChoice c;
    AwqcError err = {{0}};
    uint64_t size = 0;
    bool cubin = artifact_find(a, "code.cuda.sm_90.cubin", &size) != NULL;
    CHECK_MSG(cuda_select_artifact_code(a, "sm90.awqx", 90, &c, &err), "%s", err.msg);
    CHECK(strcmp(c.section, cubin ? "code.cuda.sm_90.cubin" : "code.cuda.sm_90.ptx") == 0);
    CHECK_MSG(cuda_select_artifact_code(a, "sm90.awqx", 120, &c, &err) && c.kind == CUDA_CODE_PTX, "%s", err.msg);
    CHECK(!cuda_select_artifact_code(a, "sm90.awqx", 87, &c, &err));
    CHECK_MSG(strcmp(err.msg, "sm90.awqx: built for cuda sm_90; this GPU is sm_87 (compute capability 8.7): "
                              "recompile with --target cuda:sm_87 (or --target orin)") == 0, "%s", err.msg);
}

// engine_new on it: without a GPU, --engine cuda names the reason and auto
// falls back to the CPU; with one, auto runs it on the GPU.
static void test_engine_choice(const Model *m) {
    AwqcError err = {{0}};
    EngineOptions o = {.n_ctx = 16, .n_threads = 1, .kind = ENGINE_CUDA};
    CHECK(engine_new(m, &o, &err) == NULL && strstr(err.msg, "built without the CUDA runtime")); // not registered
    cuda_engine_register();
    bool gpu = cuda_available(&err);
    Engine *e = engine_new(m, &o, &err);
    if (gpu) CHECK_MSG(e && strncmp(engine_name(e), "cuda sm_", 8) == 0, "%s", e ? engine_name(e) : err.msg);
    else CHECK_MSG(!e && (strstr(err.msg, "no CUDA driver") || strstr(err.msg, "no GPU")), "%s", err.msg);
    engine_free(e);
    o.kind = ENGINE_AUTO;
    e = engine_new(m, &o, &err);
    CHECK_MSG(e != NULL, "%s", err.msg);
    if (e && !gpu) CHECK_MSG(strncmp(engine_name(e), "cuda", 4) != 0, "%s", engine_name(e));
    EngineDeviceInfo info;
    if (e && !gpu) CHECK(!engine_device_info(e, &info, &err));
    engine_free(e);
}

static void test_compiled(void) {
    char *path = compile_sm90();
    AwqcError err;
    ModelLoadOptions lo = {.load_weights = true, .quiet = true};
    Model *m = model_load(path, &lo, &err);
    CHECK_MSG(m != NULL, "%s", err.msg);
    if (m) {
        test_real_artifact(m->artifact);
        test_engine_choice(m);
    }
    model_free(m);
    free(path);
}
#else
static void test_compiled(void) { fprintf(stderr, "built without NVRTC: no artifact compiled here\n"); }
#endif

int main(void) {
    test_section_names();
    test_made_up();
    test_compiled();
    return test_result();
}
