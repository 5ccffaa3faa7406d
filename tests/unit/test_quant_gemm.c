// test_quant_gemm.c: AutoAWQ GEMM and GEMV packing: a hand-checked word for
// eight outputs (the [0,2,4,6,1,3,5,7] nibble order), bit-exact pack/unpack
// round trips on random matrices, import from checkpoint tensor descriptions,
// and the shape and type errors, which must name the offending tensor.
#include <stdlib.h>
#include <string.h>

#include "quantizer/awq_gemm.h"
#include "test_support.h"

// ----------------------------------------------------------------------------
// Helpers

static uint32_t rng_state = 12345;

static uint32_t rng_next(void) {
    rng_state = rng_state * 1664525u + 1013904223u;
    return rng_state >> 8;
}

// A QuantMatrix with random codes, zeros and (finite, positive) f16 scales.
static QuantMatrix random_matrix(int64_t rows, int64_t cols, int group) {
    QuantMatrix m;
    AwqcError err;
    if (!quant_matrix_init(&m, rows, cols, 4, group, &err)) AWQC_PANIC("%s", err.msg);
    int64_t ng = rows * quant_n_groups(&m);
    for (int64_t i = 0; i < rows * cols; i++) m.q[i] = (uint8_t)(rng_next() & 15);
    for (int64_t i = 0; i < ng; i++) {
        m.zeros[i] = (uint8_t)(rng_next() & 15);
        m.scales[i] = (uint16_t)(rng_next() % 0x7c00);
    }
    return m;
}

static bool same_quant(const QuantMatrix *a, const QuantMatrix *b) {
    if (a->rows != b->rows || a->cols != b->cols || a->group != b->group || a->bits != b->bits) return false;
    size_t ng = (size_t)(a->rows * quant_n_groups(a));
    return memcmp(a->q, b->q, (size_t)(a->rows * a->cols)) == 0 && memcmp(a->zeros, b->zeros, ng) == 0 &&
           memcmp(a->scales, b->scales, ng * sizeof *a->scales) == 0;
}

// ----------------------------------------------------------------------------
// Hand-checked packing

static void test_hand_packing(void) {
    // 8 outputs x 2 inputs, one group: q[o][0] = o, q[o][1] = 15 - o,
    // zero[o] = o + 3, scale[o] = 0x3c00 + o.
    QuantMatrix m;
    AwqcError err;
    CHECK(quant_matrix_init(&m, 8, 2, 4, 2, &err));
    for (int o = 0; o < 8; o++) {
        m.q[o * 2] = (uint8_t)o;
        m.q[o * 2 + 1] = (uint8_t)(15 - o);
        m.zeros[o] = (uint8_t)(o + 3);
        m.scales[o] = (uint16_t)(0x3c00 + o);
    }
    AwqGemm p;
    CHECK(awq_gemm_pack(&m, &p, &err));
    // Nibbles low to high hold outputs 0,2,4,6,1,3,5,7.
    CHECK_MSG((uint32_t)p.qweight[0] == 0x75316420u, "qweight[0] = 0x%08x", (uint32_t)p.qweight[0]);
    CHECK_MSG((uint32_t)p.qweight[1] == 0x8ace9bdfu, "qweight[1] = 0x%08x", (uint32_t)p.qweight[1]);
    CHECK_MSG((uint32_t)p.qzeros[0] == 0xa8649753u, "qzeros[0] = 0x%08x", (uint32_t)p.qzeros[0]);
    for (int o = 0; o < 8; o++) CHECK(p.scales[o] == 0x3c00 + o);
    // The spec's unpack order: output j sits in nibble [0,4,1,5,2,6,3,7][j].
    static const int UNPACK[8] = {0, 4, 1, 5, 2, 6, 3, 7};
    for (int j = 0; j < 8; j++) CHECK((((uint32_t)p.qweight[0] >> (4 * UNPACK[j])) & 15) == (uint32_t)j);
    awq_gemm_free(&p);

    // GEMV packs inputs in plain order: row 0 of an [1, 8] matrix.
    QuantMatrix v;
    CHECK(quant_matrix_init(&v, 1, 8, 4, 8, &err));
    for (int i = 0; i < 8; i++) v.q[i] = (uint8_t)(i + 8);
    int32_t *qw = NULL;
    CHECK(awq_gemv_pack_qweight(&v, &qw, &err));
    CHECK_MSG(qw && (uint32_t)qw[0] == 0xfedcba98u, "gemv qweight[0] = 0x%08x", qw ? (uint32_t)qw[0] : 0);
    free(qw);
    quant_matrix_free(&v);
    quant_matrix_free(&m);
}

// ----------------------------------------------------------------------------
// Round trips

static void test_round_trips(void) {
    const int64_t shapes[][3] = {{16, 128, 32}, {24, 256, 128}, {8, 64, 64}, {64, 192, 64}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        QuantMatrix m = random_matrix(shapes[s][0], shapes[s][1], (int)shapes[s][2]), back, gemv;
        AwqGemm p;
        AwqcError err;
        CHECK_MSG(awq_gemm_pack(&m, &p, &err), "%s", err.msg);
        CHECK(p.in == m.cols && p.out == m.rows && p.group == m.group);
        CHECK_MSG(awq_gemm_unpack(&p, &back, &err), "%s", err.msg);
        CHECK_MSG(same_quant(&m, &back), "GEMM round trip differs for shape %zu", s);
        int32_t *qw = NULL;
        CHECK(awq_gemv_pack_qweight(&m, &qw, &err));
        CHECK(quant_matrix_init(&gemv, m.rows, m.cols, 4, m.group, &err));
        CHECK(awq_gemv_unpack_qweight(qw, &gemv, &err));
        CHECK_MSG(memcmp(gemv.q, m.q, (size_t)(m.rows * m.cols)) == 0, "GEMV round trip differs");
        free(qw);
        quant_matrix_free(&gemv);
        quant_matrix_free(&back);
        awq_gemm_free(&p);
        quant_matrix_free(&m);
    }
}

// ----------------------------------------------------------------------------
// Import from checkpoint tensor descriptions

typedef struct {
    CkptTensor qweight, qzeros, scales;
    AwqGemmTensors t;
} FakeLinear;

static CkptTensor fake_tensor(const char *name, StorageType type, int64_t d0, int64_t d1, size_t elem) {
    CkptTensor t = {.name = name, .type = type, .rank = 2, .shape = {d0, d1}, .n_elements = d0 * d1};
    t.nbytes = (uint64_t)(d0 * d1) * elem;
    return t;
}

// Describes packed p as a checkpoint would. The data pointers are offset by
// one byte into copies, so the reader's any-alignment loads are exercised.
static void describe(FakeLinear *f, const AwqGemm *p, char *buf) {
    int64_t out8 = p->out / 8, ng = p->in / p->group;
    size_t nw = (size_t)(p->in * out8) * 4, nz = (size_t)(ng * out8) * 4, ns = (size_t)(ng * p->out) * 2;
    memcpy(buf + 1, p->qweight, nw);
    memcpy(buf + 1 + nw, p->qzeros, nz);
    memcpy(buf + 1 + nw + nz, p->scales, ns);
    f->qweight = fake_tensor("l.qweight", ST_I32, p->in, out8, 4);
    f->qzeros = fake_tensor("l.qzeros", ST_I32, ng, out8, 4);
    f->scales = fake_tensor("l.scales", ST_F16, ng, p->out, 2);
    f->t = (AwqGemmTensors){&f->qweight, &f->qzeros, &f->scales, buf + 1, buf + 1 + nw, buf + 1 + nw + nz};
}

static void expect_import_error(const FakeLinear *f, int group, const char *needle) {
    QuantMatrix m;
    AwqcError err = {{0}};
    CHECK(!awq_gemm_import(&f->t, group, &m, &err));
    CHECK(m.q == NULL);
    CHECK_MSG(strstr(err.msg, needle) != NULL, "message \"%s\" lacks \"%s\"", err.msg, needle);
}

static void test_import(void) {
    QuantMatrix m = random_matrix(32, 128, 64), back;
    AwqGemm p;
    AwqcError err;
    CHECK(awq_gemm_pack(&m, &p, &err));
    char *buf = xmalloc(1 + (size_t)(128 * 4 + 2 * 4 + 2 * 32) * 4);
    FakeLinear f;
    describe(&f, &p, buf);
    CHECK_MSG(awq_gemm_import(&f.t, 64, &back, &err), "%s", err.msg);
    CHECK_MSG(same_quant(&m, &back), "imported matrix differs");
    quant_matrix_free(&back);

    expect_import_error(&f, 48, "l.qweight: in_features 128 is not a multiple of the group size 48");
    expect_import_error(&f, 32, "l.qzeros: shape [2, 4], expected [4, 4]");
    f.scales.shape[1] = 16;
    f.scales.n_elements = 2 * 16;
    f.scales.nbytes = 2 * 16 * 2;
    expect_import_error(&f, 64, "l.scales: shape [2, 16], expected [2, 32]");
    describe(&f, &p, buf);
    f.scales.type = ST_F32;
    expect_import_error(&f, 64, "l.scales: storage type F32, expected F16");
    describe(&f, &p, buf);
    f.qzeros.nbytes += 4;
    expect_import_error(&f, 64, "l.qzeros: shape [2, 4] does not match its 36 bytes");
    describe(&f, &p, buf);
    f.qweight.rank = 1;
    expect_import_error(&f, 64, "l.qweight: rank 1, expected 2");
    describe(&f, &p, buf);
    f.t.qzeros_data = NULL;
    expect_import_error(&f, 64, "l.qzeros: no data");
    f.t.qzeros = NULL;
    expect_import_error(&f, 64, "needs qweight, qzeros and scales");
    free(buf);
    awq_gemm_free(&p);
    quant_matrix_free(&m);
}

// ----------------------------------------------------------------------------
// Pack and unpack errors

static void test_pack_errors(void) {
    AwqcError err = {{0}};
    AwqGemm p;
    QuantMatrix m = random_matrix(12, 64, 32), back;
    CHECK(!awq_gemm_pack(&m, &p, &err) && strstr(err.msg, "out_features 12 is not a multiple of 8"));
    CHECK(p.qweight == NULL);
    quant_matrix_free(&m);

    m = random_matrix(8, 64, 32);
    m.bits = 3;
    CHECK(!awq_gemm_pack(&m, &p, &err) && strstr(err.msg, "4-bit weights, not 3-bit"));
    int32_t *qw = NULL;
    CHECK(!awq_gemv_pack_qweight(&m, &qw, &err) && qw == NULL);
    quant_matrix_free(&m);

    m = random_matrix(8, 12, 4);
    CHECK(!awq_gemv_pack_qweight(&m, &qw, &err) && strstr(err.msg, "in_features 12 is not a multiple of 8"));
    quant_matrix_free(&m);

    AwqGemm bad = {.in = 64, .out = 12, .group = 32};
    CHECK(!awq_gemm_unpack(&bad, &back, &err) && strstr(err.msg, "out_features 12"));
    bad = (AwqGemm){.in = 100, .out = 16, .group = 64};
    CHECK(!awq_gemm_unpack(&bad, &back, &err) && strstr(err.msg, "group size 64 does not divide in_features 100"));
    CHECK(back.q == NULL);
}

int main(void) {
    test_hand_packing();
    test_round_trips();
    test_import();
    test_pack_errors();
    return test_result();
}
