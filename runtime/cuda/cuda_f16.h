// cuda_f16.h: f32 -> f16 on the host, for the f32 matrices (the LM head) the
// GPU runtime uploads as f16 so a decode step reads half their bytes.
#ifndef AWQC_CUDA_F16_H
#define AWQC_CUDA_F16_H

#include <stddef.h>
#include <stdint.h>

// IEEE binary16 bits of f, rounded to nearest even; overflow gives infinity,
// NaN stays NaN. awqc_f16_to_f32 (common/util.h) is the inverse.
uint16_t cuda_f16_from_f32(float f);
void cuda_f32_to_f16(const float *src, uint16_t *dst, size_t n);

#endif
