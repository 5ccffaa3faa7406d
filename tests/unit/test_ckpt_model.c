// test_ckpt_model.c: the GGUF reader on the real default model
// (SmolLM2-135M-Instruct, Q4_1): metadata, tensor table, shapes and types, and
// dequantized values cross-checked against the python `gguf` package.
// Skips when the model is not cached.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/ckpt/checkpoint.h"
#include "test_support.h"

// ----------------------------------------------------------------------------
// Reference values, printed by this one-off with the python `gguf` package:
//
//   python3 -c "
//   import numpy as np, gguf, os
//   r = gguf.GGUFReader(os.path.expanduser('~/.cache/awqc/SmolLM2-135M-Instruct.Q4_1.gguf'))
//   t = {x.name: x for x in r.tensors}
//   q = t['blk.0.attn_q.weight']
//   a = gguf.quants.dequantize(q.data, q.tensor_type).astype(np.float32).reshape(-1)
//   print([repr(float(v)) for v in a[:8]], repr(float(a.astype(np.float64).sum())))
//   e = t['token_embd.weight']
//   b = gguf.quants.dequantize(e.data, e.tensor_type).astype(np.float32)
//   print([repr(float(v)) for v in b[100][:8]], repr(float(b[100].astype(np.float64).sum())))"

static const double ATTN_Q_FIRST8[8] = {
    -0.0963134765625, 0.1573486328125, -0.0963134765625, -0.73046875,
    1.1719970703125,  -0.0963134765625, 0.030517578125,  0.6646728515625,
};
static const double ATTN_Q_SUM = 59.22322082519531;
static const double EMBD_ROW100_FIRST8[8] = {
    0.019052505493164062, -0.08437538146972656, -0.1660289764404297, -0.10070610046386719,
    0.17147254943847656,  -0.0027217864990234375, -0.10070610046386719, -0.03266143798828125,
};
static const double EMBD_ROW100_SUM = 2.175539016723633;

static bool close_rel(double got, double want) { return fabs(got - want) <= 1e-6 * fabs(want); }

// ----------------------------------------------------------------------------
// Checks

static void check_metadata(const Checkpoint *c) {
    const char *arch = NULL;
    int64_t blocks = 0;
    MetaArray a;
    CHECK(ckpt_meta_string(c, "general.architecture", &arch) && strcmp(arch, "llama") == 0);
    CHECK(ckpt_meta_int(c, "llama.block_count", &blocks) && blocks == 30);
    CHECK(ckpt_meta_array(c, "tokenizer.ggml.tokens", &a) && a.elem_kind == META_STRING && a.len == 49152);
    if (a.len == 49152) CHECK(a.strs[0] != NULL && a.strs[49151] != NULL);
    CHECK(ckpt_meta_array(c, "tokenizer.ggml.merges", &a) && a.elem_kind == META_STRING && a.len == 48900);
}

static const CkptTensor *expect_tensor(const Checkpoint *c, const char *name, StorageType type, int64_t d0,
                                       int64_t d1) {
    const CkptTensor *t = ckpt_find_tensor(c, name);
    CHECK_MSG(t != NULL, "%s missing", name);
    if (!t) return NULL;
    CHECK_MSG(t->type == type, "%s is %s", name, ckpt_storage_name(t->type));
    CHECK(t->rank == 2 && t->shape[0] == d0 && t->shape[1] == d1 && t->n_elements == d0 * d1);
    return t;
}

static float *load(const Checkpoint *c, const CkptTensor *t) {
    float *v = malloc((size_t)t->n_elements * sizeof(float));
    AwqcError err = {{0}};
    bool ok = ckpt_load_f32(c, t, v, &err);
    CHECK_MSG(ok, "%s", err.msg);
    if (!ok) {
        free(v);
        return NULL;
    }
    return v;
}

static void check_values(const char *what, const float *v, int64_t n, const double *first8, double sum) {
    double s = 0;
    bool finite = true;
    for (int64_t i = 0; i < n; i++) {
        finite = finite && isfinite(v[i]);
        s += v[i];
    }
    CHECK_MSG(finite, "%s has non-finite values", what);
    for (int i = 0; i < 8; i++) CHECK_MSG(close_rel(v[i], first8[i]), "%s[%d] = %.9g, want %.9g", what, i, v[i], first8[i]);
    CHECK_MSG(close_rel(s, sum), "%s sum = %.12g, want %.12g", what, s, sum);
}

static void check_tensors(const Checkpoint *c) {
    CHECK(ckpt_tensor_count(c) == 272);
    const CkptTensor *embd = expect_tensor(c, "token_embd.weight", ST_Q8_0, 49152, 576);
    expect_tensor(c, "blk.0.attn_k.weight", ST_Q4_1, 192, 576);
    const CkptTensor *q = expect_tensor(c, "blk.0.attn_q.weight", ST_Q4_1, 576, 576);
    if (q) {
        float *v = load(c, q);
        if (v) check_values("blk.0.attn_q.weight", v, q->n_elements, ATTN_Q_FIRST8, ATTN_Q_SUM);
        free(v);
    }
    if (embd) {
        // Row 100 alone, through the dequantizer on the raw blocks (34 bytes per 32).
        const uint8_t *raw = ckpt_raw_data(c, embd);
        float row[576];
        dequant_q8_0(raw + 100 * (576 / 32) * 34, row, 576);
        check_values("token_embd.weight[100]", row, 576, EMBD_ROW100_FIRST8, EMBD_ROW100_SUM);
    }
    const CkptTensor *norm = ckpt_find_tensor(c, "blk.0.attn_norm.weight");
    CHECK(norm && norm->type == ST_F32 && norm->rank == 1 && norm->shape[0] == 576);
}

int main(void) {
    const char *path = test_model_or_skip();
    AwqcError err = {{0}};
    Checkpoint *c = ckpt_open(path, &err);
    CHECK_MSG(c != NULL, "%s", err.msg);
    if (!c) return test_result();
    CHECK(ckpt_format(c) == CKPT_GGUF);
    check_metadata(c);
    check_tensors(c);
    ckpt_close(c);
    return test_result();
}
