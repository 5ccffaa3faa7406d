// test_cuda_gpu_kernels.c: on a GPU, every generated kernel against the
// reference interpreter on random plans of odd shapes (random weights, q4 as
// awq-gemm): a 20-token prompt (the tensor-core GEMM path), then decode steps
// (the GEMV path, replayed as a CUDA graph), logits compared step by step.
// Skips with "no GPU: <reason>" where there is no driver or device.
#include <stdlib.h>
#include <string.h>

#include "runtime/cuda/cuda_engine.h"
#include "runtime/interp.h"
#include "runtime/sampler.h"
#include "test_cuda_plans.h"
#include "test_cuda_gpu.h"
#include "test_support.h"

// Generating or compiling CUDA code needs NVRTC, absent from a runtime-only build.
#ifdef AWQC_CUDA_NVRTC

enum { PROMPT = 20, DECODE = 6, CTX = 64 };

static void compare(const float *gpu, const float *ref, size_t n, double tol, const char *what, int step) {
    double d = interp_relative_diff(ref, gpu, n);
    CHECK_MSG(d < tol, "%s step %d: max |dlogit| / max |logit| = %.3g (tolerance %.3g)", what, step, d, tol);
}

// The device argmax picks what the host picks from the same logits (those of
// the last forward's last row).
static void check_argmax(CudaEngine *e, const float *last_row, int64_t vocab, const char *what) {
    AwqcError err;
    int32_t pick = -1;
    CHECK_MSG(cuda_engine_argmax(e, &pick, &err), "%s", err.msg);
    int32_t host = argmax(last_row, vocab);
    CHECK_MSG(pick == host, "%s: device argmax %d, host %d", what, pick, host);
}

static void run_plan(Graph *g, const char *what) {
    AwqcError err;
    Model m = {.path = "random plan", .graph = g};
    CudaEngine *e = cuda_engine_new(&m, CTX, &err);
    Interp *in = interp_new(g, CTX, 0, &err);
    CHECK_MSG(e && in, "%s: %s", what, err.msg);
    if (e && in) {
        int32_t ids[PROMPT];
        int64_t vocab = interp_vocab(in);
        for (int i = 0; i < PROMPT; i++) ids[i] = (int32_t)((i * 37 + 5) % vocab);
        const float *ref = interp_forward(in, ids, PROMPT, true, &err), *gpu = cuda_engine_forward(e, ids, PROMPT, true, &err);
        CHECK_MSG(ref && gpu, "%s", err.msg);
        if (ref && gpu) compare(gpu, ref, (size_t)(PROMPT * vocab), 3e-2, what, 0); // f16 tensor-core inputs
        if (gpu) check_argmax(e, gpu + (size_t)(PROMPT - 1) * (size_t)vocab, vocab, what); // the prompt's last row
        for (int s = 1; s <= DECODE; s++) {
            int32_t id = (int32_t)((s * 101) % vocab);
            ref = interp_forward(in, &id, 1, false, &err), gpu = cuda_engine_forward(e, &id, 1, false, &err);
            CHECK_MSG(ref && gpu, "%s", err.msg);
            if (ref && gpu) compare(gpu, ref, (size_t)vocab, 1e-3, what, s);
            if (gpu) check_argmax(e, gpu, vocab, what);
        }
    }
    cuda_engine_free(e);
    interp_free(in);
}

int main(void) {
    AwqcError err;
    skip_without_gpu();
    for (int round = 0; round < 4; round++) {
        Shape s = random_shape();
        char *text = plan_text(&s), what[128];
        snprintf(what, sizeof what, "plan dim %d heads %d/%d hd %d ffn %d g%d vocab %d", s.dim, s.heads, s.kv_heads,
                 s.head_dim, s.ffn, s.group, s.vocab);
        Graph *g = ir_parse(text, what, &err);
        CHECK_MSG(g != NULL, "%s", err.msg);
        if (g) {
            bind_plan(g);
            run_plan(g, what);
        }
        ir_graph_free(g);
        free(text);
    }
    return test_result();
}
#else
int main(void) { test_skip("built without NVRTC (AWQC_CUDA_RUNTIME_ONLY)"); }
#endif
