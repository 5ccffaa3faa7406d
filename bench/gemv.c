// gemv.c: the decode kernel's speed against the machine's memory. Generates
// (with the CPU code generator, as awqc compile does) the W4 GEMV of given
// shapes, runs it on the compiled-code runtime, and reports the bytes it
// reads per second (packed codes + f16 scales + u8 zeros) as a fraction of
// the streaming read bandwidth measured by the same program in the same run.
// Several copies of each matrix are cycled so no run is served from cache.
// The layout is vnni-i4 (8-bit activations, AVX-512 VNNI) where the CPU has
// it, else avx2-i4; -l picks one.
//   awqc-gemv [-t THREADS] [-g GROUP] [-r REPS] [-s NxK[,NxK...]] [-l LAYOUT] [-o md|json]
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/read_kernel.h"
#include "codegen/cpu/cpu_codegen.h"
#include "ir/layout.h"
#include "quantizer/quant.h"
#include "runtime/cpu_engine.h"

#define COPIES 4

static void fail(const char *what, const AwqcError *err) {
    fprintf(stderr, "awqc-gemv: %s: %s\n", what, err->msg);
    exit(1);
}

// ----------------------------------------------------------------------------
// streaming read bandwidth (as bench/stream.c measures it)

static double read_bandwidth(int threads) {
    omp_set_num_threads(threads);
    size_t n = (size_t)512 * 1048576 / sizeof(float);
    float *b = malloc(n * sizeof *b);
    if (!b) return 0;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) b[i] = 1.0f;
    double best = 1e30, sink = 0;
    for (int rep = 0; rep < 7; rep++) {
        double t0 = bench_now();
        sink += bench_read_sum(b, n);
        best = fmin(best, bench_now() - t0);
    }
    free(b);
    if (sink < 0) puts("");
    return (double)n * sizeof(float) / best / 1e9;
}

// ----------------------------------------------------------------------------
// the GEMV plan: ids -> embedding[8, K] -> COPIES linears of [N, K] q4

static const char *g_layout; // the 4-bit layout the weights are packed in

static int add_q4_weight(Graph *g, const char *name, int64_t N, int64_t K, int group, unsigned seed) {
    int64_t dims[2] = {N, K};
    Type t = ir_type_const(DT_Q4, 2, dims);
    t.group = group;
    AwqcError err;
    int w = ir_add_weight(g, name, t, &err);
    float *data = malloc(sizeof(float) * (size_t)(N * K));
    srand(seed);
    for (int64_t i = 0; i < N * K; i++) data[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    QuantMatrix *q = xmalloc(sizeof *q);
    if (!quant_rtn(data, N, K, 4, group, q, &err)) fail("quantize", &err);
    free(data);
    g->weights[w].quant = q;
    if (!ir_pack_weight(&g->weights[w], ir_find_layout(g_layout), &err)) fail("pack", &err);
    return w;
}

static Graph *gemv_plan(int64_t N, int64_t K, int group) {
    Graph *g = ir_graph_new("gemv");
    AwqcError err;
    Attr name = ir_attr_string("name", "tokens");
    int ids = ir_add_node(g, OP_INPUT, NULL, 0, &name, 1, -1, &err);
    int64_t edims[2] = {8, K};
    int table = ir_add_weight(g, "embd", ir_type_const(DT_F32, 2, edims), &err);
    g->weights[table].data = xcalloc((size_t)(8 * K), sizeof(float));
    for (int64_t i = 0; i < 8 * K; i++) g->weights[table].data[i] = (float)(i % 7) * 0.1f;
    Operand in[2] = {ir_weight_ref(table), ir_node_ref(ids)};
    int x = ir_add_node(g, OP_EMBEDDING, in, 2, NULL, 0, -1, &err);
    for (int c = 0; c < COPIES; c++) {
        char wname[32];
        snprintf(wname, sizeof wname, "w%d", c);
        Operand lin[2] = {ir_node_ref(x), ir_weight_ref(add_q4_weight(g, wname, N, K, group, 1234u + (unsigned)c))};
        // vnni-i4 kernels read 8-bit activations: the node says so (as quantize-acts would)
        Attr act = ir_attr_int("act_q8", group);
        bool vnni = strcmp(g_layout, "vnni-i4") == 0;
        int y = ir_add_node(g, OP_LINEAR, lin, 2, vnni ? &act : NULL, vnni ? 1 : 0, -1, &err);
        if (y < 0) fail("linear", &err);
        ir_add_output(g, y);
    }
    return g;
}

typedef struct {
    int64_t N, K;
    double bytes, seconds_median, seconds_best;
} GemvResult;

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static GemvResult run_shape(int64_t N, int64_t K, int group, int threads, int reps) {
    Graph *g = gemv_plan(N, K, group);
    AwqcError err;
    CpuCode code;
    if (!cpu_codegen(g, "host", NULL, &code, &err)) fail("codegen", &err);
    CpuEngine *e = cpu_engine_new(g, code.so, code.so_size, "gemv", 2, threads, 1, &err);
    if (!e) fail("engine", &err);
    int32_t id = 3;
    double *t = malloc(sizeof(double) * (size_t)reps);
    for (int r = -3; r < reps; r++) { // three warm-up runs
        cpu_engine_rewind(e, 0);
        double t0 = bench_now();
        if (!cpu_engine_forward(e, &id, 1, false, &err)) fail("forward", &err);
        if (r >= 0) t[r] = (bench_now() - t0) / COPIES;
    }
    qsort(t, (size_t)reps, sizeof *t, cmp_double);
    GemvResult res = {N, K, (double)g->weights[1].packed_size, t[reps / 2], t[0]};
    free(t);
    cpu_engine_free(e);
    cpu_code_free(&code);
    ir_graph_free(g);
    return res;
}

int main(int argc, char **argv) {
    int threads = omp_get_num_procs(), group = 128, reps = 50, json = 0;
    const char *shapes = "14336x4096,4096x14336";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "-t")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-g")) group = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-r")) reps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-s")) shapes = argv[i + 1];
        else if (!strcmp(argv[i], "-o")) json = !strcmp(argv[i + 1], "json");
        else if (!strcmp(argv[i], "-l")) g_layout = argv[i + 1];
    }
    if (!g_layout) g_layout = awqc_cpu_feature("avx512vnni") == 1 ? "vnni-i4" : "avx2-i4";
    if (threads < 1 || reps < 1 || (group != 32 && group != 64 && group != 128) ||
        (strcmp(g_layout, "vnni-i4") && strcmp(g_layout, "avx2-i4"))) {
        fprintf(stderr, "usage: awqc-gemv [-t THREADS] [-g 32|64|128] [-r REPS] [-s NxK,...] [-l vnni-i4|avx2-i4] "
                        "[-o md|json]\n");
        return 2;
    }
    double bw = read_bandwidth(threads);
    if (!json) printf("layout %s\n\n| shape (N x K) | W4 g%d bytes | median ms | GB/s | of read bandwidth (%.2f GB/s) |\n|---|---:|---:|---:|---:|\n", g_layout, group, bw);
    char *list = strdup(shapes);
    for (char *s = strtok(list, ","); s; s = strtok(NULL, ",")) {
        long long N, K;
        if (sscanf(s, "%lldx%lld", &N, &K) != 2) return fprintf(stderr, "awqc-gemv: bad shape '%s'\n", s), 2;
        GemvResult r = run_shape(N, K, group, threads, reps);
        double gbs = r.bytes / r.seconds_median / 1e9;
        if (json)
            printf("{\"N\": %lld, \"K\": %lld, \"group\": %d, \"threads\": %d, \"bytes\": %.0f, \"median_s\": %.6g, "
                   "\"best_s\": %.6g, \"gbps\": %.3f, \"read_gbps\": %.3f, \"fraction\": %.4f}\n",
                   N, K, group, threads, r.bytes, r.seconds_median, r.seconds_best, gbs, bw, gbs / bw);
        else
            printf("| %lld x %lld | %.1f MB | %.3f | %.2f | %.1f%% |\n", N, K, r.bytes / 1e6, r.seconds_median * 1e3,
                   gbs, 100 * gbs / bw);
    }
    free(list);
    return 0;
}
