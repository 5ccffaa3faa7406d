// test_f16.c: common/util.h's f32 -> f16 rounding (the quantizer's f16
// scales, the LM head the GPU runtime uploads as f16): exact on every f16
// value, ties to even, overflow, subnormals.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "test_support.h"

static float bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

// Every finite f16 survives f16 -> f32 -> f16; midpoints go to the even neighbour.
static void test_all_halves(void) {
    int bad = 0, bad_ties = 0;
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7c00) == 0x7c00) continue; // inf, NaN
        float f = awqc_f16_to_f32((uint16_t)h);
        bad += awqc_f32_to_f16(f) != h;
        uint32_t next = h + 1;
        if ((h & 0x7fff) == 0x7bff || (next & 0x7c00) == 0x7c00) continue;
        double mid = 0.5 * ((double)f + (double)awqc_f16_to_f32((uint16_t)next)); // exact in f32
        uint16_t want = (h & 1) ? (uint16_t)next : (uint16_t)h;
        bad_ties += awqc_f32_to_f16((float)mid) != want;
    }
    CHECK_MSG(bad == 0, "%d f16 values do not round-trip", bad);
    CHECK_MSG(bad_ties == 0, "%d midpoints not rounded to even", bad_ties);
}

static void test_edges(void) {
    CHECK(awqc_f32_to_f16(1.0f) == 0x3c00);
    CHECK(awqc_f32_to_f16(-2.0f) == 0xc000);
    CHECK(awqc_f32_to_f16(65504.0f) == 0x7bff);
    CHECK(awqc_f32_to_f16(65519.0f) == 0x7bff);
    CHECK(awqc_f32_to_f16(65520.0f) == 0x7c00);
    CHECK(awqc_f32_to_f16(1e9f) == 0x7c00 && awqc_f32_to_f16(-1e9f) == 0xfc00);
    CHECK(awqc_f32_to_f16(INFINITY) == 0x7c00);
    CHECK((awqc_f32_to_f16(NAN) & 0x7c00) == 0x7c00 && (awqc_f32_to_f16(NAN) & 0x3ff) != 0);
    CHECK(awqc_f32_to_f16(bits_f32(0x33000000)) == 0x0000); // 2^-25: ties to zero
    CHECK(awqc_f32_to_f16(bits_f32(0x33000001)) == 0x0001); // just above: the smallest subnormal
    CHECK(awqc_f32_to_f16(-0.0f) == 0x8000);
    CHECK(awqc_f32_to_f16(1.0f + 1.0f / 4096) == 0x3c00);  // below half an ulp
    CHECK(awqc_f32_to_f16(1.0f + 2.0f / 4096) == 0x3c00);  // half an ulp: ties to even, down
    CHECK(awqc_f32_to_f16(1.0f + 6.0f / 4096) == 0x3c02);  // 1.5 ulp: ties to even, up
    CHECK(awqc_f32_to_f16(bits_f32(0x387fe000)) == 0x0400); // just under 2^-14 rounds up to the smallest normal
    float src[3] = {0.5f, -0.25f, 3.0f};
    uint16_t dst[3];
    for (int i = 0; i < 3; i++) dst[i] = awqc_f32_to_f16(src[i]);
    CHECK(dst[0] == 0x3800 && dst[1] == 0xb400 && dst[2] == 0x4200);
}

// ----------------------------------------------------------------------------
// f32 -> f16

static void test_f16_specials(void) {
    CHECK(awqc_f32_to_f16(0.0f) == 0x0000);
    CHECK(awqc_f32_to_f16(-0.0f) == 0x8000);
    CHECK(awqc_f32_to_f16(1.0f) == 0x3c00);
    CHECK(awqc_f32_to_f16(0.2f) == 0x3266);
    CHECK(awqc_f32_to_f16(-2.5f) == 0xc100);
    CHECK(awqc_f32_to_f16(65504.0f) == 0x7bff);
    CHECK(awqc_f32_to_f16(65519.99f) == 0x7bff);
    CHECK(awqc_f32_to_f16(65520.0f) == 0x7c00); // the tie above the max rounds to even: inf
    CHECK(awqc_f32_to_f16(1e30f) == 0x7c00);
    CHECK(awqc_f32_to_f16(-INFINITY) == 0xfc00);
    uint16_t nan = awqc_f32_to_f16(NAN);
    CHECK((nan & 0x7c00) == 0x7c00 && (nan & 0x3ff) != 0);
    CHECK(awqc_f32_to_f16(ldexpf(1.0f, -25)) == 0x0000); // half of the smallest subnormal: tie to 0
    CHECK(awqc_f32_to_f16(ldexpf(1.0001f, -25)) == 0x0001);
    CHECK(awqc_f32_to_f16(ldexpf(3.0f, -25)) == 0x0002); // 1.5 units: tie to even 2
    CHECK(awqc_f32_to_f16(1e-8f) == 0x0000);
    CHECK(awqc_f32_to_f16(1e-40f) == 0x0000); // an f32 subnormal
}

// Every finite half converts back to itself; the midpoint to the next half
// rounds to the even one, and one f32 ulp either side of it to the nearer.
static void test_f16_exhaustive(void) {
    int bad = 0;
    for (uint32_t h = 0; h < 0x7bff; h++) {
        float a = awqc_f16_to_f32((uint16_t)h), b = awqc_f16_to_f32((uint16_t)(h + 1));
        float mid = (a + b) / 2; // exact: halves have 11 significant bits
        uint16_t even = (h & 1) ? (uint16_t)(h + 1) : (uint16_t)h;
        bool ok = awqc_f32_to_f16(a) == h && awqc_f32_to_f16(-a) == (h | 0x8000) &&
                  awqc_f32_to_f16(mid) == even && awqc_f32_to_f16(nextafterf(mid, 0.0f)) == h &&
                  awqc_f32_to_f16(nextafterf(mid, INFINITY)) == h + 1;
        if (!ok && bad++ < 5) fprintf(stderr, "f16 rounding wrong around 0x%04x\n", h);
    }
    CHECK_MSG(bad == 0, "%d halves round wrongly", bad);
}

int main(void) {
    test_all_halves();
    test_edges();
    test_f16_specials();
    test_f16_exhaustive();
    return test_result();
}
