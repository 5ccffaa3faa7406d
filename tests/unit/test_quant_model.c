// test_quant_model.c: RTN on the real default model (SmolLM2-135M, GGUF).
// blk.0.attn_q.weight at W4 g64 must have a small relative Frobenius error,
// coarser settings must be worse, and the AutoAWQ GEMM packing must round-trip
// bit-exactly. Also prints the time to quantize one layer's linears (x30).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/ckpt/checkpoint.h"
#include "quantizer/awq_gemm.h"
#include "test_support.h"

// ----------------------------------------------------------------------------
// Helpers

typedef struct {
    float *w;
    int64_t rows, cols;
} Weight2D;

static Weight2D load_weight(const Checkpoint *c, const char *name) {
    Weight2D out = {0};
    AwqcError err;
    const CkptTensor *t = ckpt_find_tensor(c, name);
    CHECK_MSG(t && t->rank == 2 && ckpt_tensor_loadable(t), "%s missing or not a loadable matrix", name);
    if (!t || t->rank != 2 || !ckpt_tensor_loadable(t)) return out;
    out.w = xmalloc((size_t)t->n_elements * sizeof *out.w);
    if (!ckpt_load_f32(c, t, out.w, &err)) AWQC_PANIC("%s", err.msg);
    out.rows = t->shape[0];
    out.cols = t->shape[1];
    return out;
}

// ||W - deq(Q(W))||_F / ||W||_F, or -1 on a quantizer error.
static double rtn_rel_error(const Weight2D *w, int bits, int group) {
    QuantMatrix m;
    AwqcError err;
    if (!quant_rtn(w->w, w->rows, w->cols, bits, group, &m, &err)) {
        CHECK_MSG(false, "%s", err.msg);
        return -1;
    }
    size_t n = (size_t)(w->rows * w->cols);
    float *deq = xmalloc(n * sizeof *deq);
    quant_dequantize(&m, deq);
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)w->w[i] - deq[i];
        num += d * d;
        den += (double)w->w[i] * w->w[i];
    }
    free(deq);
    quant_matrix_free(&m);
    return sqrt(num / den);
}

// ----------------------------------------------------------------------------
// Checks

static void check_attn_q(const Checkpoint *c) {
    Weight2D w = load_weight(c, "blk.0.attn_q.weight");
    if (!w.w) return;
    CHECK(w.rows == 576 && w.cols == 576);
    double e4g32 = rtn_rel_error(&w, 4, 32), e4g64 = rtn_rel_error(&w, 4, 64);
    double e4g192 = rtn_rel_error(&w, 4, 192), e3g64 = rtn_rel_error(&w, 3, 64);
    printf("blk.0.attn_q.weight RTN relative Frobenius error: W4 g32 %.4f, g64 %.4f, g192 %.4f; W3 g64 %.4f\n",
           e4g32, e4g64, e4g192, e3g64);
    CHECK_MSG(e4g64 > 0.05 && e4g64 < 0.15, "W4 g64 error %.4f", e4g64);
    CHECK(e4g32 < e4g64 && e4g64 < e4g192);
    CHECK(e3g64 > 1.5 * e4g64);

    // The model's hidden size 576 is not a multiple of 128: g128 must refuse.
    QuantMatrix m, back;
    AwqGemm p;
    AwqcError err;
    CHECK(!quant_rtn(w.w, w.rows, w.cols, 4, 128, &m, &err) &&
          strstr(err.msg, "group size 128 does not divide in_features 576"));
    CHECK(quant_rtn(w.w, w.rows, w.cols, 4, 64, &m, &err));
    CHECK_MSG(awq_gemm_pack(&m, &p, &err), "%s", err.msg);
    CHECK_MSG(awq_gemm_unpack(&p, &back, &err), "%s", err.msg);
    CHECK(memcmp(m.q, back.q, (size_t)(m.rows * m.cols)) == 0);
    CHECK(memcmp(m.zeros, back.zeros, (size_t)(m.rows * quant_n_groups(&m))) == 0);
    CHECK(memcmp(m.scales, back.scales, (size_t)(m.rows * quant_n_groups(&m)) * 2) == 0);
    quant_matrix_free(&back);
    awq_gemm_free(&p);
    quant_matrix_free(&m);
    free(w.w);
}

// Times RTN (W4 g64) plus GEMM packing of layer 0's seven linears.
static void time_one_layer(const Checkpoint *c) {
    static const char *const names[] = {"attn_q",   "attn_k", "attn_v",  "attn_output",
                                        "ffn_gate", "ffn_up", "ffn_down"};
    double secs = 0;
    int64_t params = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "blk.0.%s.weight", names[i]);
        Weight2D w = load_weight(c, name);
        if (!w.w) continue;
        QuantMatrix m;
        AwqGemm p;
        AwqcError err;
        double t0 = awqc_now();
        CHECK_MSG(quant_rtn(w.w, w.rows, w.cols, 4, 64, &m, &err), "%s: %s", name, err.msg);
        CHECK_MSG(awq_gemm_pack(&m, &p, &err), "%s: %s", name, err.msg);
        secs += awqc_now() - t0;
        params += w.rows * w.cols;
        awq_gemm_free(&p);
        quant_matrix_free(&m);
        free(w.w);
    }
    printf("RTN W4 g64 + GEMM pack of layer 0 (%lld weights): %.1f ms; all 30 layers: about %.2f s\n",
           (long long)params, secs * 1e3, secs * 30);
}

int main(void) {
    const char *path = test_model_or_skip();
    AwqcError err;
    Checkpoint *c = ckpt_open(path, &err);
    CHECK_MSG(c != NULL, "%s", err.msg);
    if (!c) return test_result();
    check_attn_q(c);
    time_one_layer(c);
    ckpt_close(c);
    return test_result();
}
