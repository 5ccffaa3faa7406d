// cmd_bench.c: `awqc bench`: prompt-processing (ppP) and decode (tgN) speed,
// llama-bench style: random token ids, a warm-up run, then R timed
// repetitions from an empty cache; the median (and spread) is reported, plus
// the weight bytes streamed per decoded token, since decode is memory-bound.
// On a GPU (--engine cuda) it also reports the device, its measured copy
// bandwidth and decode as a fraction of the bound bytes-per-token sets.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"

static const char bench_help[] =
    "usage: awqc bench [options]\n"
    "Measure prompt (pp) and decode (tg) speed: of the compiled code for a .awqx, else the interpreter.\n"
    "With --engine cuda it also prints the GPU, its copy bandwidth and decode as a fraction of that bound.\n"
    "  -p, --n-prompt N      prompt tokens for the pp test (default 512; 0 = skip)\n"
    "  -n, --n-gen N         generated tokens for the tg test (default 128; 0 = skip)\n"
    "  -r, --repetitions R   timed repetitions (default 3)\n"
    "  -o, --output FMT      md, csv or json (default md)\n"
    "  -c, --ctx N           context size (default: the larger of -p and -n)\n" COMMON_HELP;

typedef struct {
    CommonOpts common;
    int n_prompt, n_gen, reps;
    const char *format;
} BenchOpts;

typedef struct {
    char test[32];
    int n_tokens;
    double median_tps, min_tps, max_tps;
} BenchResult;

static void parse_bench_options(int argc, char **argv, BenchOpts *o) {
    static const struct option longs[] = {COMMON_LONG_OPTS,
                                          {"n-prompt", required_argument, 0, 'p'},
                                          {"n-gen", required_argument, 0, 'n'},
                                          {"repetitions", required_argument, 0, 'r'},
                                          {"output", required_argument, 0, 'o'},
                                          {0, 0, 0, 0}};
    *o = (BenchOpts){.n_prompt = 512, .n_gen = 128, .reps = 3, .format = "md"};
    common_init(&o->common);
    int c;
    while ((c = getopt_long(argc, argv, "m:t:c:p:n:r:o:h", longs, NULL)) != -1) {
        if (common_option(&o->common, c, optarg)) continue;
        switch (c) {
        case 'p': o->n_prompt = parse_int_arg("--n-prompt", optarg, 0, 1 << 16); break;
        case 'n': o->n_gen = parse_int_arg("--n-gen", optarg, 0, 1 << 16); break;
        case 'r': o->reps = parse_int_arg("--repetitions", optarg, 1, 1000); break;
        case 'o': o->format = optarg; break;
        case 'h': fputs(bench_help, stdout); exit(0);
        default: fputs(bench_help, stderr); exit(2);
        }
    }
    if (optind < argc) die("bench: unexpected argument '%s' (see awqc bench --help)", argv[optind]);
    if (strcmp(o->format, "md") && strcmp(o->format, "csv") && strcmp(o->format, "json"))
        die("bench: --output must be md, csv or json, got '%s'", o->format);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// Seconds for one repetition: a prompt of n tokens at once, or n single steps.
static double time_once(Engine *in, const int32_t *ids, int n, bool decode) {
    engine_reset(in);
    double t0 = awqc_now();
    if (decode)
        for (int i = 0; i < n; i++) forward_or_die(in, ids + i, 1);
    else
        forward_or_die(in, ids, n);
    return awqc_now() - t0;
}

static BenchResult run_test(Engine *in, const int32_t *ids, int n, bool decode, int reps) {
    BenchResult r = {.n_tokens = n};
    snprintf(r.test, sizeof r.test, "%s%d", decode ? "tg" : "pp", n);
    time_once(in, ids, decode ? (n < 8 ? n : 8) : n, decode); // warm-up
    double *tps = xmalloc(sizeof(double) * (size_t)reps);
    for (int i = 0; i < reps; i++) {
        tps[i] = n / time_once(in, ids, n, decode);
        fprintf(stderr, "awqc: %s rep %d/%d: %.2f tok/s\n", r.test, i + 1, reps, tps[i]);
    }
    qsort(tps, (size_t)reps, sizeof *tps, cmp_double);
    r.median_tps = reps % 2 ? tps[reps / 2] : 0.5 * (tps[reps / 2 - 1] + tps[reps / 2]);
    r.min_tps = tps[0];
    r.max_tps = tps[reps - 1];
    free(tps);
    return r;
}

static double stored_bytes(const Weight *w) {
    return w->packed ? (double)w->packed_size : 4.0 * (double)ir_type_elements(&w->type);
}

// Bytes the weights take as stored (packed codes + scales + zeros, or f32):
// what a decode step reads, but for the embedding table's unread rows.
static double weight_bytes(const Graph *g) {
    double b = 0;
    for (size_t i = 0; i < g->n_weights; i++) b += stored_bytes(&g->weights[i]);
    return b;
}

// What one decode step reads: every weight once (a head tied to the
// embedding table is one weight), but a table only the embedding reads gives
// one row per token.
static double decode_bytes(const Graph *g) {
    bool *full = xcalloc(g->n_weights ? g->n_weights : 1, sizeof *full), *row = xcalloc(g->n_weights ? g->n_weights : 1, 1);
    for (size_t i = 0; i < g->n_nodes; i++) {
        const Node *n = &g->nodes[i];
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k].kind == OPND_WEIGHT) (n->op == OP_EMBEDDING ? row : full)[n->in[k].index] = true;
    }
    double b = 0;
    for (size_t i = 0; i < g->n_weights; i++) {
        const Weight *w = &g->weights[i];
        if (full[i]) b += stored_bytes(w);
        else if (row[i] && w->type.rank == 2) b += stored_bytes(w) / (double)w->type.dims[0].size;
    }
    free(full);
    free(row);
    return b;
}

static double weight_params(const Graph *g) {
    double n = 0;
    for (size_t i = 0; i < g->n_weights; i++) n += (double)ir_type_elements(&g->weights[i].type);
    return n;
}

typedef struct {
    const char *model;
    double params, bytes, bytes_per_token;
    int threads;
    const char *backend;
} BenchInfo;

static void print_results(const BenchOpts *o, const BenchInfo *info, const BenchResult *r, int n) {
    bool md = !strcmp(o->format, "md"), csv = !strcmp(o->format, "csv");
    if (md) printf("| model | params | weights | read/token | backend | threads | test | t/s (median) | min | max | read GB/s |\n"
                   "|---|---:|---:|---:|---|---:|---|---:|---:|---:|---:|\n");
    if (csv) printf("model,params,weight_bytes,bytes_per_token,backend,threads,test,tps_median,tps_min,tps_max,read_gbps\n");
    if (!md && !csv) printf("[\n");
    cJSON *name = cJSON_CreateString(info->model);
    char *quoted = cJSON_PrintUnformatted(name); // the model's file name, escaped for JSON
    for (int i = 0; i < n; i++) {
        double gbps = r[i].test[0] == 't' ? info->bytes_per_token * r[i].median_tps / 1e9 : 0;
        if (md)
            printf("| %s | %.1fM | %.0f MiB | %.1f MiB | %s | %d | %s | %.2f | %.2f | %.2f | %.2f |\n", info->model,
                   info->params / 1e6, info->bytes / 1048576.0, info->bytes_per_token / 1048576.0, info->backend,
                   info->threads, r[i].test, r[i].median_tps, r[i].min_tps, r[i].max_tps, gbps);
        else if (csv)
            printf("%s,%.0f,%.0f,%.0f,%s,%d,%s,%.4f,%.4f,%.4f,%.4f\n", info->model, info->params, info->bytes,
                   info->bytes_per_token, info->backend, info->threads, r[i].test, r[i].median_tps, r[i].min_tps,
                   r[i].max_tps, gbps);
        else
            printf("  {\"model\": %s, \"params\": %.0f, \"weight_bytes\": %.0f, \"bytes_per_token\": %.0f, "
                   "\"backend\": \"%s\", \"threads\": %d, \"test\": \"%s\", \"reps\": %d, \"tps_median\": %.4f, "
                   "\"tps_min\": %.4f, \"tps_max\": %.4f, \"read_gbps\": %.4f}%s\n",
                   quoted, info->params, info->bytes, info->bytes_per_token, info->backend, info->threads, r[i].test,
                   o->reps, r[i].median_tps, r[i].min_tps, r[i].max_tps, gbps, i + 1 < n ? "," : "");
    }
    if (!md && !csv) printf("]\n");
    cJSON_free(quoted);
    cJSON_Delete(name);
}

// ----------------------------------------------------------------------------
// on a GPU: decode against the device's copy bandwidth

// Below the table for md; on stderr for csv and json, whose stdout is data.
static void print_gpu_bound(const BenchOpts *o, Engine *e, const BenchResult *r, int n) {
    EngineDeviceInfo info;
    AwqcError err;
    if (!engine_device_info(e, &info, &err)) {
        if (strncmp(engine_name(e), "cuda", 4) == 0) fprintf(stderr, "awqc: bench: no copy bandwidth: %s\n", err.msg);
        return;
    }
    bool md = !strcmp(o->format, "md");
    FILE *f = md ? stdout : stderr;
    const char *pre = md ? "" : "awqc: ";
    fprintf(f, "%s%sdevice: %s (sm_%d), copy bandwidth %.1f GB/s (device-to-device, read + write)\n", md ? "\n" : "",
            pre, info.device, info.sm, info.copy_gbps);
    for (int i = 0; i < n; i++) {
        if (r[i].test[0] != 't' || info.bytes_per_token <= 0) continue;
        double bound = info.copy_gbps * 1e9 / info.bytes_per_token;
        fprintf(f, "%sdecode %s: %.2f tok/s x %.4f GB/token = %.1f GB/s: %.1f%% of the copy-bandwidth bound (%.1f tok/s)\n",
                pre, r[i].test, r[i].median_tps, info.bytes_per_token / 1e9,
                r[i].median_tps * info.bytes_per_token / 1e9, 100.0 * r[i].median_tps / bound, bound);
    }
}

int cmd_bench(int argc, char **argv) {
    BenchOpts o;
    parse_bench_options(argc, argv, &o);
    Model *m = load_model_or_die(&o.common);
    int n_max = o.n_prompt > o.n_gen ? o.n_prompt : o.n_gen;
    int n_ctx = o.common.ctx ? o.common.ctx : (n_max > 16 ? n_max : 16);
    if (n_max > n_ctx) die("bench: %d tokens do not fit the context of %d (raise --ctx)", n_max, n_ctx);
    Engine *in = new_engine_or_die(m, n_ctx, &o.common);
    int32_t *ids = xmalloc(sizeof(int32_t) * (size_t)(n_max + 1));
    uint32_t state = 12345;
    for (int i = 0; i <= n_max; i++)
        ids[i] = (int32_t)(((state = state * 1664525u + 1013904223u) >> 8) % (uint32_t)engine_vocab(in));
    BenchResult res[2];
    int n = 0;
    if (o.n_prompt) res[n++] = run_test(in, ids, o.n_prompt, false, o.reps);
    if (o.n_gen) res[n++] = run_test(in, ids, o.n_gen, true, o.reps);
    const char *slash = strrchr(m->path, '/');
    double bytes = weight_bytes(m->graph);
    BenchInfo info = {slash ? slash + 1 : m->path, weight_params(m->graph), bytes, decode_bytes(m->graph),
                      engine_threads(in), engine_name(in)};
    print_results(&o, &info, res, n);
    print_gpu_bound(&o, in, res, n);
    free(ids);
    engine_free(in);
    free(o.common.model);
    model_free(m);
    return 0;
}
