// cuda_f16.c: the f32 -> f16 conversion of cuda_f16.h: common/util.h's
// awqc_f32_to_f16 (rounding on the bits), over arrays for the uploads.
#include "runtime/cuda/cuda_f16.h"

#include "common/util.h"

uint16_t cuda_f16_from_f32(float f) { return awqc_f32_to_f16(f); }

void cuda_f32_to_f16(const float *src, uint16_t *dst, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = cuda_f16_from_f32(src[i]);
}
