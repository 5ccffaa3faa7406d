// run_golden.c: runs one pass golden test: a .ir file whose '#' comment lines
// say what to run and what to expect:
//   # RUN: pass[,pass...]     the pipeline (required)
//   # BIND: random            bind every weight to deterministic pseudo-random values
//                             (f32; a q4/q3 weight gets random codes) so passes that
//                             rewrite weights have values to rewrite
//   # SAME-LOGITS: TOL        with BIND: run the reference interpreter on 5 tokens
//                             before and after; logits must agree to relative TOL
//                             (0: bit-identical)
//   # TARGET: x86-64          PassContext.target (default host)
//   # CTX: 2048               PassContext.ctx (default 2048)
//   # FILTER: layer.0         print only these blocks
//   # CHECK...: ...           filecheck directives, matched against the printed IR
//                             followed by the passes' remarks
// Usage: run_golden FILE.ir   (AWQC_GOLDEN_SHOW=1 also prints the output)
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ir/ir.h"
#include "passes/manager.h"
#include "quantizer/quant.h"
#include "runtime/interp.h"
#include "tests/passes/filecheck.h"

// The text after "# KEY:" on its line (trimmed, heap), or NULL.
static char *directive(const char *text, const char *key) {
    char pat[64];
    snprintf(pat, sizeof pat, "# %s:", key);
    const char *p = strstr(text, pat);
    if (!p) return NULL;
    p += strlen(pat);
    while (*p == ' ') p++;
    size_t n = strcspn(p, "\n");
    while (n && (p[n - 1] == ' ' || p[n - 1] == '\r')) n--;
    char *out = xmalloc(n + 1);
    memcpy(out, p, n);
    out[n] = 0;
    return out;
}

// ----------------------------------------------------------------------------
// binding

static uint32_t next_random(uint32_t *state) {
    *state = *state * 1664525u + 1013904223u;
    return *state >> 8;
}

static float uniform(uint32_t *state, float lo, float hi) {
    return lo + (hi - lo) * (float)next_random(state) / (float)(1u << 24);
}

// Norm weights and scales (1-D) are positive, around 1; matrices small and signed.
static void bind_f32(Weight *w, uint32_t *state) {
    int64_t n = ir_type_elements(&w->type);
    w->data = xmalloc(sizeof(float) * (size_t)n);
    bool vector = w->type.rank == 1;
    for (int64_t i = 0; i < n; i++) w->data[i] = vector ? uniform(state, 0.5f, 1.5f) : uniform(state, -0.5f, 0.5f);
}

static void bind_quant(Weight *w, uint32_t *state) {
    int bits = w->type.dtype == DT_Q4 ? 4 : 3, qmax = (1 << bits) - 1;
    QuantMatrix *q = xcalloc(1, sizeof *q);
    AwqcError e;
    if (!quant_matrix_init(q, w->type.dims[0].size, w->type.dims[1].size, bits, w->type.group, &e))
        AWQC_PANIC("weight %s: %s", w->name, e.msg);
    for (int64_t i = 0; i < q->rows * q->cols; i++) q->q[i] = (uint8_t)(next_random(state) % (uint32_t)(qmax + 1));
    for (int64_t i = 0; i < q->rows * quant_n_groups(q); i++) {
        q->zeros[i] = (uint8_t)(next_random(state) % (uint32_t)(qmax + 1));
        q->scales[i] = awqc_f32_to_f16(uniform(state, 0.01f, 0.05f));
    }
    w->quant = q;
}

static void bind_random(Graph *g) {
    for (size_t i = 0; i < g->n_weights; i++) {
        uint32_t state = 12345u + 7919u * (uint32_t)i;
        Weight *w = &g->weights[i];
        if (w->type.dtype == DT_Q4 || w->type.dtype == DT_Q3) bind_quant(w, &state);
        else bind_f32(w, &state);
    }
}

// ----------------------------------------------------------------------------
// semantics

static const int32_t TOKENS[5] = {1, 7, 3, 2, 5};

static bool same_logits(const float *a, const float *b, size_t n, double tol, const char *file) {
    double rel = interp_relative_diff(a, b, n);
    if (rel <= tol) return true;
    fprintf(stderr, "%s: logits changed by the passes: relative difference %.3g > %.3g\n", file, rel, tol);
    return false;
}

// ----------------------------------------------------------------------------
// main

static int fail(const char *file, const char *msg) {
    fprintf(stderr, "%s: %s\n", file, msg);
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 2) return fprintf(stderr, "usage: run_golden FILE.ir\n"), 2;
    const char *file = argv[1];
    AwqcError err;
    char *text = awqc_read_file(file, NULL, &err);
    if (!text) return fail(file, err.msg);
    char *pipeline = directive(text, "RUN"), *bind = directive(text, "BIND"), *tol = directive(text, "SAME-LOGITS");
    char *target = directive(text, "TARGET"), *ctx_s = directive(text, "CTX"), *filter = directive(text, "FILTER");
    if (!pipeline) return fail(file, "no '# RUN: passes' line");
    Graph *g = ir_parse(text, file, &err);
    if (!g) return fail(file, err.msg);
    if (bind) bind_random(g);
    size_t n_before = 0, n_after = 0;
    float *before = tol ? interp_eval_logits(g, TOKENS, 5, 1, &n_before, &err) : NULL;
    if (tol && !before) return fail(file, err.msg);
    char *out = NULL;
    size_t out_len = 0;
    FILE *f = open_memstream(&out, &out_len);
    PassContext ctx = {.target = target ? target : "host", .ctx = ctx_s ? atoll(ctx_s) : 2048, .log = f};
    PassOptions o = {.pipeline = pipeline, .verify_each = true, .print_after_all = false, .out = f};
    bool ok = pass_run_pipeline(g, &ctx, &o, &err);
    if (ok) pass_print_ir(g, filter, f);
    fclose(f);
    int rc = 0;
    if (getenv("AWQC_GOLDEN_SHOW")) fputs(out, stdout); // to write a new test's checks
    if (!ok) rc = fail(file, err.msg);
    else if (!filecheck(text, file, out, &err)) {
        fprintf(stderr, "%s\n--- output ---\n%s", err.msg, out);
        rc = 1;
    }
    if (rc == 0 && tol) {
        float *after = interp_eval_logits(g, TOKENS, 5, 1, &n_after, &err);
        if (!after) rc = fail(file, err.msg);
        else if (n_after != n_before || !same_logits(before, after, n_before, atof(tol), file)) rc = 1;
        free(after);
    }
    free(before);
    free(out);
    ir_graph_free(g);
    free(text);
    free(pipeline), free(bind), free(tol), free(target), free(ctx_s), free(filter);
    return rc;
}
