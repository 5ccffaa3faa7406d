// test_cuda_f16.c: the host f32 -> f16 rounding the GPU runtime uploads the
// LM head with: exact on every f16 value, ties to even, overflow, subnormals.
#include <math.h>
#include <string.h>

#include "common/util.h"
#include "runtime/cuda/cuda_f16.h"
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
        bad += cuda_f16_from_f32(f) != h;
        uint32_t next = h + 1;
        if ((h & 0x7fff) == 0x7bff || (next & 0x7c00) == 0x7c00) continue;
        double mid = 0.5 * ((double)f + (double)awqc_f16_to_f32((uint16_t)next)); // exact in f32
        uint16_t want = (h & 1) ? (uint16_t)next : (uint16_t)h;
        bad_ties += cuda_f16_from_f32((float)mid) != want;
    }
    CHECK_MSG(bad == 0, "%d f16 values do not round-trip", bad);
    CHECK_MSG(bad_ties == 0, "%d midpoints not rounded to even", bad_ties);
}

static void test_edges(void) {
    CHECK(cuda_f16_from_f32(1.0f) == 0x3c00);
    CHECK(cuda_f16_from_f32(-2.0f) == 0xc000);
    CHECK(cuda_f16_from_f32(65504.0f) == 0x7bff);
    CHECK(cuda_f16_from_f32(65519.0f) == 0x7bff);
    CHECK(cuda_f16_from_f32(65520.0f) == 0x7c00);
    CHECK(cuda_f16_from_f32(1e9f) == 0x7c00 && cuda_f16_from_f32(-1e9f) == 0xfc00);
    CHECK(cuda_f16_from_f32(INFINITY) == 0x7c00);
    CHECK((cuda_f16_from_f32(NAN) & 0x7c00) == 0x7c00 && (cuda_f16_from_f32(NAN) & 0x3ff) != 0);
    CHECK(cuda_f16_from_f32(bits_f32(0x33000000)) == 0x0000); // 2^-25: ties to zero
    CHECK(cuda_f16_from_f32(bits_f32(0x33000001)) == 0x0001); // just above: the smallest subnormal
    CHECK(cuda_f16_from_f32(-0.0f) == 0x8000);
    CHECK(cuda_f16_from_f32(1.0f + 1.0f / 4096) == 0x3c00);  // below half an ulp
    CHECK(cuda_f16_from_f32(1.0f + 2.0f / 4096) == 0x3c00);  // half an ulp: ties to even, down
    CHECK(cuda_f16_from_f32(1.0f + 6.0f / 4096) == 0x3c02);  // 1.5 ulp: ties to even, up
    CHECK(cuda_f16_from_f32(bits_f32(0x387fe000)) == 0x0400); // just under 2^-14 rounds up to the smallest normal
    float src[3] = {0.5f, -0.25f, 3.0f};
    uint16_t dst[3];
    cuda_f32_to_f16(src, dst, 3);
    CHECK(dst[0] == 0x3800 && dst[1] == 0xb400 && dst[2] == 0x4200);
}

int main(void) {
    test_all_halves();
    test_edges();
    return test_result();
}
