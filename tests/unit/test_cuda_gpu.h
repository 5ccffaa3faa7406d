// test_cuda_gpu.h: what the GPU-only tests share: skipping, with the reason,
// where no CUDA driver or device is present (every CI machine).
#ifndef TEST_CUDA_GPU_H
#define TEST_CUDA_GPU_H

#include <stdio.h>

#include "runtime/cuda/cuda_engine.h"
#include "test_support.h"

static inline void skip_without_gpu(void) {
    AwqcError err;
    if (cuda_available(&err)) return;
    char why[2100];
    snprintf(why, sizeof why, "no GPU: %s", err.msg);
    test_skip(why);
}

#endif
