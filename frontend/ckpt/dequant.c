// dequant.c: reference dequantizers for GGUF's 32-element block formats
// (Q8_0, Q4_0, Q4_1). Plain scalar code: these define the expected values
// that faster paths elsewhere are checked against.
#include "frontend/ckpt/checkpoint.h"

#include <string.h>

#define QBLOCK 32

// Block scales are f16 at byte offsets that need not be 2-aligned in the map.
static float read_f16(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return awqc_f16_to_f32(h);
}

// ----------------------------------------------------------------------------
// Q8_0: {f16 d; int8 q[32]}, value = q * d

void dequant_q8_0(const void *src, float *dst, int64_t n) {
    AWQC_ASSERT(n % QBLOCK == 0);
    const uint8_t *b = src;
    for (int64_t blk = 0; blk < n / QBLOCK; blk++, b += 34, dst += QBLOCK) {
        float d = read_f16(b);
        const int8_t *q = (const int8_t *)(b + 2);
        for (int j = 0; j < QBLOCK; j++) dst[j] = (float)q[j] * d;
    }
}

// ----------------------------------------------------------------------------
// Q4_0 / Q4_1: 16 bytes of nibbles; byte j holds element j in its low nibble
// and element j + 16 in its high nibble.

void dequant_q4_0(const void *src, float *dst, int64_t n) {
    AWQC_ASSERT(n % QBLOCK == 0);
    const uint8_t *b = src;
    for (int64_t blk = 0; blk < n / QBLOCK; blk++, b += 18, dst += QBLOCK) {
        float d = read_f16(b);
        const uint8_t *qs = b + 2;
        for (int j = 0; j < QBLOCK / 2; j++) {
            dst[j] = (float)((int)(qs[j] & 0x0f) - 8) * d;
            dst[j + QBLOCK / 2] = (float)((int)(qs[j] >> 4) - 8) * d;
        }
    }
}

void dequant_q4_1(const void *src, float *dst, int64_t n) {
    AWQC_ASSERT(n % QBLOCK == 0);
    const uint8_t *b = src;
    for (int64_t blk = 0; blk < n / QBLOCK; blk++, b += 20, dst += QBLOCK) {
        float d = read_f16(b), m = read_f16(b + 2);
        const uint8_t *qs = b + 4;
        for (int j = 0; j < QBLOCK / 2; j++) {
            dst[j] = (float)(qs[j] & 0x0f) * d + m;
            dst[j + QBLOCK / 2] = (float)(qs[j] >> 4) * d + m;
        }
    }
}
