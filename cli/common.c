// common.c: option handling and model loading shared by the subcommands.
#include <errno.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <omp.h>

#include "cli.h"

#ifndef AWQC_MODELS_DIR
#define AWQC_MODELS_DIR "models"
#endif

// An error ends the process where it stands: what the command holds is left
// for the system to reclaim, as exit() would. It flushes the streams first,
// as exit() does (so stdout's text comes before the message on unbuffered
// stderr), and leaves through _exit so that LeakSanitizer does not scan it:
// once optimised, the only pointers to what is held may be in registers that
// are dead, and the scan would call it leaked. (The CLI registers no atexit
// handlers; the library's own error paths return, and are leak-checked by the
// tests that call them.)
void die(const char *fmt, ...) {
    fflush(NULL);
    fprintf(stderr, "awqc: error: ");
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    _exit(1);
}

void die_error(const AwqcError *err) { die("%s", err->msg); }

void common_init(CommonOpts *o) { *o = (CommonOpts){.model = NULL, .threads = 0, .engine = ENGINE_AUTO}; }

static EngineKind parse_engine_arg(const char *arg) {
    if (strcmp(arg, "auto") == 0) return ENGINE_AUTO;
    if (strcmp(arg, "interp") == 0) return ENGINE_INTERP;
    if (strcmp(arg, "compiled") == 0) return ENGINE_COMPILED;
    if (strcmp(arg, "cuda") == 0) return ENGINE_CUDA;
    die("--engine: expected auto, interp, compiled or cuda, got '%s'", arg);
}

int parse_int_arg(const char *opt, const char *arg, int lo, int hi) {
    char *end;
    errno = 0;
    long v = strtol(arg, &end, 10);
    if (errno || *end || end == arg || v < lo || v > hi)
        die("%s: expected an integer in [%d, %d], got '%s'", opt, lo, hi, arg);
    return (int)v;
}

double parse_float_arg(const char *opt, const char *arg, double lo, double hi) {
    char *end;
    errno = 0;
    double v = strtod(arg, &end);
    if (errno || *end || end == arg || v < lo || v > hi)
        die("%s: expected a number in [%g, %g], got '%s'", opt, lo, hi, arg);
    return v;
}

uint64_t parse_u64_arg(const char *opt, const char *arg) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(arg, &end, 10);
    if (errno || *end || end == arg || arg[0] == '-') die("%s: expected a non-negative integer, got '%s'", opt, arg);
    return (uint64_t)v;
}

bool common_option(CommonOpts *o, int opt, const char *arg) {
    switch (opt) {
    case 'm': free(o->model); o->model = xstrdup(arg); return true;
    case OPT_MODEL_DESC: o->desc = arg; return true;
    case 't': o->threads = parse_int_arg("--threads", arg, 1, 1024); return true;
    case OPT_ENGINE: o->engine = parse_engine_arg(arg); return true;
    case 'c': o->ctx = parse_int_arg("--ctx", arg, 2, 1 << 20); return true;
    default: return false;
    }
}

// Models dir: $AWQC_MODELS_DIR, else the source tree's models/ baked in at build time.
static const char *models_dir(void) {
    const char *env = getenv("AWQC_MODELS_DIR");
    return env && *env ? env : AWQC_MODELS_DIR;
}

Model *load_model_or_die(const CommonOpts *o) {
    // -t bounds every OpenMP loop from here on, the loading's (awq-gemm
    // unpacking) included, not only the engine's.
    if (o->threads > 0) omp_set_num_threads(o->threads);
    char *path = o->model ? xstrdup(o->model) : awqc_default_model_path();
    ModelLoadOptions lo = {.models_dir = models_dir(), .description = o->desc, .load_weights = true,
                          .keep_quant_codes = o->keep_quant_codes};
    AwqcError err;
    Model *m = model_load(path, &lo, &err);
    if (!m) {
        if (!o->model && access(path, F_OK) != 0)
            fprintf(stderr, "awqc: hint: run scripts/setup.sh to fetch the default model, or pass -m\n");
        die_error(&err);
    }
    free(path);
    return m;
}

int default_ctx(const CommonOpts *o, const Model *m) {
    if (o->ctx) return o->ctx;
    int64_t train = model_train_ctx(m);
    return train > 0 && train < 2048 ? (int)train : 2048;
}

Engine *new_engine_or_die(const Model *m, int n_ctx, const CommonOpts *o) {
    AwqcError err;
    EngineOptions eo = {.n_ctx = n_ctx, .n_threads = o->threads, .kind = o->engine};
    Engine *e = engine_new(m, &eo, &err);
    if (!e) die_error(&err);
    return e;
}

const float *forward_or_die(Engine *e, const int32_t *ids, int n) {
    AwqcError err;
    const float *logits = engine_forward(e, ids, n, false, &err);
    if (!logits) die_error(&err);
    return logits;
}

void check_output_writable(const char *cmd, const char *out) {
    char *copy = xstrdup(out);
    const char *parent = dirname(copy);
    if (access(parent, W_OK | X_OK) != 0) die("%s: cannot write %s: %s: %s", cmd, out, parent, strerror(errno));
    free(copy);
}
