// test_ir_layout.c: the packed weight layouts (ir/layout.h): random matrices
// round-trip bit-exactly through every layout, hand-computed bytes pin down
// each byte order, shapes a layout cannot take are refused with a message,
// and ir_weight_codes rejects blobs that disagree with the weight's type.
#include <stdlib.h>
#include <string.h>

#include "ir/layout.h"
#include "test_qmatrix.h"
#include "test_support.h"

// ----------------------------------------------------------------------------
// helpers

static uint32_t rng_state = 0x2545f491u;

static QuantMatrix *random_quant(int64_t rows, int64_t cols, int bits, int group) {
    return test_random_quant(&rng_state, rows, cols, bits, group);
}

static void free_quant(QuantMatrix *m) {
    quant_matrix_free(m);
    free(m);
}

static Weight quant_weight(const char *name, QuantMatrix *m) {
    int64_t dims[2] = {m->rows, m->cols};
    Weight w = {0};
    w.name = (char *)name;
    w.type = ir_type_const(m->bits == 4 ? DT_Q4 : m->bits == 8 ? DT_Q8 : DT_Q3, 2, dims);
    w.type.group = m->group;
    w.quant = m;
    return w;
}

static bool same_quant(const QuantMatrix *a, const QuantMatrix *b) {
    if (a->rows != b->rows || a->cols != b->cols || a->bits != b->bits || a->group != b->group) return false;
    size_t n = (size_t)(a->rows * a->cols), ng = (size_t)(a->rows * (a->cols / a->group));
    return memcmp(a->q, b->q, n) == 0 && memcmp(a->zeros, b->zeros, ng) == 0 &&
           memcmp(a->scales, b->scales, ng * sizeof *a->scales) == 0;
}

static const WeightLayout *layout(const char *name) {
    const WeightLayout *l = ir_find_layout(name);
    CHECK_MSG(l != NULL, "layout %s missing", name);
    if (!l) exit(test_result());
    return l;
}

// Packs a fresh blob with the layout's own functions (no Weight involved).
static uint8_t *pack_blob(const WeightLayout *l, const QuantMatrix *m, size_t *size) {
    AwqcError err = {{0}};
    CHECK_MSG(l->fits(m->rows, m->cols, m->group, &err), "%s", err.msg);
    *size = l->packed_size(m->rows, m->cols, m->group);
    uint8_t *blob = xmalloc(*size);
    l->pack(m, blob);
    return blob;
}

// ----------------------------------------------------------------------------
// round trips

// Through a Weight: ir_pack_weight then ir_weight_codes gives the codes back.
static void check_round_trip(const char *name, int64_t rows, int64_t cols, int bits, int group) {
    const WeightLayout *l = layout(name);
    QuantMatrix *m = random_quant(rows, cols, bits, group);
    QuantMatrix orig; // ir_weight_codes of unpacked codes is a copy
    AwqcError err = {{0}};
    CHECK_MSG(ir_weight_codes(&(Weight){.name = "copy", .quant = m}, &orig, &err), "%s", err.msg);
    CHECK(orig.q != m->q && same_quant(&orig, m));
    Weight w = quant_weight("blk.0.w", m);
    CHECK_MSG(ir_pack_weight(&w, l, &err), "%s [%lld, %lld]: %s", name, (long long)rows, (long long)cols, err.msg);
    CHECK(w.quant == NULL && w.packed != NULL && w.layout && strcmp(w.layout, name) == 0);
    CHECK(w.packed_size == l->packed_size(rows, cols, group));
    QuantMatrix back;
    CHECK_MSG(ir_weight_codes(&w, &back, &err), "%s: %s", name, err.msg);
    CHECK_MSG(same_quant(&orig, &back), "%s [%lld, %lld] g%d: round trip differs", name, (long long)rows,
              (long long)cols, group);
    quant_matrix_free(&back);
    quant_matrix_free(&orig);
    ir_weight_release(&w);
}

static void test_round_trips(void) {
    check_round_trip("awq-gemm", 16, 256, 4, 64);
    check_round_trip("awq-gemm", 24, 128, 4, 128);
    check_round_trip("awq-gemm", 8, 96, 4, 32);
    check_round_trip("avx2-i4", 3, 192, 4, 64);
    check_round_trip("avx2-i4", 2, 128, 4, 32);
    check_round_trip("vnni-i4", 16, 8, 4, 8);
    check_round_trip("vnni-i4", 48, 192, 4, 64);
    check_round_trip("vnni-i4", 32, 96, 4, 32);
    check_round_trip("vnni-i8", 16, 4, 8, 4);
    check_round_trip("vnni-i8", 48, 576, 8, 64);
    check_round_trip("vnni-i8", 32, 256, 8, 128);
    check_round_trip("u8-rows", 3, 64, 8, 32);
    check_round_trip("neon-i4", 5, 96, 4, 32);
    check_round_trip("neon-i4", 1, 32, 4, 16);
    check_round_trip("u3-packed", 4, 48, 3, 16);
    check_round_trip("u3-packed", 3, 64, 3, 64);
    check_round_trip("u3-packed", 7, 8, 3, 8);
}

// The packed sizes, written out from the byte diagrams of docs/layouts.md.
static void test_sizes(void) {
    CHECK(layout("awq-gemm")->packed_size(16, 256, 64) == 16 * 256 / 2 + 4 * 16 / 2 + 4 * 16 * 2);
    CHECK(layout("avx2-i4")->packed_size(3, 192, 64) == 3 * 192 / 2 + 3 * 3 * 3);
    CHECK(layout("neon-i4")->packed_size(5, 96, 32) == 5 * 96 / 2 + 5 * 3 * 3);
    CHECK(layout("vnni-i4")->packed_size(32, 128, 64) == 32 * 128 / 2 + 3 * 32 * 2);
    CHECK(layout("vnni-i8")->packed_size(32, 128, 64) == 32 * 128 + 3 * 32 * 2);
    CHECK(layout("u3-packed")->packed_size(4, 48, 16) == 4 * 48 * 3 / 8 + 4 * 3 * 3);
}

// ----------------------------------------------------------------------------
// byte positions by hand

static void test_avx2_bytes(void) {
    QuantMatrix *m = random_quant(2, 64, 4, 64);
    m->scales[0] = 0x3c01;
    m->scales[1] = 0xabcd;
    m->zeros[0] = 9;
    m->zeros[1] = 14;
    size_t size;
    uint8_t *b = pack_blob(layout("avx2-i4"), m, &size);
    CHECK(size == 2 * 32 + 2 * 2 + 2);
    CHECK(b[0] == (m->q[0] | m->q[32] << 4));
    CHECK(b[5] == (m->q[5] | m->q[37] << 4));
    CHECK(b[31] == (m->q[31] | m->q[63] << 4));
    CHECK(b[32] == (m->q[64] | m->q[96] << 4)); // row 1 starts its own block
    CHECK(b[64] == 0x01 && b[65] == 0x3c && b[66] == 0xcd && b[67] == 0xab);
    CHECK(b[68] == 9 && b[69] == 14);
    free(b);
    free_quant(m);
}

// Two tiles of 16 rows, two chunks of 8 columns, two groups of 8: block
// (t, c) starts at (2t + c) * 64 and holds row j's chunk in bytes 4j..4j+3.
static void test_vnni_bytes(void) {
    QuantMatrix *m = random_quant(32, 16, 4, 8);
    m->scales[3 * 2 + 1] = 0xbeef; // row 3, group 1
    m->scales[17 * 2 + 0] = 0x1234; // row 17 (tile 1, j 1), group 0
    m->zeros[3 * 2 + 1] = 11;
    m->zeros[17 * 2 + 0] = 6;
    size_t size;
    uint8_t *b = pack_blob(layout("vnni-i4"), m, &size);
    CHECK(size == 32 * 16 / 2 + 3 * 32 * 2);
#define Q(r, k) (m->q[(r) * 16 + (k)])
    CHECK(b[4 * 3 + 1] == (Q(3, 1) | Q(3, 5) << 4));             // tile 0, chunk 0, row 3
    CHECK(b[0] == (Q(0, 0) | Q(0, 4) << 4));
    CHECK(b[63] == (Q(15, 3) | Q(15, 7) << 4));
    CHECK(b[64 + 4 * 2 + 3] == (Q(2, 11) | Q(2, 15) << 4));      // tile 0, chunk 1, row 2
    CHECK(b[2 * 64 + 4 * 1 + 0] == (Q(17, 0) | Q(17, 4) << 4));  // tile 1, chunk 0, row 17
    CHECK(b[3 * 64 + 4 * 15 + 2] == (Q(31, 10) | Q(31, 14) << 4)); // the last block
#undef Q
    // scales: element (t * 2 + g) * 16 + j, two bytes each after the 256 code bytes
    size_t s31 = 256 + 2 * ((0 * 2 + 1) * 16 + 3), s170 = 256 + 2 * ((1 * 2 + 0) * 16 + 1);
    CHECK(b[s31] == 0xef && b[s31 + 1] == 0xbe);
    CHECK(b[s170] == 0x34 && b[s170 + 1] == 0x12);
    // zeros after the 2 * 64 scale bytes, in the same order
    CHECK(b[256 + 128 + (0 * 2 + 1) * 16 + 3] == 11);
    CHECK(b[256 + 128 + (1 * 2 + 0) * 16 + 1] == 6);
    free(b);
    free_quant(m);
}

// The example of the layout's description: N = 16, K = 8, every code its own.
static void test_vnni_small(void) {
    QuantMatrix *m = random_quant(16, 8, 4, 8);
    for (int r = 0; r < 16; r++)
        for (int k = 0; k < 8; k++) m->q[r * 8 + k] = (uint8_t)((r + 3 * k) & 0x0f);
    size_t size;
    uint8_t *b = pack_blob(layout("vnni-i4"), m, &size);
    CHECK(size == 64 + 3 * 16);
    // code[3][1] = 6, code[3][5] = 18 & 15 = 2
    CHECK(b[4 * 3 + 1] == 0x26);
    free(b);
    free_quant(m);
}

// vnni-i8: two tiles of 16 rows, chunks of 4 columns, group 8: block (t, c)
// starts at (t * 4 + c) * 64 (16 columns = 4 chunks) and holds row j's 4
// codes in bytes 4j..4j+3, whole bytes; the tail is vnni-i4's.
static void test_vnni8_bytes(void) {
    QuantMatrix *m = random_quant(32, 16, 8, 8);
    m->scales[18 * 2 + 1] = 0xcafe; // row 18 (tile 1, j 2), group 1
    m->zeros[18 * 2 + 1] = 201;
    size_t size;
    uint8_t *b = pack_blob(layout("vnni-i8"), m, &size);
    CHECK(size == 32 * 16 + 3 * 32 * 2);
#define Q(r, k) (m->q[(r) * 16 + (k)])
    CHECK(b[0] == Q(0, 0) && b[3] == Q(0, 3));
    CHECK(b[4 * 5 + 2] == Q(5, 2));                   // tile 0, chunk 0, row 5
    CHECK(b[64 * 1 + 4 * 5 + 2] == Q(5, 6));          // tile 0, chunk 1
    CHECK(b[64 * 3 + 4 * 15 + 3] == Q(15, 15));       // tile 0, the last chunk
    CHECK(b[64 * 4 + 4 * 2 + 1] == Q(18, 1));         // tile 1, chunk 0, row 18
    CHECK(b[64 * 7 + 4 * 15 + 3] == Q(31, 15));       // the last byte of the codes
#undef Q
    size_t s = 512 + 2 * ((1 * 2 + 1) * 16 + 2); // scales: (t * 2 + g) * 16 + j
    CHECK(b[s] == 0xfe && b[s + 1] == 0xca);
    CHECK(b[512 + 128 + (1 * 2 + 1) * 16 + 2] == 201);
    free(b);
    free_quant(m);
}

static void test_neon_bytes(void) {
    QuantMatrix *m = random_quant(1, 64, 4, 32);
    m->scales[1] = 0x1234;
    m->zeros[1] = 3;
    size_t size;
    uint8_t *b = pack_blob(layout("neon-i4"), m, &size);
    CHECK(size == 32 + 2 * 2 + 2);
    CHECK(b[0] == (m->q[0] | m->q[16] << 4));
    CHECK(b[15] == (m->q[15] | m->q[31] << 4));
    CHECK(b[16] == (m->q[32] | m->q[48] << 4));
    CHECK(b[34] == 0x34 && b[35] == 0x12);
    CHECK(b[37] == 3);
    free(b);
    free_quant(m);
}

static void test_u3_bytes(void) {
    QuantMatrix *m = random_quant(1, 16, 3, 8);
    static const uint8_t codes[8] = {1, 2, 3, 4, 5, 6, 7, 0};
    memcpy(m->q, codes, 8);
    memset(m->q + 8, 7, 8);
    m->scales[0] = 0xbeef;
    m->zeros[1] = 5;
    size_t size;
    uint8_t *b = pack_blob(layout("u3-packed"), m, &size);
    CHECK(size == 6 + 2 * 2 + 2);
    // 1 | 2<<3 | 3<<6 | 4<<9 | 5<<12 | 6<<15 | 7<<18 = 0x1f58d1
    CHECK(b[0] == 0xd1 && b[1] == 0x58 && b[2] == 0x1f);
    CHECK(b[3] == 0xff && b[4] == 0xff && b[5] == 0xff);
    CHECK(b[6] == 0xef && b[7] == 0xbe);
    CHECK(b[11] == 5);
    free(b);
    free_quant(m);
}

// Rows 0..7 of column 0 hold codes 0..7: nibble i of the first word holds row
// ORDER[i] = 0,2,4,6,1,3,5,7, so the word reads 0x75316420.
static void test_gemm_bytes(void) {
    QuantMatrix *m = random_quant(8, 4, 4, 4);
    for (int r = 0; r < 8; r++) {
        m->q[r * 4 + 0] = (uint8_t)r;
        m->q[r * 4 + 1] = (uint8_t)(r == 5 ? 0xf : 0);
        m->zeros[r] = (uint8_t)(7 - r);
        m->scales[r] = (uint16_t)(0x3c00 + r);
    }
    size_t size;
    uint8_t *b = pack_blob(layout("awq-gemm"), m, &size);
    CHECK(size == 16 + 4 + 16);
    CHECK(b[0] == 0x20 && b[1] == 0x64 && b[2] == 0x31 && b[3] == 0x75);
    // column 1: only row 5 set, which is nibble 6 (bits 24..27)
    CHECK(b[4] == 0 && b[5] == 0 && b[6] == 0 && b[7] == 0x0f);
    // zeros 7..0 in the same order: nibbles 7,5,3,1,6,4,2,0 -> 0x02461357
    CHECK(b[16] == 0x57 && b[17] == 0x13 && b[18] == 0x46 && b[19] == 0x02);
    for (int r = 0; r < 8; r++) CHECK(b[20 + 2 * r] == r && b[21 + 2 * r] == 0x3c);
    free(b);
    free_quant(m);
}

// A shape past layout.c's tiles (16 words of rows, 64 columns), with partial
// ones at both ends: every nibble of the blob against the format's definition,
// word (k, c) nibble i = code of row 8c + ORDER[i] in column k.
static void test_gemm_bytes_tiled(void) {
    static const int order[8] = {0, 2, 4, 6, 1, 3, 5, 7};
    int64_t rows = 8 * 37, cols = 160, group = 32, words = rows / 8, ng = cols / group;
    QuantMatrix *m = random_quant(rows, cols, 4, (int)group);
    size_t size;
    uint8_t *b = pack_blob(layout("awq-gemm"), m, &size);
    int bad = 0;
    for (int64_t k = 0; k < cols; k++)
        for (int64_t c = 0; c < words; c++)
            for (int i = 0; i < 8; i++) {
                uint32_t word = (uint32_t)awqc_load_le(b + 4 * (k * words + c), 4);
                bad += ((word >> (4 * i)) & 0xf) != m->q[(8 * c + order[i]) * cols + k];
            }
    const uint8_t *qz = b + rows * cols / 2;
    for (int64_t g = 0; g < ng; g++)
        for (int64_t c = 0; c < words; c++)
            for (int i = 0; i < 8; i++) {
                uint32_t word = (uint32_t)awqc_load_le(qz + 4 * (g * words + c), 4);
                bad += ((word >> (4 * i)) & 0xf) != m->zeros[(8 * c + order[i]) * ng + g];
            }
    CHECK_MSG(bad == 0, "%d nibbles of a [%lld, %lld] awq-gemm blob out of place", bad, (long long)rows,
              (long long)cols);
    QuantMatrix back;
    CHECK(quant_matrix_init(&back, rows, cols, 4, (int)group, &(AwqcError){{0}}));
    layout("awq-gemm")->unpack(b, &back);
    CHECK_MSG(same_quant(m, &back), "a [%lld, %lld] awq-gemm blob unpacks to other codes", (long long)rows,
              (long long)cols);
    quant_matrix_free(&back);
    free(b);
    free_quant(m);
}

// ----------------------------------------------------------------------------
// refusals

static void check_rejects(const char *name, int64_t rows, int64_t cols, int group, const char *want) {
    AwqcError err = {{0}};
    CHECK_MSG(!layout(name)->fits(rows, cols, group, &err), "%s took [%lld, %lld]", name, (long long)rows,
              (long long)cols);
    CHECK_MSG(strstr(err.msg, want) != NULL, "got '%s', want '%s'", err.msg, want);
}

static void test_fits(void) {
    check_rejects("avx2-i4", 4, 100, 4, "layout avx2-i4 needs in_features divisible by 64, got 100");
    check_rejects("neon-i4", 4, 48, 16, "layout neon-i4 needs in_features divisible by 32, got 48");
    check_rejects("u3-packed", 4, 12, 4, "layout u3-packed needs in_features divisible by 8, got 12");
    check_rejects("awq-gemm", 12, 64, 64, "layout awq-gemm needs out_features divisible by 8, got 12");
    check_rejects("avx2-i4", 4, 128, 48, "layout avx2-i4: group size 48 does not divide in_features 128");
    check_rejects("awq-gemm", 0, 64, 64, "empty matrix");
    check_rejects("vnni-i4", 100, 64, 64, "layout vnni-i4 needs out_features divisible by 16, got 100");
    check_rejects("vnni-i4", 16, 12, 4, "layout vnni-i4 needs in_features divisible by 8, got 12");
    check_rejects("vnni-i4", 16, 64, 4, "layout vnni-i4 needs the group size divisible by 8, got 4");
    check_rejects("vnni-i4", 16, 64, 48, "layout vnni-i4: group size 48 does not divide in_features 64");
    check_rejects("vnni-i8", 40, 64, 64, "layout vnni-i8 needs out_features divisible by 16, got 40");
    check_rejects("vnni-i8", 16, 66, 2, "layout vnni-i8 needs in_features divisible by 4, got 66");
    AwqcError err = {{0}};
    CHECK(layout("avx2-i4")->fits(1, 64, 64, &err));
    CHECK(layout("awq-gemm")->fits(8, 4, 4, &err));
    CHECK(layout("vnni-i4")->fits(16, 8, 8, &err));
    CHECK(layout("vnni-i4")->fits(576, 1536, 64, &err));
}

static void test_pack_refusals(void) {
    AwqcError err = {{0}};
    QuantMatrix *m3 = random_quant(2, 64, 3, 64);
    Weight w = quant_weight("w3", m3);
    CHECK(!ir_pack_weight(&w, layout("avx2-i4"), &err) && strstr(err.msg, "w3") && strstr(err.msg, "4-bit"));
    CHECK(w.quant == m3 && w.packed == NULL && w.layout == NULL);
    ir_weight_release(&w);

    QuantMatrix *m = random_quant(2, 100, 4, 4);
    w = quant_weight("odd", m);
    CHECK(!ir_pack_weight(&w, layout("avx2-i4"), &err) && strstr(err.msg, "weight odd: layout avx2-i4 needs"));
    CHECK(w.quant == m && w.packed == NULL);
    ir_weight_release(&w);

    m = random_quant(2, 64, 4, 64);
    m->q[70] = 16; // not a 4-bit code: would not come back
    w = quant_weight("big", m);
    CHECK(!ir_pack_weight(&w, layout("avx2-i4"), &err) && strstr(err.msg, "big") && strstr(err.msg, "element 70"));
    CHECK(w.quant == m && w.packed == NULL);
    ir_weight_release(&w);

    m = random_quant(2, 64, 4, 64);
    w = quant_weight("shape", m);
    w.type.dims[0].size = 4;
    CHECK(!ir_pack_weight(&w, layout("avx2-i4"), &err) && strstr(err.msg, "disagree with its type"));
    ir_weight_release(&w);

    w = (Weight){.name = "empty"};
    CHECK(!ir_pack_weight(&w, layout("neon-i4"), &err) && strstr(err.msg, "empty"));
}

static Weight packed_weight(const char *name, const char *layout_name, int64_t rows, int64_t cols, int group) {
    int bits = layout(layout_name)->bits;
    Weight w = quant_weight(name, random_quant(rows, cols, bits, group));
    AwqcError err = {{0}};
    CHECK_MSG(ir_pack_weight(&w, layout(layout_name), &err), "%s", err.msg);
    return w;
}

static void test_codes_refusals(void) {
    AwqcError err = {{0}};
    QuantMatrix out;
    Weight w = packed_weight("blk.3.ffn_up.weight", "neon-i4", 4, 64, 32);
    w.packed_size--;
    CHECK(!ir_weight_codes(&w, &out, &err) && strstr(err.msg, "blk.3.ffn_up.weight") &&
          strstr(err.msg, "packed bytes"));
    w.packed_size++;
    w.type.dims[1].size = 128; // the type says a bigger matrix than the blob holds
    CHECK(!ir_weight_codes(&w, &out, &err) && strstr(err.msg, "blk.3.ffn_up.weight"));
    w.type.dims[1].size = 64;
    w.type.dtype = DT_Q3; // a 4-bit layout cannot hold a 3-bit weight
    CHECK(!ir_weight_codes(&w, &out, &err) && strstr(err.msg, "3-bit"));
    w.type.dtype = DT_Q4;
    free(w.layout);
    w.layout = xstrdup("sse-i4");
    CHECK(!ir_weight_codes(&w, &out, &err) && strstr(err.msg, "unknown layout 'sse-i4'"));
    free(w.layout);
    w.layout = xstrdup("neon-i4");
    CHECK_MSG(ir_weight_codes(&w, &out, &err), "%s", err.msg);
    quant_matrix_free(&out);
    ir_weight_release(&w);

    w = (Weight){.name = "unbound"};
    CHECK(!ir_weight_codes(&w, &out, &err) && strstr(err.msg, "unbound"));
}

static void test_table(void) {
    const WeightLayout *const *all = ir_layouts();
    size_t n = 0;
    for (; all[n]; n++) {
        CHECK(ir_find_layout(all[n]->name) == all[n]);
        CHECK(all[n]->bits == 3 || all[n]->bits == 4 || all[n]->bits == 8);
        CHECK(all[n]->what && all[n]->what[0]);
    }
    CHECK(n == 7); // awq-gemm, avx2-i4, vnni-i4, vnni-i8, neon-i4, u3-packed, u8-rows
    CHECK(ir_find_layout("avx512-i4") == NULL);
    CHECK(ir_find_layout(NULL) == NULL);
}

int main(void) {
    test_table();
    test_round_trips();
    test_sizes();
    test_avx2_bytes();
    test_neon_bytes();
    test_vnni_bytes();
    test_vnni_small();
    test_vnni8_bytes();
    test_u3_bytes();
    test_gemm_bytes();
    test_gemm_bytes_tiled();
    test_fits();
    test_pack_refusals();
    test_codes_refusals();
    return test_result();
}
