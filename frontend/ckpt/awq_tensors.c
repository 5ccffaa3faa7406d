// awq_tensors.c: presents the quantized linears of an AWQ folder as ordinary
// "X.weight" tensors [out, in] that ckpt_load_f32 dequantizes (or ckpt_load_codes
// hands over as codes), so a model description binds a quantized checkpoint
// exactly like a floating-point one.
// Two layouts: AutoAWQ "GEMM" INT4 (AWQ-SPEC.md section 6) and awqc's INT3
// (docs/awqc-int3.md), decoded by ir/layout.h's packers (the one place their
// bit order is written) and dequantized by quant_dequantize, bit for bit.
#include <stdlib.h>
#include <string.h>

#include "frontend/ckpt/ckpt_internal.h"
#include "ir/layout.h"

// ----------------------------------------------------------------------------
// quantization_config

typedef enum { AWQ_NONE, AWQ_GEMM4, AWQC_U3 } AwqLayout;

static bool meta_str_is(const Checkpoint *c, const char *key, const char *want) {
    const char *v = NULL;
    return ckpt_meta_string(c, key, &v) && strcmp(v, want) == 0;
}

bool ckpt_awq_config(const Checkpoint *c, int *bits, int *group) {
    int64_t b, g;
    if (!ckpt_meta_int(c, "quantization_config.bits", &b) || !ckpt_meta_int(c, "quantization_config.group_size", &g))
        return false;
    *bits = (int)b;
    *group = (int)g;
    return true;
}

static bool config_layout(const Checkpoint *c, AwqLayout *layout, int *group, AwqcError *err) {
    *layout = AWQ_NONE;
    if (ckpt_meta_kind(c, "quantization_config.quant_method") == META_NONE) return true;
    int bits;
    bool awq = meta_str_is(c, "quantization_config.quant_method", "awq");
    bool awqc = meta_str_is(c, "quantization_config.quant_method", "awqc");
    if (!awq && !awqc) return true; // another method: its tensors simply are not loadable
    if (!ckpt_awq_config(c, &bits, group) || *group <= 0)
        return awqc_fail(err, "%s/config.json: quantization_config needs integer bits and group_size > 0", c->dir);
    if (awq && (bits != 4 || !meta_str_is(c, "quantization_config.version", "gemm")))
        return awqc_fail(err, "%s/config.json: AWQ with bits %d, version other than \"gemm\": only 4-bit GEMM is supported",
                         c->dir, bits);
    if (awqc && bits != 3)
        return awqc_fail(err, "%s/config.json: quant_method \"awqc\" with bits %d: that layout is INT3 only", c->dir, bits);
    *layout = awq ? AWQ_GEMM4 : AWQC_U3;
    return true;
}

// ----------------------------------------------------------------------------
// checking the parts

static const CkptEntry *part(const Checkpoint *c, const char *base, const char *suffix, int64_t *index,
                             AwqcError *err) {
    char *name = awqc_asprintf("%s.%s", base, suffix);
    int64_t i = name_index_find(&c->tensor_index, name);
    if (i < 0) awqc_fail(err, "%s: quantized linear '%s' has no tensor '%s'", c->dir, base, name);
    free(name);
    *index = i;
    return i < 0 ? NULL : &c->tensors[i];
}

static bool expect(const Checkpoint *c, const CkptEntry *e, StorageType type, int64_t d0, int64_t d1, AwqcError *err) {
    const CkptTensor *t = &e->info;
    if (t->type != type)
        return awqc_fail(err, "%s: tensor '%s': dtype %s, expected %s", c->dir, t->name, ckpt_storage_name(t->type),
                         ckpt_storage_name(type));
    if (t->rank != 2 || t->shape[0] != d0 || t->shape[1] != d1)
        return awqc_fail(err, "%s: tensor '%s': shape %s[%lld, %lld], expected [%lld, %lld]", c->dir, t->name,
                         t->rank != 2 ? "of another rank, not " : "", (long long)t->shape[0],
                         (long long)(t->rank > 1 ? t->shape[1] : 0), (long long)d0, (long long)d1);
    return true;
}

// GEMM: qweight I32 [in, out/8], qzeros I32 [in/g, out/8], scales F16 [in/g, out].
static bool check_gemm(const Checkpoint *c, const CkptEntry *p[3], int group, int64_t *out_f, int64_t *in_f,
                       AwqcError *err) {
    const CkptTensor *qw = &p[0]->info;
    if (qw->rank != 2 || qw->type != ST_I32)
        return awqc_fail(err, "%s: tensor '%s': expected an I32 matrix [in, out/8]", c->dir, qw->name);
    *in_f = qw->shape[0];
    *out_f = qw->shape[1] * 8;
    if (*in_f % group)
        return awqc_fail(err, "%s: tensor '%s': %lld input features, not a multiple of group_size %d", c->dir,
                         qw->name, (long long)*in_f, group);
    return expect(c, p[1], ST_I32, *in_f / group, *out_f / 8, err) &&
           expect(c, p[2], ST_F16, *in_f / group, *out_f, err);
}

// INT3: qcodes U8 [out, in*3/8], qzeros U8 [out, in/g], scales F16 [out, in/g].
static bool check_u3(const Checkpoint *c, const CkptEntry *p[3], int group, int64_t *out_f, int64_t *in_f,
                     AwqcError *err) {
    const CkptTensor *qc = &p[0]->info;
    if (qc->rank != 2 || qc->type != ST_U8 || qc->shape[1] % 3)
        return awqc_fail(err, "%s: tensor '%s': expected a U8 matrix [out, in*3/8]", c->dir, qc->name);
    *out_f = qc->shape[0];
    *in_f = qc->shape[1] / 3 * 8;
    if (*in_f % group)
        return awqc_fail(err, "%s: tensor '%s': %lld input features, not a multiple of group_size %d", c->dir,
                         qc->name, (long long)*in_f, group);
    return expect(c, p[1], ST_U8, *out_f, *in_f / group, err) && expect(c, p[2], ST_F16, *out_f, *in_f / group, err);
}

// ----------------------------------------------------------------------------
// adding the virtual tensors

static bool add_virtual(Checkpoint *c, const char *base, AwqLayout layout, int group, AwqcError *err) {
    const char *first = layout == AWQ_GEMM4 ? "qweight" : "qcodes";
    const char *names[3] = {first, "qzeros", "scales"};
    const CkptEntry *p[3];
    int64_t idx[3], out_f = 0, in_f = 0;
    for (int k = 0; k < 3; k++)
        if (!(p[k] = part(c, base, names[k], &idx[k], err))) return false;
    bool ok = layout == AWQ_GEMM4 ? check_gemm(c, p, group, &out_f, &in_f, err) : check_u3(c, p, group, &out_f, &in_f, err);
    if (!ok) return false;
    uint64_t nbytes = p[0]->info.nbytes + p[1]->info.nbytes + p[2]->info.nbytes;
    CkptEntry *e = ckpt_add_tensor(c, awqc_asprintf("%s.weight", base), err);
    if (!e) {
        awqc_error_prefix(err, "%s", c->dir);
        return false;
    }
    e->info.type = layout == AWQ_GEMM4 ? ST_AWQ_GEMM4 : ST_AWQC_U3;
    e->info.rank = 2;
    e->info.shape[0] = out_f;
    e->info.shape[1] = in_f;
    e->info.n_elements = out_f * in_f;
    e->info.nbytes = nbytes;
    e->map = c->tensors[idx[0]].map;
    for (int k = 0; k < 3; k++) e->parts[k] = idx[k];
    e->group = group;
    return true;
}

bool ckpt_add_awq_tensors(Checkpoint *c, AwqcError *err) {
    AwqLayout layout;
    int group = 0;
    if (!config_layout(c, &layout, &group, err)) return false;
    if (layout == AWQ_NONE) return true;
    const char *suffix = layout == AWQ_GEMM4 ? ".qweight" : ".qcodes";
    size_t n = c->n_tensors, sl = strlen(suffix); // virtual entries are appended after these
    for (size_t i = 0; i < n; i++) {
        const char *name = c->tensors[i].info.name;
        size_t len = strlen(name);
        if (len <= sl || strcmp(name + len - sl, suffix)) continue;
        char *base = xstrdup(name);
        base[len - sl] = '\0';
        bool ok = add_virtual(c, base, layout, group, err);
        free(base);
        if (!ok) return false;
    }
    return true;
}

// ----------------------------------------------------------------------------
// dequantizing

static const uint8_t *part_bytes(const Checkpoint *c, const CkptEntry *e, int k) {
    const uint8_t *p = ckpt_raw_data(c, &c->tensors[e->parts[k]].info);
    AWQC_ASSERT(p != NULL);
    return p;
}

// Both layouts decode to codes first; dequantizing them as the quantizer
// does, ((float)q - (float)zero) * scale, makes a loaded folder bit for bit
// what was evaluated when it was written.
static void unpack_gemm(const Checkpoint *c, const CkptEntry *e, QuantMatrix *m) {
    ir_gemm_unpack_parts(part_bytes(c, e, 0), part_bytes(c, e, 1), part_bytes(c, e, 2), m);
}

// INT3 zeros and scales are already [out, in/g], the QuantMatrix order.
static void unpack_u3(const Checkpoint *c, const CkptEntry *e, QuantMatrix *m) {
    size_t groups = (size_t)(m->rows * quant_n_groups(m));
    ir_u3_unpack_codes(part_bytes(c, e, 0), m);
    memcpy(m->zeros, part_bytes(c, e, 1), groups);
    memcpy(m->scales, part_bytes(c, e, 2), groups * sizeof *m->scales); // little-endian f16, as the host
}

bool ckpt_awq_codes(const Checkpoint *c, const CkptEntry *e, QuantMatrix *m, AwqcError *err) {
    bool gemm = e->info.type == ST_AWQ_GEMM4;
    if (!quant_matrix_init(m, e->info.shape[0], e->info.shape[1], gemm ? 4 : 3, e->group, err)) {
        awqc_error_prefix(err, "%s: tensor '%s'", c->dir, e->info.name);
        return false;
    }
    if (gemm) unpack_gemm(c, e, m);
    else unpack_u3(c, e, m);
    return true;
}

void ckpt_dequant_awq(const Checkpoint *c, const CkptEntry *e, float *dst) {
    QuantMatrix m;
    AwqcError err;
    if (!ckpt_awq_codes(c, e, &m, &err)) return; // an empty matrix: nothing to write
    quant_dequantize(&m, dst);
    quant_matrix_free(&m);
}
