// read_kernel.h: the streaming read that bench/stream.c and bench/gemv.c
// both measure bandwidth with, so a kernel's GB/s and the machine's are
// taken the same way.
#ifndef AWQC_BENCH_READ_KERNEL_H
#define AWQC_BENCH_READ_KERNEL_H

#include <stddef.h>
#include <time.h>

static inline double bench_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

// Sixteen independent partial sums per thread so the adds vectorise and the
// loop is limited by memory, not by the latency of one add chain.
static inline double bench_read_sum(const float *b, size_t n) {
    double total = 0;
#pragma omp parallel reduction(+ : total)
    {
        float acc[16] = {0};
#pragma omp for schedule(static)
        for (size_t blk = 0; blk < n / 16; blk++)
            for (int j = 0; j < 16; j++) acc[j] += b[blk * 16 + j];
        for (int j = 0; j < 16; j++) total += acc[j];
    }
    return total;
}

#endif
