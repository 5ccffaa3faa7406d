// awq_gemm.c: packing a 4-bit QuantMatrix into the AutoAWQ GEMM tensors
// (qweight, qzeros, scales) and back, shape validation of tensors read from a
// checkpoint, the GEMV qweight layout (AWQ-SPEC.md section 6), and awqc's
// packed INT3 codes. The GEMM and INT3 bit orders live in ir/layout.c, shared
// with the checkpoint reader and the pack-weights pass.
#include "quantizer/awq_gemm.h"

#include <stdlib.h>
#include <string.h>

#include "ir/layout.h"

// ----------------------------------------------------------------------------
// GEMM pack

static bool check_packable(const QuantMatrix *m, int64_t along, const char *what, AwqcError *err) {
    if (m->bits != 4) return awqc_fail(err, "AutoAWQ layouts hold 4-bit weights, not %d-bit", m->bits);
    if (along % AWQ_PACK != 0)
        return awqc_fail(err, "%s %lld is not a multiple of %d", what, (long long)along, AWQ_PACK);
    return true;
}

bool awq_gemm_pack(const QuantMatrix *m, AwqGemm *p, AwqcError *err) {
    memset(p, 0, sizeof *p);
    AWQC_ASSERT(m->q && m->group > 0 && m->cols % m->group == 0);
    if (!check_packable(m, m->rows, "out_features", err)) return false;
    int64_t in = m->cols, out = m->rows, out8 = out / AWQ_PACK, n_groups = quant_n_groups(m);
    *p = (AwqGemm){.in = in, .out = out, .group = m->group};
    p->qweight = xmalloc((size_t)(in * out8) * sizeof *p->qweight);
    p->qzeros = xmalloc((size_t)(n_groups * out8) * sizeof *p->qzeros);
    p->scales = xmalloc((size_t)(n_groups * out) * sizeof *p->scales);
    // Little-endian bytes, which is how the int32 arrays are written out.
    ir_gemm_pack_parts(m, (uint8_t *)p->qweight, (uint8_t *)p->qzeros, (uint8_t *)p->scales);
    return true;
}

void awq_gemm_free(AwqGemm *p) {
    if (!p) return;
    free(p->qweight);
    free(p->qzeros);
    free(p->scales);
    memset(p, 0, sizeof *p);
}

// ----------------------------------------------------------------------------
// GEMM unpack

bool awq_gemm_unpack(const AwqGemm *p, QuantMatrix *out, AwqcError *err) {
    memset(out, 0, sizeof *out);
    if (p->out <= 0 || p->out % AWQ_PACK != 0)
        return awqc_fail(err, "out_features %lld is not a positive multiple of %d", (long long)p->out, AWQ_PACK);
    if (!quant_matrix_init(out, p->out, p->in, 4, p->group, err)) return false;
    ir_gemm_unpack_parts((const uint8_t *)p->qweight, (const uint8_t *)p->qzeros, (const uint8_t *)p->scales, out);
    return true;
}

// ----------------------------------------------------------------------------
// GEMM import from checkpoint tensors

// Type, rank 2, present data and a byte size that matches the shape.
static bool check_tensor(const CkptTensor *t, const void *data, StorageType type, size_t elem, AwqcError *err) {
    if (t->type != type)
        return awqc_fail(err, "%s: storage type %s, expected %s", t->name, ckpt_storage_name(t->type),
                         ckpt_storage_name(type));
    if (t->rank != 2) return awqc_fail(err, "%s: rank %d, expected 2", t->name, t->rank);
    int64_t n;
    if (t->shape[0] <= 0 || t->shape[1] <= 0 || __builtin_mul_overflow(t->shape[0], t->shape[1], &n) ||
        n != t->n_elements || t->nbytes != (uint64_t)n * elem)
        return awqc_fail(err, "%s: shape [%lld, %lld] does not match its %llu bytes", t->name,
                         (long long)t->shape[0], (long long)t->shape[1], (unsigned long long)t->nbytes);
    if (!data) return awqc_fail(err, "%s: no data", t->name);
    return true;
}

static bool check_shape(const CkptTensor *t, int64_t d0, int64_t d1, const char *why, AwqcError *err) {
    if (t->shape[0] == d0 && t->shape[1] == d1) return true;
    return awqc_fail(err, "%s: shape [%lld, %lld], expected [%lld, %lld] (%s)", t->name, (long long)t->shape[0],
                     (long long)t->shape[1], (long long)d0, (long long)d1, why);
}

static bool check_gemm_tensors(const AwqGemmTensors *t, int group, AwqcError *err) {
    if (!t->qweight || !t->qzeros || !t->scales)
        return awqc_fail(err, "AWQ GEMM linear needs qweight, qzeros and scales tensors");
    if (!check_tensor(t->qweight, t->qweight_data, ST_I32, 4, err) ||
        !check_tensor(t->qzeros, t->qzeros_data, ST_I32, 4, err) ||
        !check_tensor(t->scales, t->scales_data, ST_F16, 2, err))
        return false;
    int64_t in = t->qweight->shape[0], out8 = t->qweight->shape[1];
    if (group <= 0 || in % group != 0)
        return awqc_fail(err, "%s: in_features %lld is not a multiple of the group size %d", t->qweight->name,
                         (long long)in, group);
    return check_shape(t->qzeros, in / group, out8, "[in/group, out/8] from qweight and the group size", err) &&
           check_shape(t->scales, in / group, out8 * AWQ_PACK, "[in/group, out] from qweight and the group size",
                       err);
}

bool awq_gemm_import(const AwqGemmTensors *t, int group, QuantMatrix *out, AwqcError *err) {
    memset(out, 0, sizeof *out);
    if (!check_gemm_tensors(t, group, err)) return false;
    int64_t in = t->qweight->shape[0], out_features = t->qweight->shape[1] * AWQ_PACK;
    if (!quant_matrix_init(out, out_features, in, 4, group, err)) return false;
    ir_gemm_unpack_parts(t->qweight_data, t->qzeros_data, t->scales_data, out);
    return true;
}

// ----------------------------------------------------------------------------
// GEMV qweight: plain order along the input dimension

bool awq_gemv_pack_qweight(const QuantMatrix *m, int32_t **qweight, AwqcError *err) {
    *qweight = NULL;
    if (!check_packable(m, m->cols, "in_features", err)) return false;
    int64_t in8 = m->cols / AWQ_PACK;
    int32_t *dst = xmalloc((size_t)(m->rows * in8) * sizeof *dst);
    for (int64_t r = 0; r < m->rows; r++) {
        for (int64_t c = 0; c < in8; c++) {
            const uint8_t *src = m->q + r * m->cols + c * AWQ_PACK;
            uint32_t word = 0;
            for (int i = 0; i < AWQ_PACK; i++) word |= (uint32_t)(src[i] & 0xf) << (4 * i);
            dst[r * in8 + c] = (int32_t)word;
        }
    }
    *qweight = dst;
    return true;
}

bool awq_gemv_unpack_qweight(const int32_t *qweight, QuantMatrix *m, AwqcError *err) {
    if (!check_packable(m, m->cols, "in_features", err)) return false;
    int64_t in8 = m->cols / AWQ_PACK;
    for (int64_t r = 0; r < m->rows; r++) {
        for (int64_t c = 0; c < in8; c++) {
            uint32_t word = (uint32_t)qweight[r * in8 + c];
            uint8_t *dst = m->q + r * m->cols + c * AWQ_PACK;
            for (int i = 0; i < AWQ_PACK; i++) dst[i] = (uint8_t)((word >> (4 * i)) & 0xf);
        }
    }
    return true;
}

// ----------------------------------------------------------------------------
// awqc INT3

uint8_t *awqc_u3_pack(const QuantMatrix *m) {
    AWQC_ASSERT(m->bits == 3 && m->cols % 8 == 0);
    uint8_t *out = xmalloc((size_t)(m->rows * (m->cols / 8 * 3)));
    ir_u3_pack_codes(m, out);
    return out;
}
