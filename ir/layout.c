// layout.c: the packed weight layouts of ir/layout.h (awq-gemm, avx2-i4,
// vnni-i4, vnni-i8, neon-i4, u3-packed, u8-rows), their byte forms, and
// packing/unpacking a Weight.
// Every multi-byte value in a blob is little-endian whatever the host, so a
// blob means the same bytes on the build machine and on the target.
#include "ir/layout.h"

#include <stdlib.h>
#include <string.h>

// ----------------------------------------------------------------------------
// shape checks shared by the layouts

static size_t n_codes(int64_t rows, int64_t cols) { return (size_t)rows * (size_t)cols; }
static size_t n_groups_total(int64_t rows, int64_t cols, int group) { return (size_t)rows * (size_t)(cols / group); }

// The basic conditions of a quantized matrix, then one divisibility rule of the
// layout (what = "in_features" or "out_features").
static bool fits_common(const char *layout, int bits, int64_t rows, int64_t cols, int group, const char *what,
                        int64_t size, int64_t multiple, AwqcError *err) {
    if (!quant_check_params(rows, cols, bits, group, err)) {
        awqc_error_prefix(err, "layout %s", layout);
        return false;
    }
    if (size % multiple != 0)
        return awqc_fail(err, "layout %s needs %s divisible by %lld, got %lld", layout, what, (long long)multiple,
                         (long long)size);
    return true;
}

// ----------------------------------------------------------------------------
// the row-major tail of the CPU layouts: f16 scales [rows, cols/group], then
// u8 zeros [rows, cols/group]

static size_t tail_size(int64_t rows, int64_t cols, int group) { return 3 * n_groups_total(rows, cols, group); }

static void pack_tail(const QuantMatrix *m, uint8_t *out) {
    size_t n = n_groups_total(m->rows, m->cols, m->group);
    for (size_t i = 0; i < n; i++) awqc_store_le(out + 2 * i, m->scales[i], 2);
    memcpy(out + 2 * n, m->zeros, n);
}

static void unpack_tail(const uint8_t *in, QuantMatrix *m) {
    size_t n = n_groups_total(m->rows, m->cols, m->group);
    for (size_t i = 0; i < n; i++) m->scales[i] = (uint16_t)awqc_load_le(in + 2 * i, 2);
    memcpy(m->zeros, in + 2 * n, n);
}

// ----------------------------------------------------------------------------
// avx2-i4 / neon-i4: the codes of a row in blocks of 2*half; block byte e holds
// code[e] in its low nibble and code[half + e] in its high one, so a vector of
// half bytes gives the first half by AND 0x0f and the second by SHIFT 4.
// Blocks never straddle rows (cols is a multiple of 2*half), so the row-major
// code array can be walked flat.

static size_t split_nibbles_size(int64_t rows, int64_t cols, int group) {
    return n_codes(rows, cols) / 2 + tail_size(rows, cols, group);
}

static void pack_split_nibbles(const QuantMatrix *m, int half, uint8_t *out) {
    size_t n = n_codes(m->rows, m->cols);
    for (size_t base = 0; base < n; base += 2 * (size_t)half)
        for (int e = 0; e < half; e++)
            *out++ = (uint8_t)((m->q[base + e] & 0x0f) | (m->q[base + half + e] & 0x0f) << 4);
    pack_tail(m, out);
}

static void unpack_split_nibbles(const uint8_t *in, int half, QuantMatrix *m) {
    size_t n = n_codes(m->rows, m->cols);
    for (size_t base = 0; base < n; base += 2 * (size_t)half) {
        for (int e = 0; e < half; e++) {
            m->q[base + e] = *in & 0x0f;
            m->q[base + half + e] = *in >> 4;
            in++;
        }
    }
    unpack_tail(in, m);
}

static bool avx2_fits(int64_t rows, int64_t cols, int group, AwqcError *err) {
    return fits_common("avx2-i4", 4, rows, cols, group, "in_features", cols, 64, err);
}
static void avx2_pack(const QuantMatrix *m, uint8_t *out) { pack_split_nibbles(m, 32, out); }
static void avx2_unpack(const uint8_t *in, QuantMatrix *m) { unpack_split_nibbles(in, 32, m); }

static bool neon_fits(int64_t rows, int64_t cols, int group, AwqcError *err) {
    return fits_common("neon-i4", 4, rows, cols, group, "in_features", cols, 32, err);
}
static void neon_pack(const QuantMatrix *m, uint8_t *out) { pack_split_nibbles(m, 16, out); }
static void neon_unpack(const uint8_t *in, QuantMatrix *m) { unpack_split_nibbles(in, 16, m); }

// ----------------------------------------------------------------------------
// vnni-i4 and vnni-i8: rows in tiles of 16, and one 64-byte block per (tile,
// chunk of columns) holding 4 bytes per row j, so that one load is a 16-lane
// vpdpbusd operand (4 codes of each of 16 rows, a lane per row) against 4
// activation bytes broadcast to every lane.
// - vnni-i4, chunks of 8 codes: byte 4j + b = code[8c + b] | code[8c + 4 + b]
//   << 4; AND 0x0f gives one operand and SHIFT 4 the next.
// - vnni-i8, chunks of 4 codes: byte 4j + b = code[4c + b].
// The scales and zeros follow tile by tile, 16 rows of one group side by
// side, so a group's corrections load as one vector too.

#define VNNI_ROWS 16
#define VNNI_BLOCK 64 // bytes of one (tile, chunk) block

static bool vnni_fits_bits(const char *l, int bits, int64_t rows, int64_t cols, int group, AwqcError *err) {
    int chunk = ir_vnni_chunk_codes(bits);
    return fits_common(l, bits, rows, cols, group, "out_features", rows, VNNI_ROWS, err) &&
           fits_common(l, bits, rows, cols, group, "in_features", cols, chunk, err) &&
           fits_common(l, bits, rows, cols, group, "the group size", group, chunk, err);
}

static bool vnni4_fits(int64_t rows, int64_t cols, int group, AwqcError *err) {
    return vnni_fits_bits("vnni-i4", 4, rows, cols, group, err);
}
static bool vnni8_fits(int64_t rows, int64_t cols, int group, AwqcError *err) {
    return vnni_fits_bits("vnni-i8", 8, rows, cols, group, err);
}

// Index of row r's entry for group g in the tiled tail (scales or zeros).
static size_t vnni_tail_index(int64_t r, int64_t g, int64_t n_groups) {
    return (size_t)(((r / VNNI_ROWS) * n_groups + g) * VNNI_ROWS + r % VNNI_ROWS);
}

// Byte offset of the byte holding code (r, k): for vnni-i4 (k % 8 < 4) also
// code (r, k + 4).
static size_t vnni_code_byte(int64_t r, int64_t k, int64_t cols, int chunk) {
    int64_t block = (r / VNNI_ROWS) * (cols / chunk) + k / chunk;
    return (size_t)(block * VNNI_BLOCK + 4 * (r % VNNI_ROWS) + k % 4);
}

static void vnni_pack_codes(const QuantMatrix *m, uint8_t *out) {
    int chunk = ir_vnni_chunk_codes(m->bits);
    for (int64_t r = 0; r < m->rows; r++) {
        const uint8_t *q = m->q + r * m->cols;
        for (int64_t k = 0; k < m->cols; k += chunk)
            for (int b = 0; b < 4; b++)
                out[vnni_code_byte(r, k + b, m->cols, chunk)] =
                    chunk == 8 ? (uint8_t)((q[k + b] & 0x0f) | (q[k + 4 + b] & 0x0f) << 4) : q[k + b];
    }
}

static void vnni_unpack_codes(const uint8_t *in, QuantMatrix *m) {
    int chunk = ir_vnni_chunk_codes(m->bits);
    for (int64_t r = 0; r < m->rows; r++) {
        uint8_t *q = m->q + r * m->cols;
        for (int64_t k = 0; k < m->cols; k += chunk)
            for (int b = 0; b < 4; b++) {
                uint8_t byte = in[vnni_code_byte(r, k + b, m->cols, chunk)];
                if (chunk == 4) {
                    q[k + b] = byte;
                    continue;
                }
                q[k + b] = byte & 0x0f;
                q[k + 4 + b] = byte >> 4;
            }
    }
}

// The tail: f16 scales, then u8 zeros, each in the tiled order.
static void vnni_pack_tail(const QuantMatrix *m, uint8_t *out) {
    int64_t ng = quant_n_groups(m);
    uint8_t *zeros = out + 2 * n_groups_total(m->rows, m->cols, m->group);
    for (int64_t r = 0; r < m->rows; r++)
        for (int64_t g = 0; g < ng; g++) {
            size_t at = vnni_tail_index(r, g, ng);
            awqc_store_le(out + 2 * at, m->scales[r * ng + g], 2);
            zeros[at] = m->zeros[r * ng + g];
        }
}

static void vnni_unpack_tail(const uint8_t *in, QuantMatrix *m) {
    int64_t ng = quant_n_groups(m);
    const uint8_t *zeros = in + 2 * n_groups_total(m->rows, m->cols, m->group);
    for (int64_t r = 0; r < m->rows; r++)
        for (int64_t g = 0; g < ng; g++) {
            size_t at = vnni_tail_index(r, g, ng);
            m->scales[r * ng + g] = (uint16_t)awqc_load_le(in + 2 * at, 2);
            m->zeros[r * ng + g] = zeros[at];
        }
}

// Bytes of the codes: one per code for 8 bits, one per two for 4.
static size_t vnni_codes_size(const QuantMatrix *m) { return n_codes(m->rows, m->cols) * (size_t)m->bits / 8; }

static void vnni_pack(const QuantMatrix *m, uint8_t *out) {
    vnni_pack_codes(m, out);
    vnni_pack_tail(m, out + vnni_codes_size(m));
}

static void vnni_unpack(const uint8_t *in, QuantMatrix *m) {
    vnni_unpack_codes(in, m);
    vnni_unpack_tail(in + vnni_codes_size(m), m);
}

// ----------------------------------------------------------------------------
// u3-packed: each 8 consecutive codes of a row form the 24-bit word
// sum_i code[i] << 3i, stored low byte first in 3 bytes (the checkpoint's "u3"
// codes, docs/awqc-int3.md); then the row-major tail.

static size_t u3_size(int64_t rows, int64_t cols, int group) {
    return n_codes(rows, cols) / 8 * 3 + tail_size(rows, cols, group);
}

static bool u3_fits(int64_t rows, int64_t cols, int group, AwqcError *err) {
    return fits_common("u3-packed", 3, rows, cols, group, "in_features", cols, 8, err);
}

void ir_u3_pack_codes(const QuantMatrix *m, uint8_t *out) {
    size_t n = n_codes(m->rows, m->cols);
    for (size_t base = 0; base < n; base += 8) {
        uint32_t word = 0;
        for (int i = 0; i < 8; i++) word |= (uint32_t)(m->q[base + i] & 7) << (3 * i);
        for (int b = 0; b < 3; b++) *out++ = (uint8_t)(word >> (8 * b));
    }
}

void ir_u3_unpack_codes(const uint8_t *in, QuantMatrix *m) {
    size_t n = n_codes(m->rows, m->cols);
    for (size_t base = 0; base < n; base += 8, in += 3) {
        uint32_t word = (uint32_t)in[0] | (uint32_t)in[1] << 8 | (uint32_t)in[2] << 16;
        for (int i = 0; i < 8; i++) m->q[base + i] = (uint8_t)((word >> (3 * i)) & 7);
    }
}

static void u3_pack(const QuantMatrix *m, uint8_t *out) {
    ir_u3_pack_codes(m, out);
    pack_tail(m, out + n_codes(m->rows, m->cols) / 8 * 3);
}

static void u3_unpack(const uint8_t *in, QuantMatrix *m) {
    ir_u3_unpack_codes(in, m);
    unpack_tail(in + n_codes(m->rows, m->cols) / 8 * 3, m);
}

// ----------------------------------------------------------------------------
// u8-rows: the codes as they are, one byte each in row order, then the
// row-major tail. The CPU kernels read a group's codes as one vector, so a
// group is a whole number of 16-byte vectors.

static size_t u8_size(int64_t rows, int64_t cols, int group) {
    return n_codes(rows, cols) + tail_size(rows, cols, group);
}

static bool u8_fits(int64_t rows, int64_t cols, int group, AwqcError *err) {
    return fits_common("u8-rows", 8, rows, cols, group, "the group size", group, 16, err);
}

static void u8_pack(const QuantMatrix *m, uint8_t *out) {
    memcpy(out, m->q, n_codes(m->rows, m->cols));
    pack_tail(m, out + n_codes(m->rows, m->cols));
}

static void u8_unpack(const uint8_t *in, QuantMatrix *m) {
    memcpy(m->q, in, n_codes(m->rows, m->cols));
    unpack_tail(in + n_codes(m->rows, m->cols), m);
}

// ----------------------------------------------------------------------------
// awq-gemm: AutoAWQ's GEMM tensors back to back. qweight u32 [cols, rows/8],
// nibble i of word (k, c) = code of row 8c + ORDER[i], column k; qzeros u32
// [cols/group, rows/8] packed alike; scales f16 [cols/group, rows]. The order
// lets a GPU build two f16 values from one word with a single mask.

static const int GEMM_ORDER[8] = {0, 2, 4, 6, 1, 3, 5, 7};

// The blob is the three parts back to back.
static void gemm_parts(int64_t rows, int64_t cols, int group, size_t *qweight, size_t *qzeros) {
    *qweight = n_codes(rows, cols) / 2;
    *qzeros = (size_t)(cols / group) * (size_t)rows / 2;
}

static size_t gemm_size(int64_t rows, int64_t cols, int group) {
    size_t qw, qz;
    gemm_parts(rows, cols, group, &qw, &qz);
    return qw + qz + 4 * qz; // scales: one f16 per group and row, 4x the zeros' nibbles
}

static bool gemm_fits(int64_t rows, int64_t cols, int group, AwqcError *err) {
    return fits_common("awq-gemm", 4, rows, cols, group, "out_features", rows, 8, err);
}

// The word matrix [n, rows/8] and the byte matrix [rows, n] are transposes
// of each other. Both directions go through a tile of STRIP words (8 rows
// each) by TILE_K columns in a local buffer, so the byte matrix is read or
// written in whole runs of TILE_K bytes: one code at a time, its rows n bytes
// apart (often a power of two: one cache set), cost most of a 7B model's
// awqc compile (perf). Strips of STRIP words are independent, shared out
// among the OpenMP threads (a 7B model has 6.5 G codes).
enum { TILE_K = 64, STRIP = 16 };

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

// Words c0..c0+cn-1 of every row k of the [n, words] word matrix out, from
// rows 8*c0.. of the [rows, n] byte matrix src.
static void gemm_pack_strip(const uint8_t *src, int64_t words, int64_t n, int64_t c0, uint8_t *out) {
    uint8_t tile[8 * STRIP][TILE_K];
    int64_t cn = min64(STRIP, words - c0);
    for (int64_t k0 = 0; k0 < n; k0 += TILE_K) {
        int64_t kn = min64(TILE_K, n - k0);
        for (int64_t r = 0; r < 8 * cn; r++) memcpy(tile[r], src + (8 * c0 + r) * n + k0, (size_t)kn);
        for (int64_t c = 0; c < cn; c++) { // nibble by nibble over the columns: loops a compiler vectorises
            uint32_t w[TILE_K] = {0};
            for (int i = 0; i < 8; i++)
                for (int64_t k = 0; k < kn; k++) w[k] |= (uint32_t)(tile[8 * c + GEMM_ORDER[i]][k] & 0x0f) << (4 * i);
            for (int64_t k = 0; k < kn; k++) awqc_store_le(out + 4 * ((k0 + k) * words + c0 + c), w[k], 4);
        }
    }
}

static void gemm_unpack_strip(const uint8_t *in, int64_t words, int64_t n, int64_t c0, uint8_t *dst) {
    uint8_t tile[8 * STRIP][TILE_K];
    int64_t cn = min64(STRIP, words - c0);
    for (int64_t k0 = 0; k0 < n; k0 += TILE_K) {
        int64_t kn = min64(TILE_K, n - k0);
        for (int64_t c = 0; c < cn; c++) {
            uint32_t w[TILE_K];
            for (int64_t k = 0; k < kn; k++) w[k] = (uint32_t)awqc_load_le(in + 4 * ((k0 + k) * words + c0 + c), 4);
            for (int i = 0; i < 8; i++)
                for (int64_t k = 0; k < kn; k++) tile[8 * c + GEMM_ORDER[i]][k] = (uint8_t)((w[k] >> (4 * i)) & 0x0f);
        }
        for (int64_t r = 0; r < 8 * cn; r++) memcpy(dst + (8 * c0 + r) * n + k0, tile[r], (size_t)kn);
    }
}

// Packs the [rows, n] byte matrix src (codes or zeros) along its rows: word
// (k, c) of the [n, rows/8] result takes column k of rows 8c..8c+7.
static void gemm_pack_words(const uint8_t *src, int64_t rows, int64_t n, uint8_t *out) {
    int64_t words = rows / 8;
    AWQC_OMP_PARALLEL_FOR
    for (int64_t c0 = 0; c0 < words; c0 += STRIP) gemm_pack_strip(src, words, n, c0, out);
}

static void gemm_unpack_words(const uint8_t *in, int64_t rows, int64_t n, uint8_t *dst) {
    int64_t words = rows / 8;
    AWQC_OMP_PARALLEL_FOR
    for (int64_t c0 = 0; c0 < words; c0 += STRIP) gemm_unpack_strip(in, words, n, c0, dst);
}

void ir_gemm_pack_parts(const QuantMatrix *m, uint8_t *qweight, uint8_t *qzeros, uint8_t *scales) {
    int64_t ng = quant_n_groups(m);
    gemm_pack_words(m->q, m->rows, m->cols, qweight);
    gemm_pack_words(m->zeros, m->rows, ng, qzeros);
    for (int64_t g = 0; g < ng; g++)
        for (int64_t r = 0; r < m->rows; r++)
            awqc_store_le(scales + 2 * (g * m->rows + r), m->scales[r * ng + g], 2);
}

void ir_gemm_unpack_parts(const uint8_t *qweight, const uint8_t *qzeros, const uint8_t *scales, QuantMatrix *m) {
    int64_t ng = quant_n_groups(m);
    gemm_unpack_words(qweight, m->rows, m->cols, m->q);
    gemm_unpack_words(qzeros, m->rows, ng, m->zeros);
    for (int64_t g = 0; g < ng; g++)
        for (int64_t r = 0; r < m->rows; r++)
            m->scales[r * ng + g] = (uint16_t)awqc_load_le(scales + 2 * (g * m->rows + r), 2);
}

static void gemm_pack(const QuantMatrix *m, uint8_t *out) {
    size_t qw, qz;
    gemm_parts(m->rows, m->cols, m->group, &qw, &qz);
    ir_gemm_pack_parts(m, out, out + qw, out + qw + qz);
}

static void gemm_unpack(const uint8_t *in, QuantMatrix *m) {
    size_t qw, qz;
    gemm_parts(m->rows, m->cols, m->group, &qw, &qz);
    ir_gemm_unpack_parts(in, in + qw, in + qw + qz, m);
}

static const WeightLayout LAYOUT_AWQ_GEMM = {
    "awq-gemm", "AutoAWQ GEMM order, int32 words [in, out/8] (CUDA)", 4, false,
    gemm_fits, gemm_size, gemm_pack, gemm_unpack,
};
static const WeightLayout LAYOUT_AVX2_I4 = {
    "avx2-i4", "4-bit, 64 codes of a row per 32 bytes, code[e] | code[32+e] << 4 (x86-64)", 4, false,
    avx2_fits, split_nibbles_size, avx2_pack, avx2_unpack,
};
static const WeightLayout LAYOUT_VNNI_I4 = {
    "vnni-i4", "4-bit, 16 rows interleaved per 64 bytes for AVX-512 VNNI with 8-bit activations (x86-64)", 4, true,
    vnni4_fits, split_nibbles_size, vnni_pack, vnni_unpack, // avx2-i4's total, in other places
};
static const WeightLayout LAYOUT_VNNI_I8 = {
    "vnni-i8", "8-bit, 16 rows interleaved per 64 bytes for AVX-512 VNNI with 8-bit activations (x86-64)", 8, true,
    vnni8_fits, u8_size, vnni_pack, vnni_unpack, // u8-rows' total, in other places
};
static const WeightLayout LAYOUT_NEON_I4 = {
    "neon-i4", "4-bit, 32 codes of a row per 16 bytes, code[e] | code[16+e] << 4 (aarch64)", 4, false,
    neon_fits, split_nibbles_size, neon_pack, neon_unpack,
};
static const WeightLayout LAYOUT_U3_PACKED = {
    "u3-packed", "3-bit, 8 codes of a row per 3 bytes, code i at bits 3i..3i+2 (every target)", 3, false,
    u3_fits, u3_size, u3_pack, u3_unpack,
};

static const WeightLayout LAYOUT_U8_ROWS = {
    "u8-rows", "8-bit, one code per byte in row order (every CPU target)", 8, false,
    u8_fits, u8_size, u8_pack, u8_unpack,
};

static const WeightLayout *const LAYOUTS[] = {
    &LAYOUT_AWQ_GEMM, &LAYOUT_AVX2_I4,    &LAYOUT_VNNI_I4, &LAYOUT_VNNI_I8,
    &LAYOUT_NEON_I4,  &LAYOUT_U3_PACKED, &LAYOUT_U8_ROWS, NULL,
};

const WeightLayout *const *ir_layouts(void) { return LAYOUTS; }

const WeightLayout *ir_find_layout(const char *name) {
    if (!name) return NULL;
    for (size_t i = 0; LAYOUTS[i]; i++)
        if (strcmp(LAYOUTS[i]->name, name) == 0) return LAYOUTS[i];
    return NULL;
}

bool ir_weight_is_q4_gemm(const Weight *w) {
    return w && w->type.dtype == DT_Q4 && w->layout && strcmp(w->layout, LAYOUT_AWQ_GEMM.name) == 0;
}

// ----------------------------------------------------------------------------
// weights

// A packed layout keeps only the low bits of each value: a code or zero
// above qmax would come back different, so it is refused before packing.
static bool codes_in_range(const Weight *w, const QuantMatrix *m, AwqcError *err) {
    int qmax = (1 << m->bits) - 1;
    size_t n = n_codes(m->rows, m->cols), ng = n_groups_total(m->rows, m->cols, m->group);
    for (size_t i = 0; i < n; i++)
        if (m->q[i] > qmax)
            return awqc_fail(err, "weight %s: code %d at element %zu exceeds the %d-bit maximum %d", w->name,
                             m->q[i], i, m->bits, qmax);
    for (size_t i = 0; i < ng; i++)
        if (m->zeros[i] > qmax)
            return awqc_fail(err, "weight %s: zero point %d of group %zu exceeds the %d-bit maximum %d", w->name,
                             m->zeros[i], i, m->bits, qmax);
    return true;
}

bool ir_quant_shape(const Weight *w, int *bits, int64_t *rows, int64_t *cols, AwqcError *err) {
    const Type *t = &w->type;
    if (!ir_dtype_bits(t->dtype))
        return awqc_fail(err, "weight %s: dtype %s is not a quantized type", w->name, ir_dtype_name(t->dtype));
    if (t->rank != 2 || t->dims[0].kind != DIM_CONST || t->dims[1].kind != DIM_CONST)
        return awqc_fail(err, "weight %s: a quantized weight needs a constant 2-d shape", w->name);
    *bits = ir_dtype_bits(t->dtype);
    *rows = t->dims[0].size;
    *cols = t->dims[1].size;
    return true;
}

// The codes must agree with the type, or unpacking later would read the blob
// with another shape.
bool ir_quant_matches_type(const Weight *w, const QuantMatrix *m, AwqcError *err) {
    int bits = 0;
    int64_t rows = 0, cols = 0;
    if (!ir_quant_shape(w, &bits, &rows, &cols, err)) return false;
    if (bits != m->bits || rows != m->rows || cols != m->cols || w->type.group != m->group)
        return awqc_fail(err,
                         "weight %s: codes [%lld, %lld] %d-bit group %d disagree with its type "
                         "(%d-bit [%lld, %lld] group %d)",
                         w->name, (long long)m->rows, (long long)m->cols, m->bits, m->group, bits, (long long)rows,
                         (long long)cols, w->type.group);
    return true;
}

bool ir_pack_codes(const QuantMatrix *m, const char *name, const WeightLayout *l, uint8_t **out, size_t *size,
                   AwqcError *err) {
    if (m->bits != l->bits)
        return awqc_fail(err, "weight %s: layout %s packs %d-bit codes, the weight has %d-bit", name, l->name,
                         l->bits, m->bits);
    if (!l->fits(m->rows, m->cols, m->group, err)) {
        awqc_error_prefix(err, "weight %s", name);
        return false;
    }
    *size = l->packed_size(m->rows, m->cols, m->group);
    *out = xmalloc(*size);
    l->pack(m, *out);
    return true;
}

bool ir_pack_weight(Weight *w, const WeightLayout *l, AwqcError *err) {
    AWQC_ASSERT(w && l);
    const QuantMatrix *m = w->quant;
    if (!m) return awqc_fail(err, "weight %s: no quantized codes to pack as %s", w->name, l->name);
    uint8_t *blob;
    size_t size;
    if (!ir_quant_matches_type(w, m, err) || !codes_in_range(w, m, err) ||
        !ir_pack_codes(m, w->name, l, &blob, &size, err))
        return false;
    free(w->packed);
    free(w->layout);
    w->packed = blob;
    w->packed_size = size;
    w->layout = xstrdup(l->name);
    quant_matrix_free(w->quant);
    free(w->quant);
    w->quant = NULL;
    return true;
}

static bool copy_quant(const QuantMatrix *src, QuantMatrix *out, AwqcError *err) {
    if (!quant_matrix_init(out, src->rows, src->cols, src->bits, src->group, err)) return false;
    size_t ng = n_groups_total(src->rows, src->cols, src->group);
    memcpy(out->q, src->q, n_codes(src->rows, src->cols));
    memcpy(out->scales, src->scales, ng * sizeof *out->scales);
    memcpy(out->zeros, src->zeros, ng);
    return true;
}

bool ir_packed_matches_type(const Weight *w, AwqcError *err) {
    const WeightLayout *l = ir_find_layout(w->layout);
    if (!l) return awqc_fail(err, "weight @%s: unknown layout '%s'", w->name, w->layout ? w->layout : "(none)");
    int bits = 0;
    int64_t rows = 0, cols = 0;
    if (!ir_quant_shape(w, &bits, &rows, &cols, err)) return false;
    int group = w->type.group;
    if (bits != l->bits)
        return awqc_fail(err, "weight @%s: layout %s holds %d-bit codes but the weight is %d-bit", w->name, l->name,
                         l->bits, bits);
    if (!l->fits(rows, cols, group, err)) {
        awqc_error_prefix(err, "weight @%s", w->name);
        return false;
    }
    size_t want = l->packed_size(rows, cols, group);
    if (w->packed && w->packed_size != want)
        return awqc_fail(err, "weight @%s: %zu packed bytes, but layout %s of [%lld, %lld] group %d takes %zu", w->name,
                         w->packed_size, l->name, (long long)rows, (long long)cols, group, want);
    return true;
}

static bool unpack_weight(const Weight *w, QuantMatrix *out, AwqcError *err) {
    if (!ir_packed_matches_type(w, err)) return false;
    const Type *t = &w->type;
    int bits = 0;
    int64_t rows = 0, cols = 0;
    bool shaped = ir_quant_shape(w, &bits, &rows, &cols, err);
    AWQC_ASSERT(shaped); // ir_packed_matches_type checked the type
    if (!quant_matrix_init(out, rows, cols, bits, t->group, err)) {
        awqc_error_prefix(err, "weight @%s", w->name);
        return false;
    }
    ir_find_layout(w->layout)->unpack(w->packed, out);
    return true;
}

bool ir_weight_codes(const Weight *w, QuantMatrix *out, AwqcError *err) {
    AWQC_ASSERT(w && out);
    memset(out, 0, sizeof *out);
    if (w->quant) return copy_quant(w->quant, out, err);
    if (!w->packed) return awqc_fail(err, "weight %s: neither quantized codes nor packed bytes", w->name);
    return unpack_weight(w, out, err);
}
