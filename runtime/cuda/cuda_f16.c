// cuda_f16.c: f32 -> f16 rounding of cuda_f16.h, done on bits so the result
// does not depend on the host compiler's or CPU's half-precision support.
#include "runtime/cuda/cuda_f16.h"

#include <string.h>

// Rounds mant >> shift to nearest, ties to even (1 <= shift <= 24).
static uint32_t shift_round_even(uint32_t mant, int shift) {
    uint32_t q = mant >> shift, rem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
    return q + (rem > half || (rem == half && (q & 1)));
}

uint16_t cuda_f16_from_f32(float f) {
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t a = x & 0x7fffffffu;
    if (a > 0x7f800000u) return sign | 0x7e00;  // NaN (quiet)
    if (a >= 0x477ff000u) return sign | 0x7c00; // >= 65520 rounds past the largest f16: infinity
    if (a >= 0x38800000u)                       // >= 2^-14: a normal f16; the carry may bump the exponent
        return sign | (uint16_t)shift_round_even(a - 0x38000000u, 13);
    if (a < 0x33000000u) return sign;           // <= 2^-25 rounds to zero
    // A subnormal f16: m * 2^-24 with the implicit bit made explicit.
    int exp = (int)(a >> 23);
    return sign | (uint16_t)shift_round_even((a & 0x7fffffu) | 0x800000u, 126 - exp);
}

void cuda_f32_to_f16(const float *src, uint16_t *dst, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = cuda_f16_from_f32(src[i]);
}
