// test_cuda_gpu_kernels.c: on a GPU, every generated kernel against the
// reference interpreter on random plans of odd shapes (random weights, q4 as
// awq-gemm): a 20-token prompt (the tensor-core GEMM path), then decode steps
// (the GEMV path, replayed as a CUDA graph), then 3 tokens at once (the GEMV
// with a block row per token), logits compared step by step; and attention
// alone at a longer context.
// Skips with "no GPU: <reason>" where there is no driver or device.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/cuda/cuda_codegen.h"
#include "passes/pass.h"
#include "runtime/cuda/cuda_engine.h"
#include "runtime/interp.h"
#include "runtime/sampler.h"
#include "test_cuda_plans.h"
#include "test_cuda_gpu.h"
#include "test_support.h"

// Generating or compiling CUDA code needs NVRTC, absent from a runtime-only build.
#ifdef AWQC_CUDA_NVRTC

enum { PROMPT = 20, DECODE = 6, CHUNK = 3, CTX = 64, MAX_PROMPT = 256 };

// A run: prompt tokens through prefill, then `decode` steps, in a context of
// ctx; the GEMV steps' logits within decode_tol of the reference's.
typedef struct {
    int ctx, prompt, decode;
    double decode_tol;
} RunShape;
// f32 GEMVs: the reference's sums in another order.
static const RunShape usual = {CTX, PROMPT, DECODE, 1e-3};
// act_f16 GEMVs round x to f16 (2^-11 of each value at most, 2^-12 on
// average) and round each running f16 sum of up to 16 rows, through every
// layer; the f32 case's margin times 8 covers it with room (each plan
// prints its worst decode difference).
static const RunShape f16_acts = {CTX, PROMPT, DECODE, 8e-3};

// Checks a step's logits; returns the difference.
static double compare(const float *gpu, const float *ref, size_t n, double tol, const char *what, int step) {
    double d = interp_relative_diff(ref, gpu, n);
    CHECK_MSG(d < tol, "%s step %d: max |dlogit| / max |logit| = %.3g (tolerance %.3g)", what, step, d, tol);
    return d;
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

static void run_plan(Graph *g, const char *what, RunShape rs) {
    AwqcError err;
    Model m = {.path = "random plan", .graph = g};
    CudaEngine *e = cuda_engine_new(&m, rs.ctx, &err);
    Interp *in = interp_new(g, rs.ctx, 0, &err);
    CHECK_MSG(e && in, "%s: %s", what, err.msg);
    AWQC_ASSERT(rs.prompt <= MAX_PROMPT && rs.prompt + rs.decode + CHUNK <= rs.ctx);
    if (e && in) {
        int32_t ids[MAX_PROMPT];
        double worst = 0;
        int64_t vocab = interp_vocab(in);
        for (int i = 0; i < rs.prompt; i++) ids[i] = (int32_t)((i * 37 + 5) % vocab);
        const float *ref = interp_forward(in, ids, rs.prompt, true, &err);
        const float *gpu = cuda_engine_forward(e, ids, rs.prompt, true, &err);
        CHECK_MSG(ref && gpu, "%s", err.msg);
        if (ref && gpu) compare(gpu, ref, (size_t)(rs.prompt * vocab), 3e-2, what, 0); // f16 tensor-core inputs
        if (gpu) check_argmax(e, gpu + (size_t)(rs.prompt - 1) * (size_t)vocab, vocab, what); // the prompt's last row
        for (int s = 1; s <= rs.decode; s++) {
            int32_t id = (int32_t)((s * 101) % vocab);
            ref = interp_forward(in, &id, 1, false, &err), gpu = cuda_engine_forward(e, &id, 1, false, &err);
            CHECK_MSG(ref && gpu, "%s", err.msg);
            if (ref && gpu) worst = fmax(worst, compare(gpu, ref, (size_t)vocab, rs.decode_tol, what, s));
            if (gpu) check_argmax(e, gpu, vocab, what);
        }
        // a few tokens at once: the GEMV (split over K) with one token per block row
        int32_t more[CHUNK];
        for (int i = 0; i < CHUNK; i++) more[i] = (int32_t)((i * 53 + 11) % vocab);
        ref = interp_forward(in, more, CHUNK, true, &err), gpu = cuda_engine_forward(e, more, CHUNK, true, &err);
        CHECK_MSG(ref && gpu, "%s", err.msg);
        if (ref && gpu) worst = fmax(worst, compare(gpu, ref, (size_t)(CHUNK * vocab), rs.decode_tol, what, rs.decode + 1));
        printf("%s: worst GEMV-step logit difference %.3g (tolerance %.3g)\n", what, worst, rs.decode_tol);
    }
    cuda_engine_free(e);
    interp_free(in);
}

// A fixed plan of what the random plans never have: q4 rows an odd number of
// words (72 rows: 9 words, the GEMV's one-word loads; K = 256 in g32 splits
// over 4 blocks), f16 matrices with an odd K (69, behind a fused norm) and an
// even K that is not a multiple of 8 (70): gemv_h16's unstaged path with and
// without the norm; and a silu_mul with one reader, which the down GEMV
// computes itself at decode. Its memory is planned for a GPU target, so
// values share buffers as in a compiled model.
static const char narrow_plan[] =
    "graph \"narrow\" {\n"
    "  weight @emb : f32[301, 256]\n  weight @g : f32[256]\n"
    "  weight @gu : q4g32[512, 256] {layout = \"awq-gemm\"}\n"
    "  weight @down : q4g32[256, 256] {layout = \"awq-gemm\"}\n"
    "  weight @w : q4g32[72, 256] {layout = \"awq-gemm\"}\n"
    "  weight @g69 : f32[69]\n  weight @odd : f32[70, 69]\n  weight @head : f32[301, 70]\n"
    "  %0 = input {name = \"tokens\"} : i32[T]\n"
    "  %1 = embedding @emb, %0 : f32[T, 256]\n"
    "  %2 = rms_norm_linear %1, @g, @gu {eps = 1e-05} : f32[T, 512]\n"
    "  %3 = silu_mul %2 : f32[T, 256]\n"
    "  %4 = linear_add %3, @down, %1 : f32[T, 256]\n"
    "  %5 = rms_norm_linear %4, @g, @w {eps = 1e-05} : f32[T, 72]\n"
    "  %6 = slice %5 {offset = 1, size = 69} : f32[T, 69]\n"
    "  %7 = rms_norm_linear %6, @g69, @odd {eps = 1e-05} : f32[T, 70]\n"
    "  %8 = linear %7, @head : f32[T, 301]\n"
    "  output %8\n}\n";

// Multiplies weight `name` by factor (a power of two: exact, also in f16).
static void scale_weight(Graph *g, const char *name, float factor) {
    Weight *w = &g->weights[ir_find_weight(g, name)];
    for (int64_t i = 0; i < ir_type_elements(&w->type); i++) w->data[i] *= factor;
}

// Marks the plan's q4 linears act_f16 as awqc compile --act f16 does (the
// quantize-acts pass), checking that n were marked.
static void mark_f16_acts(Graph *g, int n, const char *what) {
    AwqcError err;
    bool changed;
    PassContext ctx = {.target = "cuda:sm_90", .ctx = CTX};
    ir_set_meta(g, "quantize_acts", ir_attr_string("", "f16"));
    CHECK_MSG(pass_quantize_acts(g, &ctx, &changed, &err), "%s: %s", what, err.msg);
    int marked = 0;
    for (size_t i = 0; i < g->n_nodes; i++) marked += ir_node_attr_int(&g->nodes[i], "act_f16", 0) == 1;
    CHECK_MSG(marked == n, "%s: %d nodes marked act_f16, expected %d", what, marked, n);
}

// The q4 GEMVs' copy stages, as awqc compile --gemv-stages sets them.
static void set_gemv_stages(Graph *g, int stages) { ir_set_meta(g, "cuda_gemv_stages", ir_attr_int("", stages)); }

// The f16 and stages template arguments a q4 GEMV's name ends with ("_1_2").
static void check_gemv_variant(const char *name, bool f16, int stages, const char *what) {
    size_t len = strlen(name);
    CHECK_MSG(len > 4 && name[len - 3] == (f16 ? '1' : '0') && name[len - 1] == '0' + stages, "%s: %s", what, name);
}

// The logits of a 2-token prompt (GEMVs: below CUDA_MMA_MIN_T) of g, bound,
// with its q4 GEMVs in `stages` stages; NULL after a failed check.
static float *gemv_logits(Graph *g, int stages, size_t *n, const char *what) {
    AwqcError err;
    set_gemv_stages(g, stages);
    Model m = {.path = "random plan", .graph = g};
    CudaEngine *e = cuda_engine_new(&m, 16, &err);
    CHECK_MSG(e, "%s: %s", what, err.msg);
    if (!e) return NULL;
    int32_t ids[2] = {7, 300};
    const float *out = cuda_engine_forward(e, ids, 2, true, &err);
    CHECK_MSG(out, "%s: %s", what, err.msg);
    float *copy = NULL;
    if (out) {
        *n = 2 * (size_t)cuda_engine_vocab(e);
        copy = xmalloc(*n * sizeof *copy);
        memcpy(copy, out, *n * sizeof *copy);
    }
    cuda_engine_free(e);
    return copy;
}

// Double buffering changes when rows are copied, not what is summed: the
// same bits with 1 and 2 stages (f16 sums flushed at the same rows).
static void check_stages_same_sums(Graph *g, const char *what) {
    size_t n1 = 0, n2 = 0;
    float *one = gemv_logits(g, 1, &n1, what), *two = gemv_logits(g, 2, &n2, what);
    if (one && two) {
        size_t differ = 0;
        for (size_t i = 0; i < n1; i++) differ += memcmp(&one[i], &two[i], sizeof *one) != 0;
        CHECK_MSG(n1 == n2 && differ == 0, "%s: %zu of %zu logits differ between 1 and 2 GEMV stages", what, differ, n1);
        printf("%s: 1 and 2 GEMV stages give the same %zu logits bit for bit\n", what, n1);
    }
    free(one);
    free(two);
}

static void run_narrow_plan(bool f16, int stages) {
    AwqcError err;
    char what[64];
    snprintf(what, sizeof what, "narrow plan%s, %d stage%s", f16 ? ", act_f16" : "", stages, stages > 1 ? "s" : "");
    Graph *g = parse_or_fail(narrow_plan, what);
    if (!g) return;
    bool changed;
    PassContext ctx = {.target = "cuda:sm_90", .ctx = CTX};
    CHECK_MSG(pass_plan_memory(g, &ctx, &changed, &err), "%s", err.msg);
    if (f16) mark_f16_acts(g, 3, what);
    set_gemv_stages(g, stages);
    CudaNodeLaunches silu, down;
    CHECK(cuda_node_launches(g, 3, 1, &silu, &err) && silu.n == 0); // folded at decode
    CHECK(cuda_node_launches(g, 4, 1, &down, &err) && down.n == 1 && down.l[0].x_through_producer);
    check_gemv_variant(down.l[0].name, f16, stages, what);
    bind_plan(g);
    run_plan(g, what, f16 ? f16_acts : usual);
    if (stages == 2) check_stages_same_sums(g, what); // units of 8 rows: batches of 8, or 2 of 4
    ir_graph_free(g);
}

// One deep q4 GEMV with act_f16 at the shape class of Llama-2-7B's (K =
// 16384, g128): enough blocks that the GEMV keeps units of 16 rows (R 16), so
// its f16 sums span two cp.async batches before they go to f32, which the
// small plans (R 8) never do; and x large (embeddings times 2^18: up to
// 26000 before the norm, which the f16 GEMV reads) to show the headroom of
// its 2^-8 scaling. Only the GEMV runs (prompts below CUDA_MMA_MIN_T).
static const char deep_plan[] =
    "graph \"deep\" {\n"
    "  weight @emb : f32[301, 16384]\n  weight @g : f32[16384]\n"
    "  weight @w : q4g128[2048, 16384] {layout = \"awq-gemm\"}\n  weight @head : f32[301, 2048]\n"
    "  %0 = input {name = \"tokens\"} : i32[T]\n"
    "  %1 = embedding @emb, %0 : f32[T, 16384]\n"
    "  %2 = rms_norm_linear %1, @g, @w {eps = 1e-05} : f32[T, 2048]\n"
    "  %3 = linear %2, @head : f32[T, 301]\n"
    "  output %3\n}\n";

// With 2 stages the 16 rows go in 4 batches of 4, two slots in turn.
static void run_deep_plan(void) {
    AwqcError err;
    Graph *g = parse_or_fail(deep_plan, "deep plan");
    if (!g) return;
    mark_f16_acts(g, 1, "deep plan");
    CudaNodeLaunches nl;
    CHECK(cuda_node_launches(g, 2, 1, &nl, &err) && nl.n == 1);
    CHECK_MSG(strncmp(nl.l[0].name, "gemv_q4_2048_16384_128_4_16_", 28) == 0, "deep plan: %s (want VW 4, R 16)",
              nl.l[0].name);
    bind_plan(g);
    scale_weight(g, "emb", 262144.0f); // 2^18
    for (int stages = 1; stages <= 2; stages++) {
        char what[48];
        snprintf(what, sizeof what, "deep plan, act_f16, %d stage%s", stages, stages > 1 ? "s" : "");
        set_gemv_stages(g, stages);
        CHECK(cuda_node_launches(g, 2, 1, &nl, &err) && nl.n == 1);
        check_gemv_variant(nl.l[0].name, true, stages, what);
        run_plan(g, what, (RunShape){.ctx = 16, .prompt = 2, .decode = 3, .decode_tol = 8e-3});
    }
    check_stages_same_sums(g, "deep plan, act_f16");
    ir_graph_free(g);
}

// Attention alone at a context long enough that a decode step's blocks take
// several rounds of rows each: 32 heads split the context 8 ways, so at 141
// to 144 tokens a block has 18 rows, more than its 4 warps take at once (16).
// The embeddings are scaled up (by 32, exact in f16) so the scores spread
// over a few units and every row's probability shows in the output: with
// the plans' small weights attention is nearly a plain mean of V, which a
// kernel that skips a row would still match.
static const char long_plan[] =
    "graph \"long\" {\n"
    "  weight @emb : f32[301, 768]\n  weight @head : f32[301, 512]\n"
    "  %0 = input {name = \"tokens\"} : i32[T]\n"
    "  %1 = embedding @emb, %0 : f32[T, 768]\n"
    "  %2 = rope_attention %1 {heads = 32, kv_heads = 8, head_dim = 16, theta = 10000.0, mode = \"pairs\"} : f32[T, 512]\n"
    "  %3 = linear %2, @head : f32[T, 301]\n"
    "  output %3\n}\n";

static void run_long_plan(void) {
    AwqcError err;
    Graph *g = parse_or_fail(long_plan, "long plan");
    if (!g) return;
    CudaNodeLaunches attn;
    CHECK(cuda_node_launches(g, 2, 1, &attn, &err) && attn.n == 1 && attn.l[0].grid_x == 32 * 8);
    bind_plan(g);
    scale_weight(g, "emb", 32.0f);
    run_plan(g, "long plan", (RunShape){.ctx = 160, .prompt = 140, .decode = 4, .decode_tol = 1e-3});
    ir_graph_free(g);
}

int main(void) {
    skip_without_gpu();
    for (int stages = 1; stages <= 2; stages++) {
        run_narrow_plan(false, stages);
        run_narrow_plan(true, stages);
    }
    run_long_plan();
    // rounds 4 and 5: act_f16 (the random plans have 4 q4 linears); odd rounds: 2 GEMV stages
    for (int round = 0; round < 6; round++) {
        Shape s = random_shape();
        bool f16 = round >= 4;
        int stages = round % 2 ? 2 : 1;
        char *text = plan_text(&s), what[160];
        snprintf(what, sizeof what, "plan dim %d heads %d/%d hd %d ffn %d g%d vocab %d%s, %d GEMV stage%s", s.dim,
                 s.heads, s.kv_heads, s.head_dim, s.ffn, s.group, s.vocab, f16 ? ", act_f16" : "", stages,
                 stages > 1 ? "s" : "");
        Graph *g = parse_or_fail(text, what);
        if (g) {
            if (f16) mark_f16_acts(g, 4, what);
            set_gemv_stages(g, stages);
            bind_plan(g);
            run_plan(g, what, f16 ? f16_acts : usual);
        }
        ir_graph_free(g);
        free(text);
    }
    run_deep_plan(); // after the random plans: its binding would change their shapes
    return test_result();
}
#else
int main(void) { test_skip("built without NVRTC (AWQC_CUDA_RUNTIME_ONLY)"); }
#endif
