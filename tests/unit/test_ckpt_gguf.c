// test_ckpt_gguf.c: the GGUF reader on small v2/v3 files written by the test
// itself: every metadata kind, row-major shapes, and exact values for F32,
// F16, BF16, Q8_0, Q4_0 and Q4_1 tensors; plus the dequantizers on their own.
#include <math.h>
#include <string.h>

#include "frontend/ckpt/checkpoint.h"
#include "test_ckpt_gguf_writer.h"
#include "test_support.h"

// ----------------------------------------------------------------------------
// Expected values, recomputed from the recipes in sample_blocks()

static float expected_q8_0(int i) {
    int blk = i / 32, j = i % 32;
    return blk == 0 ? (float)(j - 16) * 0.5f : (float)(127 - 8 * j) * 0.25f;
}

static float expected_q4_0(int i) {
    int blk = i / 32, j = i % 32;
    float d = blk == 0 ? 2.0f : -0.5f;
    int q = j < 16 ? j : 15 - (j - 16);
    return (float)(q - 8) * d;
}

static float expected_q4_1(int j) {
    int q = j < 16 ? (3 * j) % 16 : (5 * (j - 16) + 1) % 16;
    return (float)q * 0.5f - 1.0f;
}

// ----------------------------------------------------------------------------
// Metadata

static void check_scalars(const Checkpoint *c) {
    const char *s = NULL;
    int64_t i = 0;
    double f = 0;
    CHECK(ckpt_meta_string(c, "general.architecture", &s) && strcmp(s, "llama") == 0);
    CHECK(ckpt_meta_int(c, "t.u8", &i) && i == 200);
    CHECK(ckpt_meta_int(c, "t.i8", &i) && i == -5);
    CHECK(ckpt_meta_int(c, "t.u16", &i) && i == 60000);
    CHECK(ckpt_meta_int(c, "t.i16", &i) && i == -30000);
    CHECK(ckpt_meta_int(c, "t.u32", &i) && i == 4000000000ll);
    CHECK(ckpt_meta_int(c, "t.i32", &i) && i == -2000000000ll);
    CHECK(ckpt_meta_int(c, "t.bool", &i) && i == 1);
    CHECK(ckpt_meta_int(c, "t.u64", &i) && i == (1ll << 40));
    CHECK(ckpt_meta_int(c, "t.i64", &i) && i == -(1ll << 40));
    CHECK(ckpt_meta_kind(c, "t.f32") == META_FLOAT);
    CHECK(ckpt_meta_float(c, "t.f32", &f) && f == 1.5);
    CHECK(ckpt_meta_float(c, "t.f64", &f) && f == 2.25);
    CHECK(ckpt_meta_float(c, "t.u8", &f) && f == 200.0); // ints are accepted as floats
    // Wrong kind or absent key: false.
    CHECK(!ckpt_meta_int(c, "t.f32", &i));
    CHECK(!ckpt_meta_string(c, "t.u8", &s));
    CHECK(!ckpt_meta_int(c, "no.such.key", &i));
    CHECK(ckpt_meta_kind(c, "no.such.key") == META_NONE);
}

static void check_arrays(const Checkpoint *c) {
    MetaArray a;
    CHECK(ckpt_meta_array(c, "t.strings", &a) && a.elem_kind == META_STRING && a.len == 4);
    if (a.len == 4 && a.strs) {
        CHECK(strcmp(a.strs[0], "a") == 0);
        CHECK(strcmp(a.strs[1], "") == 0);
        CHECK(strcmp(a.strs[2], "h\xc3\xa9llo") == 0);
        CHECK(strcmp(a.strs[3], "<|im_end|>") == 0);
    }
    CHECK(ckpt_meta_array(c, "t.floats", &a) && a.elem_kind == META_FLOAT && a.len == 3);
    if (a.len == 3 && a.floats) CHECK(a.floats[0] == 0.5 && a.floats[1] == -1.25 && a.floats[2] == 3.0);
    CHECK(ckpt_meta_array(c, "t.i16s", &a) && a.elem_kind == META_INT && a.len == 2);
    if (a.len == 2 && a.ints) CHECK(a.ints[0] == -7 && a.ints[1] == 9);
    CHECK(ckpt_meta_array(c, "t.empty", &a) && a.len == 0);
    CHECK(!ckpt_meta_array(c, "t.u8", &a));
}

static void check_key_order(const Checkpoint *c, size_t align) {
    size_t n = ckpt_meta_count(c);
    CHECK(n == (align == 32 ? 16u : 17u));
    CHECK(n > 0 && strcmp(ckpt_meta_key_at(c, 0), "general.architecture") == 0);
    CHECK(n > 0 && strcmp(ckpt_meta_key_at(c, n - 1), "t.empty") == 0);
    CHECK(ckpt_meta_key_at(c, n) == NULL);
}

// ----------------------------------------------------------------------------
// Tensors

static const CkptTensor *tensor(const Checkpoint *c, const char *name, StorageType type, int rank,
                                const int64_t *shape) {
    const CkptTensor *t = ckpt_find_tensor(c, name);
    CHECK_MSG(t != NULL, "tensor %s missing", name);
    if (!t) return NULL;
    CHECK_MSG(t->type == type, "%s: type %s", name, ckpt_storage_name(t->type));
    CHECK(t->rank == rank);
    int64_t n = 1;
    for (int d = 0; d < rank && d < t->rank; d++) {
        CHECK_MSG(t->shape[d] == shape[d], "%s: shape[%d] = %lld", name, d, (long long)t->shape[d]);
        n *= shape[d];
    }
    CHECK(t->n_elements == n);
    return t;
}

// Loads t and compares every element with want(i) exactly.
static void check_values(const Checkpoint *c, const CkptTensor *t, float (*want)(int)) {
    if (!t) return;
    float buf[64];
    AwqcError err = {{0}};
    CHECK(t->n_elements <= 64);
    bool ok = ckpt_load_f32(c, t, buf, &err);
    CHECK_MSG(ok, "%s: %s", t->name, err.msg);
    for (int i = 0; ok && i < t->n_elements; i++)
        CHECK_MSG(buf[i] == want(i), "%s[%d] = %g, want %g", t->name, i, buf[i], want(i));
}

static float want_f32(int i) { return (float)i * 0.5f - 1.0f; }
static float want_f16(int i) { return (float[]){1.0f, -2.0f, 0.5f, 65504.0f}[i]; }
static float want_bf16(int i) { return (float[]){1.0f, -3.0f}[i]; }

static void check_tensors(const Checkpoint *c) {
    CHECK(ckpt_tensor_count(c) == 6);
    CHECK(ckpt_tensor_at(c, 0) && strcmp(ckpt_tensor_at(c, 0)->name, "t.f32") == 0);
    CHECK(ckpt_tensor_at(c, 6) == NULL);
    CHECK(ckpt_find_tensor(c, "nope") == NULL);
    check_values(c, tensor(c, "t.f32", ST_F32, 2, (int64_t[]){2, 3}), want_f32);
    check_values(c, tensor(c, "t.f16", ST_F16, 1, (int64_t[]){4}), want_f16);
    check_values(c, tensor(c, "t.q8_0", ST_Q8_0, 2, (int64_t[]){2, 32}), expected_q8_0);
    check_values(c, tensor(c, "t.q4_0", ST_Q4_0, 1, (int64_t[]){64}), expected_q4_0);
    check_values(c, tensor(c, "t.q4_1", ST_Q4_1, 3, (int64_t[]){1, 1, 32}), expected_q4_1);
    check_values(c, tensor(c, "t.bf16", ST_BF16, 1, (int64_t[]){2}), want_bf16);
    const CkptTensor *q8 = ckpt_find_tensor(c, "t.q8_0");
    if (q8) {
        CHECK(q8->nbytes == 68);
        const uint8_t *raw = ckpt_raw_data(c, q8);
        CHECK(raw && raw[0] == 0x00 && raw[1] == 0x38 && (int8_t)raw[2] == -16);
    }
}

// ----------------------------------------------------------------------------
// Whole files

static void check_file(uint32_t version, size_t align) {
    size_t header_len;
    Buf b = sample_gguf(version, align, &header_len);
    char path[512];
    snprintf(path, sizeof path, "%s/sample_v%u_a%zu.gguf", test_tmpdir(), version, align);
    test_write_file(path, b.p, b.n);
    free(b.p);
    AwqcError err = {{0}};
    Checkpoint *c = ckpt_open(path, &err);
    CHECK_MSG(c != NULL, "%s", err.msg);
    if (!c) return;
    CHECK(ckpt_format(c) == CKPT_GGUF);
    CHECK(strcmp(ckpt_path(c), path) == 0);
    CHECK(strcmp(ckpt_dir(c), test_tmpdir()) == 0);
    check_scalars(c);
    check_arrays(c);
    check_key_order(c, align);
    check_tensors(c);
    ckpt_close(c);
}

static void check_dequantizers(void) {
    uint8_t q8[68], q40[36], q41[20];
    float out[64];
    sample_blocks(q8, q40, q41);
    dequant_q8_0(q8, out, 64);
    for (int i = 0; i < 64; i++) CHECK(out[i] == expected_q8_0(i));
    dequant_q4_0(q40, out, 64);
    for (int i = 0; i < 64; i++) CHECK(out[i] == expected_q4_0(i));
    dequant_q4_1(q41, out, 32);
    for (int i = 0; i < 32; i++) CHECK(out[i] == expected_q4_1(i));
    // Odd source alignment must work: blocks sit at any byte in a file.
    uint8_t shifted[69];
    memcpy(shifted + 1, q8, 68);
    dequant_q8_0(shifted + 1, out, 64);
    CHECK(out[63] == expected_q8_0(63));
}

int main(void) {
    check_dequantizers();
    check_file(3, 32);
    check_file(3, 64);
    check_file(2, 32);
    CHECK(strcmp(ckpt_storage_name(ST_Q4_1), "Q4_1") == 0);
    return test_result();
}
