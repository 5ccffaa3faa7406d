// test_ckpt_gguf_corrupt.c: the GGUF reader on broken files: every prefix of a
// valid file, single-byte corruptions of its header, and hand-made files with
// impossible counts, lengths, dimensions, offsets, alignments and types. Each
// must fail with a message naming the file and the place, never crash.
#include <stdlib.h>
#include <string.h>

#include "frontend/ckpt/checkpoint.h"
#include "test_ckpt_gguf_writer.h"
#include "test_support.h"

static char g_path[512];

static Checkpoint *open_bytes(const void *data, size_t n, AwqcError *err) {
    test_write_file(g_path, data, n);
    memset(err->msg, 0, sizeof err->msg);
    return ckpt_open(g_path, err);
}

// Opening must fail; the message starts with the path and holds each of the
// (up to two) fragments.
static void expect_fail(const char *what, Buf b, const char *frag1, const char *frag2) {
    AwqcError err;
    Checkpoint *c = open_bytes(b.p, b.n, &err);
    free(b.p);
    CHECK_MSG(c == NULL, "%s: opened", what);
    ckpt_close(c);
    CHECK_MSG(strncmp(err.msg, g_path, strlen(g_path)) == 0, "%s: message lacks path: %s", what, err.msg);
    CHECK_MSG(!frag1 || strstr(err.msg, frag1), "%s: want '%s' in: %s", what, frag1, err.msg);
    CHECK_MSG(!frag2 || strstr(err.msg, frag2), "%s: want '%s' in: %s", what, frag2, err.msg);
}

static Buf header(uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    Buf b = {0};
    buf_put(&b, "GGUF", 4);
    put_u32(&b, version);
    put_u64(&b, n_tensors);
    put_u64(&b, n_kv);
    return b;
}

// ----------------------------------------------------------------------------
// Truncation and byte corruption of the sample file

static void check_every_prefix(void) {
    size_t header_len;
    Buf full = sample_gguf(3, 32, &header_len);
    for (size_t p = 0; p < full.n; p++) {
        AwqcError err;
        Checkpoint *c = open_bytes(full.p, p, &err);
        CHECK_MSG(c == NULL, "prefix %zu of %zu opened", p, full.n);
        ckpt_close(c);
        bool named = strncmp(err.msg, g_path, strlen(g_path)) == 0;
        bool says = p >= header_len ? strstr(err.msg, "beyond end of file") && strstr(err.msg, "tensor '")
                                    : strstr(err.msg, "truncated") || strstr(err.msg, "exceeds file size");
        CHECK_MSG(named && says, "prefix %zu: %s", p, err.msg);
    }
    free(full.p);
}

// Opens a corrupted copy; when it still opens, every tensor must load or fail
// cleanly.
static void open_and_load(const Buf *b) {
    AwqcError err;
    Checkpoint *c = open_bytes(b->p, b->n, &err);
    if (!c) {
        CHECK_MSG(err.msg[0] != 0, "failure without a message");
        return;
    }
    for (size_t i = 0; i < ckpt_tensor_count(c); i++) {
        const CkptTensor *t = ckpt_tensor_at(c, i);
        if (t->n_elements > (1 << 20)) continue;
        float *dst = malloc((size_t)t->n_elements * sizeof(float) + 1);
        ckpt_load_f32(c, t, dst, &err);
        free(dst);
    }
    ckpt_close(c);
}

static void check_byte_flips(void) {
    size_t header_len;
    Buf b = sample_gguf(3, 32, &header_len);
    for (size_t i = 0; i < header_len; i++) {
        uint8_t orig = b.p[i];
        const uint8_t vals[] = {0x00, 0xff, (uint8_t)(orig ^ 0x01), (uint8_t)(orig ^ 0x80), (uint8_t)(orig ^ 0x10)};
        for (size_t k = 0; k < sizeof vals; k++) {
            b.p[i] = vals[k];
            open_and_load(&b);
        }
        b.p[i] = orig;
    }
    free(b.p);
}

// ----------------------------------------------------------------------------
// Header and metadata

static void check_bad_headers(void) {
    Buf b = {0};
    buf_put(&b, "GGUX", 4);
    put_u32(&b, 3);
    expect_fail("bad magic", b, "not a GGUF file", NULL); // g_path ends in .gguf
    expect_fail("version 1", header(1, 0, 0), "offset 4", "version 1 is not supported");
    expect_fail("big-endian", header(0x03000000u, 0, 0), "big-endian", NULL);
    expect_fail("tensor count", header(3, 1ull << 60, 0), "offset 8", "tensor count 1152921504606846976");
    expect_fail("kv count", header(3, 0, 1ull << 62), "offset 16", "metadata count");
    b = header(3, 0, 1);
    put_u64(&b, 1ull << 60);
    for (int i = 0; i < 16; i++) put_u8(&b, 'k');
    expect_fail("key length", b, "offset 24: key length 1152921504606846976 exceeds file size", NULL);
}

static void check_bad_values(void) {
    Buf b = header(3, 0, 1);
    put_str(&b, "k");
    put_u32(&b, GT_STRING);
    put_u64(&b, 99999999999ull);
    expect_fail("string length", b, "offset 37: key 'k': string length 99999999999 exceeds file size", NULL);
    b = header(3, 0, 1);
    put_str(&b, "k");
    put_u32(&b, 99);
    expect_fail("value type", b, "key 'k'", "unknown value type 99");
    b = header(3, 0, 1);
    put_str(&b, "k");
    put_u32(&b, GT_U64);
    put_u64(&b, UINT64_MAX);
    expect_fail("u64 range", b, "key 'k'", "does not fit");
    b = header(3, 0, 2);
    put_str(&b, "k");
    put_u32(&b, GT_U8);
    put_u8(&b, 1);
    put_str(&b, "k");
    put_u32(&b, GT_U8);
    put_u8(&b, 2);
    expect_fail("duplicate key", b, "offset 38", "duplicate metadata key 'k'");
    b = header(3, 0, 1);
    put_str(&b, "k");
    put_u32(&b, GT_I32);
    put_u16(&b, 7);
    expect_fail("short value", b, "truncated file", NULL);
}

static Buf array_file(uint32_t elem_type, uint64_t count) {
    Buf b = header(3, 0, 1);
    put_str(&b, "arr");
    put_u32(&b, GT_ARRAY);
    put_u32(&b, elem_type);
    put_u64(&b, count);
    return b;
}

// A well-formed u8 array of 100 elements reads back as ints.
static void expect_ok_u8_array(Buf b) {
    AwqcError err;
    Checkpoint *c = open_bytes(b.p, b.n, &err);
    free(b.p);
    CHECK_MSG(c != NULL, "%s", err.msg);
    MetaArray a;
    CHECK(c && ckpt_meta_array(c, "arr", &a) && a.elem_kind == META_INT && a.len == 100 && a.ints[99] == 99);
    ckpt_close(c);
}

static void check_bad_arrays(void) {
    expect_fail("array length", array_file(GT_U32, 1ull << 61), "key 'arr'", "array length 2305843009213693952");
    // One-byte elements are stored as 8-byte values: each must still be in the
    // file, so 100 bytes cannot ask for 101 elements (or 800 MB).
    Buf b8 = array_file(GT_U8, 101);
    for (int i = 0; i < 100; i++) put_u8(&b8, 1);
    expect_fail("u8 array", b8, "key 'arr'", "array length 101 exceeds file size (only 100 bytes left)");
    b8 = array_file(GT_BOOL, 100000000);
    expect_fail("bool array", b8, "key 'arr'", "array length 100000000 exceeds file size");
    b8 = array_file(GT_U8, 100);
    for (int i = 0; i < 100; i++) put_u8(&b8, (uint8_t)i);
    expect_ok_u8_array(b8);
    expect_fail("nested", array_file(GT_ARRAY, 1), "key 'arr'", "nested arrays are not supported");
    expect_fail("array type", array_file(77, 1), "unknown array element type 77", NULL);
    Buf b = array_file(GT_STRING, 2);
    put_str(&b, "x");
    put_u64(&b, 1ull << 50);
    expect_fail("string element", b, "string array element 1: length 1125899906842624 exceeds file size", NULL);
    b = array_file(GT_STRING, 2);
    put_str(&b, "a longer string");
    put_u32(&b, 0); // half of the second length
    expect_fail("string element cut", b, "truncated file", NULL);
}

// ----------------------------------------------------------------------------
// Tensor infos

// One tensor "w" with the given fields, data_len bytes of data after the
// 32-aligned header, and optionally general.alignment first.
static Buf tensor_file(uint32_t n_dims, const uint64_t *ne, uint32_t type, uint64_t offset, size_t data_len) {
    Buf b = header(3, 1, 0);
    put_str(&b, "w");
    put_u32(&b, n_dims);
    for (uint32_t d = 0; d < n_dims; d++) put_u64(&b, ne[d]);
    put_u32(&b, type);
    put_u64(&b, offset);
    buf_pad(&b, 32);
    for (size_t i = 0; i < data_len; i++) put_u8(&b, (uint8_t)i);
    return b;
}

static void check_bad_tensors(void) {
    uint64_t ne[5] = {32, 2, 1, 1, 1};
    expect_fail("n_dims", tensor_file(5, ne, 0, 0, 1024), "tensor 'w'", "n_dims 5 exceeds 4");
    expect_fail("beyond", tensor_file(2, ne, 0, 1 << 20, 256), "tensor 'w': data [", "beyond end of file (size");
    expect_fail("short", tensor_file(2, ne, 0, 0, 255), "tensor 'w'", "beyond end of file");
    expect_fail("wrap", tensor_file(2, ne, 0, UINT64_MAX - 31, 256), "tensor 'w'", "beyond end of file");
    expect_fail("misaligned", tensor_file(2, ne, 0, 4, 300), "tensor 'w'", "not aligned to 32");
    uint64_t half_block[1] = {16};
    expect_fail("partial block", tensor_file(1, half_block, 8, 0, 64), "tensor 'w'", "not a multiple of the block");
    uint64_t huge[2] = {1ull << 63, 1};
    expect_fail("huge dim", tensor_file(2, huge, 0, 0, 64), "tensor 'w'", "too large");
    uint64_t big[2] = {1ull << 40, 1ull << 40};
    expect_fail("overflow", tensor_file(2, big, 0, 0, 64), "tensor 'w'", "overflows");
    Buf b = header(3, 2, 0);
    for (int i = 0; i < 2; i++) {
        put_str(&b, "w");
        put_u32(&b, 1);
        put_u64(&b, 1);
        put_u32(&b, 0);
        put_u64(&b, 0);
    }
    expect_fail("duplicate tensor", b, "duplicate tensor name 'w'", NULL);
}

static void check_bad_alignment(void) {
    GgufMeta m = {0};
    meta_u32(&m, "general.alignment", 3);
    static const float one[1] = {1};
    GgufTensorW t = {"w", 1, {1}, 0, one, 4};
    expect_fail("alignment 3", gguf_build(3, &m, &t, 1, 32, NULL), "general.alignment 3 is not a power of two", NULL);
    free(m.kv.p);
    m = (GgufMeta){0};
    meta_str(&m, "general.alignment", "32");
    expect_fail("alignment kind", gguf_build(3, &m, &t, 1, 32, NULL), "general.alignment is not an integer", NULL);
    free(m.kv.p);
}

// Types the reader knows but cannot load (or does not know at all) open, and
// fail only when loaded, naming the tensor.
static void expect_load_fail(Buf b, StorageType st, const char *frag) {
    AwqcError err;
    Checkpoint *c = open_bytes(b.p, b.n, &err);
    free(b.p);
    CHECK_MSG(c != NULL, "%s", err.msg);
    if (!c) return;
    const CkptTensor *t = ckpt_find_tensor(c, "w");
    float dst[256];
    CHECK(t && t->type == st && !ckpt_tensor_loadable(t));
    CHECK(t && !ckpt_load_f32(c, t, NULL, &err)); // refused before dst is touched
    if (t && t->n_elements <= 256) CHECK(!ckpt_load_f32(c, t, dst, &err));
    CHECK_MSG(strstr(err.msg, "tensor 'w'") && strstr(err.msg, frag), "%s", err.msg);
    ckpt_close(c);
}

static void check_unloadable_types(void) {
    uint64_t ne[1] = {256};
    expect_load_fail(tensor_file(1, ne, 99, 0, 0), ST_OTHER, "ggml type 99 is not supported");
    uint64_t huge[2] = {1ull << 20, 1ull << 20}; // 2^40 elements in a file of a few bytes
    expect_load_fail(tensor_file(2, huge, 99, 0, 0), ST_OTHER, "ggml type 99 is not supported");
    expect_load_fail(tensor_file(1, ne, 12, 0, 144), ST_OTHER,
                     "ggml type 12 (Q4_K) is not supported (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1)");
    expect_load_fail(tensor_file(1, ne, 18, 0, 0), ST_OTHER, "ggml type 18 (IQ3_XXS) is not supported");
    expect_fail("Q4_K short", tensor_file(1, ne, 12, 0, 143), "tensor 'w'", "beyond end of file");
    expect_load_fail(tensor_file(1, ne, 26, 0, 1024), ST_I32, "not convertible");
    expect_load_fail(tensor_file(1, ne, 24, 0, 256), ST_I8, "not convertible");
}

int main(void) {
    snprintf(g_path, sizeof g_path, "%s/corrupt.gguf", test_tmpdir());
    check_every_prefix();
    check_byte_flips();
    check_bad_headers();
    check_bad_values();
    check_bad_arrays();
    check_bad_tensors();
    check_bad_alignment();
    check_unloadable_types();
    return test_result();
}
