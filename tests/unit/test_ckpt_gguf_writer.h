// test_ckpt_gguf_writer.h: a tiny GGUF writer for the checkpoint tests, written
// from the format description: a byte buffer, metadata key/value encoders, and
// a builder laying out tensor infos and an aligned data section. Header-only
// (static functions) so each test_ckpt_*.c stays a single translation unit.
#ifndef TEST_CKPT_GGUF_WRITER_H
#define TEST_CKPT_GGUF_WRITER_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

// ----------------------------------------------------------------------------
// Byte buffer

typedef struct {
    uint8_t *p;
    size_t n, cap;
} Buf;

static inline void buf_put(Buf *b, const void *data, size_t n) {
    GROW(b->p, b->cap, b->n + n);
    if (n) memcpy(b->p + b->n, data, n);
    b->n += n;
}

static inline void buf_le(Buf *b, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; i++) {
        uint8_t byte = (uint8_t)(v >> (8 * i));
        buf_put(b, &byte, 1);
    }
}

static inline void put_u8(Buf *b, uint8_t v) { buf_le(b, v, 1); }
static inline void put_u16(Buf *b, uint16_t v) { buf_le(b, v, 2); }
static inline void put_u32(Buf *b, uint32_t v) { buf_le(b, v, 4); }
static inline void put_u64(Buf *b, uint64_t v) { buf_le(b, v, 8); }
static inline void put_f32(Buf *b, float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    put_u32(b, u);
}
static inline void put_str(Buf *b, const char *s) {
    put_u64(b, strlen(s));
    buf_put(b, s, strlen(s));
}
static inline void buf_pad(Buf *b, size_t align) {
    while (b->n % align) put_u8(b, 0);
}

// ----------------------------------------------------------------------------
// Metadata (GGUF value type ids)

enum { GT_U8, GT_I8, GT_U16, GT_I16, GT_U32, GT_I32, GT_F32, GT_BOOL, GT_STRING, GT_ARRAY, GT_U64, GT_I64, GT_F64 };

typedef struct {
    Buf kv;
    uint64_t n_kv;
} GgufMeta;

// Key and type; the caller appends the value bytes to m->kv.
static inline Buf *meta_begin(GgufMeta *m, const char *key, uint32_t type) {
    put_str(&m->kv, key);
    put_u32(&m->kv, type);
    m->n_kv++;
    return &m->kv;
}

static inline void meta_str(GgufMeta *m, const char *key, const char *v) { put_str(meta_begin(m, key, GT_STRING), v); }
static inline void meta_u32(GgufMeta *m, const char *key, uint32_t v) { put_u32(meta_begin(m, key, GT_U32), v); }

static inline void meta_str_array(GgufMeta *m, const char *key, const char *const *v, size_t n) {
    Buf *b = meta_begin(m, key, GT_ARRAY);
    put_u32(b, GT_STRING);
    put_u64(b, n);
    for (size_t i = 0; i < n; i++) put_str(b, v[i]);
}

static inline void meta_f32_array(GgufMeta *m, const char *key, const float *v, size_t n) {
    Buf *b = meta_begin(m, key, GT_ARRAY);
    put_u32(b, GT_F32);
    put_u64(b, n);
    for (size_t i = 0; i < n; i++) put_f32(b, v[i]);
}

// ----------------------------------------------------------------------------
// Tensors and the whole file

typedef struct {
    const char *name;
    uint32_t n_dims;
    uint64_t ne[4]; // GGUF order: innermost first
    uint32_t type;  // ggml type id
    const void *data;
    size_t nbytes;
} GgufTensorW;

// Header bytes end at *header_len (before the padding to the data section).
// No padding follows the last tensor, so every proper prefix is truncated.
static inline Buf gguf_build(uint32_t version, const GgufMeta *m, const GgufTensorW *ts, size_t n, size_t align,
                             size_t *header_len) {
    Buf b = {0};
    buf_put(&b, "GGUF", 4);
    put_u32(&b, version);
    put_u64(&b, n);
    put_u64(&b, m->n_kv);
    buf_put(&b, m->kv.p, m->kv.n);
    uint64_t off = 0;
    for (size_t i = 0; i < n; i++) {
        put_str(&b, ts[i].name);
        put_u32(&b, ts[i].n_dims);
        for (uint32_t d = 0; d < ts[i].n_dims; d++) put_u64(&b, ts[i].ne[d]);
        put_u32(&b, ts[i].type);
        put_u64(&b, off);
        off = (off + ts[i].nbytes + align - 1) / align * align;
    }
    if (header_len) *header_len = b.n;
    for (size_t i = 0; i < n; i++) {
        buf_pad(&b, align);
        buf_put(&b, ts[i].data, ts[i].nbytes);
    }
    return b;
}

// ----------------------------------------------------------------------------
// The sample file the GGUF tests share: metadata of every kind and one tensor
// per storage type, with values the tests recompute from these recipes.

static inline void sample_meta(GgufMeta *m, size_t align) {
    static const char *const strs[] = {"a", "", "h\xc3\xa9llo", "<|im_end|>"};
    static const float floats[] = {0.5f, -1.25f, 3.0f};
    meta_str(m, "general.architecture", "llama");
    if (align != 32) meta_u32(m, "general.alignment", (uint32_t)align);
    put_u8(meta_begin(m, "t.u8", GT_U8), 200);
    put_u8(meta_begin(m, "t.i8", GT_I8), (uint8_t)-5);
    put_u16(meta_begin(m, "t.u16", GT_U16), 60000);
    put_u16(meta_begin(m, "t.i16", GT_I16), (uint16_t)-30000);
    meta_u32(m, "t.u32", 4000000000u);
    put_u32(meta_begin(m, "t.i32", GT_I32), (uint32_t)-2000000000);
    put_f32(meta_begin(m, "t.f32", GT_F32), 1.5f);
    put_u8(meta_begin(m, "t.bool", GT_BOOL), 1);
    put_u64(meta_begin(m, "t.u64", GT_U64), 1ull << 40);
    put_u64(meta_begin(m, "t.i64", GT_I64), (uint64_t)-(1ll << 40));
    put_u64(meta_begin(m, "t.f64", GT_F64), 0x4002000000000000ull); // 2.25
    meta_str_array(m, "t.strings", strs, 4);
    meta_f32_array(m, "t.floats", floats, 3);
    Buf *b = meta_begin(m, "t.i16s", GT_ARRAY);
    put_u32(b, GT_I16);
    put_u64(b, 2);
    put_u16(b, (uint16_t)-7);
    put_u16(b, 9);
    b = meta_begin(m, "t.empty", GT_ARRAY);
    put_u32(b, GT_U8);
    put_u64(b, 0);
}

// Block bytes for the quantized sample tensors (see the expected_* recipes in
// test_ckpt_gguf.c).
static inline void sample_blocks(uint8_t q8[68], uint8_t q40[36], uint8_t q41[20]) {
    for (int blk = 0; blk < 2; blk++) {
        uint8_t *b = q8 + 34 * blk;
        uint16_t d = blk == 0 ? 0x3800 : 0x3400; // 0.5, 0.25
        memcpy(b, &d, 2);
        for (int i = 0; i < 32; i++) b[2 + i] = (uint8_t)(int8_t)(blk == 0 ? i - 16 : 127 - 8 * i);
        b = q40 + 18 * blk;
        d = blk == 0 ? 0x4000 : 0xb800; // 2.0, -0.5
        memcpy(b, &d, 2);
        for (int j = 0; j < 16; j++) b[2 + j] = (uint8_t)(j | ((15 - j) << 4));
    }
    uint16_t d = 0x3800, mn = 0xbc00; // 0.5, -1.0
    memcpy(q41, &d, 2);
    memcpy(q41 + 2, &mn, 2);
    for (int j = 0; j < 16; j++) q41[4 + j] = (uint8_t)(((3 * j) % 16) | (((5 * j + 1) % 16) << 4));
}

static inline Buf sample_gguf(uint32_t version, size_t align, size_t *header_len) {
    GgufMeta m = {0};
    sample_meta(&m, align);
    float f32[6];
    for (int i = 0; i < 6; i++) f32[i] = (float)i * 0.5f - 1.0f;
    static const uint16_t f16[4] = {0x3c00, 0xc000, 0x3800, 0x7bff}; // 1, -2, 0.5, 65504
    static const uint16_t bf16[2] = {0x3f80, 0xc040};                // 1, -3
    uint8_t q8[68], q40[36], q41[20];
    sample_blocks(q8, q40, q41);
    GgufTensorW ts[] = {
        {"t.f32", 2, {3, 2}, 0, f32, sizeof f32},
        {"t.f16", 1, {4}, 1, f16, sizeof f16},
        {"t.q8_0", 2, {32, 2}, 8, q8, sizeof q8},
        {"t.q4_0", 1, {64}, 2, q40, sizeof q40},
        {"t.q4_1", 3, {32, 1, 1}, 3, q41, sizeof q41},
        {"t.bf16", 1, {2}, 30, bf16, sizeof bf16},
    };
    Buf b = gguf_build(version, &m, ts, sizeof ts / sizeof ts[0], align, header_len);
    free(m.kv.p);
    return b;
}

#endif
