// stream.c: the machine's streaming memory bandwidth, the yardstick for
// decode speed (decode reads every weight once per token, so tokens/s is at
// best bandwidth / bytes-per-token). Two kernels over arrays far larger than
// the caches: "read" (a sum, like a GEMV's weight stream) and STREAM's
// "triad" (a = b + s*c, counted as 3 arrays moved). Best of several runs.
//   awqc-stream [-t THREADS] [-m MiB-per-array] [-o md|json]
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/read_kernel.h"

static void triad_kernel(float *a, const float *b, const float *c, size_t n) {
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) a[i] = b[i] + 3.0f * c[i];
}

int main(int argc, char **argv) {
    int threads = omp_get_num_procs(), mib = 512, json = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "-t")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-m")) mib = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-o")) json = !strcmp(argv[i + 1], "json");
    }
    if (threads < 1 || mib < 16) {
        fprintf(stderr, "usage: awqc-stream [-t THREADS] [-m MiB>=16] [-o md|json]\n");
        return 2;
    }
    omp_set_num_threads(threads);
    size_t n = (size_t)mib * 1048576 / sizeof(float);
    float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b), *c = malloc(n * sizeof *c);
    if (!a || !b || !c) {
        fprintf(stderr, "awqc-stream: cannot allocate 3 x %d MiB\n", mib);
        return 1;
    }
#pragma omp parallel for schedule(static) // first touch by the threads that use the pages
    for (size_t i = 0; i < n; i++) a[i] = 0, b[i] = 1.0f, c[i] = 2.0f;
    double best_read = 1e30, best_triad = 1e30, sink = 0;
    for (int rep = 0; rep < 7; rep++) {
        double t0 = bench_now();
        sink += bench_read_sum(b, n);
        double t1 = bench_now();
        triad_kernel(a, b, c, n);
        double t2 = bench_now();
        if (t1 - t0 < best_read) best_read = t1 - t0;
        if (t2 - t1 < best_triad) best_triad = t2 - t1;
    }
    double read_gbs = n * sizeof(float) / best_read / 1e9, triad_gbs = 3.0 * n * sizeof(float) / best_triad / 1e9;
    if (json)
        printf("{\"threads\": %d, \"array_mib\": %d, \"read_gbps\": %.3f, \"triad_gbps\": %.3f}\n", threads, mib,
               read_gbs, triad_gbs);
    else
        printf("| threads | array MiB | read GB/s | triad GB/s |\n|---:|---:|---:|---:|\n| %d | %d | %.2f | %.2f |\n",
               threads, mib, read_gbs, triad_gbs);
    if (sink < 0 || a[n / 2] != 7.0f) fprintf(stderr, "awqc-stream: unexpected result\n");
    free(a), free(b), free(c);
    return 0;
}
