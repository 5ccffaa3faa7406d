// manager.c: the pass manager (manager.h): the table of passes in pipeline
// order and the loop that runs them with the inspection options.
#include "passes/manager.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "ir/dot.h"
#include "ir/subgraph.h"

static const Pass passes[] = {
    {"fold-awq-scales", "fold awq_scale divisions into the previous norm or linear", pass_fold_awq_scales},
    {"merge-qkv", "merge the q, k, v projections that read one input into one linear", pass_merge_qkv},
    {"merge-gate-up", "merge the gate and up projections of a gated MLP into one linear", pass_merge_gate_up},
    {"fuse", "fuse norm->linear, rope+KV write+attention, silu*mul, residual add into kernels", pass_fuse},
    {"dce", "remove values and weights nothing reads", pass_dce},
    {"plan-memory", "assign activation buffers by liveness; report peak memory for the context", pass_plan_memory},
    {"quantize-head", "round the output projection to q8/q4 (RTN, group 32) as --head asks", pass_quantize_head},
    {"pack-weights", "pack quantized weights in the target's layout", pass_pack_weights},
    {"quantize-acts", "mark the linears of vnni-i4/i8 weights act_q8 (8-bit activations, as their kernels read them), "
                      "or with --act f16 those of GPU q4 weights act_f16 (f16x2 GEMV)",
     pass_quantize_acts},
};
#define N_PASSES (sizeof passes / sizeof passes[0])

const Pass *const *pass_all(void) {
    static const Pass *all[N_PASSES + 1];
    for (size_t i = 0; i < N_PASSES; i++) all[i] = &passes[i];
    return all;
}

const Pass *pass_find(const char *name) {
    for (size_t i = 0; i < N_PASSES; i++)
        if (strcmp(passes[i].name, name) == 0) return &passes[i];
    return NULL;
}

// ----------------------------------------------------------------------------
// lists of names

#define MAX_LIST 64

typedef struct {
    const Pass *pass[MAX_LIST];
    int n;
} PassList;

static bool unknown_pass(const char *option, const char *name, AwqcError *err) {
    StrBuf known = {0};
    for (size_t i = 0; i < N_PASSES; i++) {
        if (i) sb_append(&known, ", ");
        sb_append(&known, passes[i].name);
    }
    char *list = sb_finish(&known);
    awqc_fail(err, "%s: unknown pass '%s' (passes: %s)", option, name, list);
    free(list);
    return false;
}

// The passes a comma-separated list names (NULL: none), in order.
static bool resolve_list(const char *list, const char *option, PassList *out, AwqcError *err) {
    out->n = 0;
    if (!list) return true;
    char *copy = xstrdup(list);
    bool ok = true;
    for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok && ok; tok = strtok_r(NULL, ",", &save)) {
        const Pass *p = pass_find(tok);
        if (!p) ok = unknown_pass(option, tok, err);
        else if (out->n == MAX_LIST) ok = awqc_fail(err, "%s: more than %d passes", option, MAX_LIST);
        else out->pass[out->n++] = p;
    }
    free(copy);
    return ok;
}

static bool list_has(const PassList *l, const Pass *p) {
    for (int i = 0; i < l->n; i++)
        if (l->pass[i] == p) return true;
    return false;
}

// ----------------------------------------------------------------------------
// printing

void pass_print_ir(const Graph *g, const char *filter, FILE *out) {
    if (!filter) {
        ir_print(g, out);
        return;
    }
    Graph *sub = ir_extract_blocks(g, filter);
    ir_print(sub, out);
    ir_graph_free(sub);
}

static char *print_to_string(const Graph *g, const char *filter) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    AWQC_ASSERT(f != NULL);
    pass_print_ir(g, filter, f);
    fclose(f);
    return buf;
}

static void print_banner(FILE *out, const char *when, const char *pass) {
    fprintf(out, "# *** IR Dump %s %s ***\n", when, pass);
}

// Line-by-line diff by longest common subsequence, printed as -/+ lines with
// the unchanged lines left out; dumps are a few thousand lines at most.
static void print_diff(FILE *out, const char *a, const char *b);

static bool dump_file(const char *dir, int index, const char *name, const Graph *g, const char *filter,
                      AwqcError *err) {
    char *path = awqc_asprintf("%s/%02d-%s.ir", dir, index, name);
    char *text = print_to_string(g, filter);
    bool ok = awqc_write_file_atomic(path, text, strlen(text), err);
    free(text);
    free(path);
    return ok;
}

// ----------------------------------------------------------------------------
// the loop

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

// The options with their pass lists resolved once.
typedef struct {
    const PassOptions *o;
    PassList pipeline, print_before, print_after, stop_after;
    FILE *out;
} Run;

static bool prepare(const PassOptions *o, Run *r, AwqcError *err) {
    r->o = o;
    r->out = o->out ? o->out : stdout;
    if (!resolve_list(o->pipeline, "--passes", &r->pipeline, err) ||
        !resolve_list(o->print_before, "--print-before", &r->print_before, err) ||
        !resolve_list(o->print_after, "--print-after", &r->print_after, err) ||
        !resolve_list(o->stop_after, "--stop-after", &r->stop_after, err))
        return false;
    if (!o->pipeline)
        for (size_t i = 0; i < N_PASSES; i++) r->pipeline.pass[r->pipeline.n++] = &passes[i];
    if (o->dump_dir && mkdir(o->dump_dir, 0777) != 0) {
        struct stat st;
        if (stat(o->dump_dir, &st) != 0 || !S_ISDIR(st.st_mode))
            return awqc_fail(err, "--dump-ir: cannot create directory %s", o->dump_dir);
    }
    return true;
}

static bool run_one(Graph *g, const Pass *p, const PassContext *ctx, const Run *r, double *secs, AwqcError *err) {
    const PassOptions *o = r->o;
    if (list_has(&r->print_before, p)) {
        print_banner(r->out, "Before", p->name);
        pass_print_ir(g, o->filter, r->out);
    }
    char *before = o->print_changed ? print_to_string(g, o->filter) : NULL;
    bool changed = false;
    double t0 = now_seconds();
    bool ok = p->run(g, ctx, &changed, err);
    *secs = now_seconds() - t0;
    if (!ok) awqc_error_prefix(err, "%s", p->name);
    else if (o->verify_each && !ir_verify(g, err)) ok = (awqc_error_prefix(err, "after %s", p->name), false);
    if (ok && before && changed) {
        char *after = print_to_string(g, o->filter);
        print_banner(r->out, "Changed by", p->name);
        print_diff(r->out, before, after);
        free(after);
    }
    free(before);
    if (ok && (o->print_after_all || list_has(&r->print_after, p))) {
        print_banner(r->out, "After", p->name);
        pass_print_ir(g, o->filter, r->out);
    }
    return ok && (!o->after_pass || o->after_pass(g, p, o->user, err));
}

static void print_times(const PassContext *ctx, const PassList *ran, const double *secs) {
    FILE *log = ctx->log ? ctx->log : stderr;
    double total = 0;
    fprintf(log, "# pass timing\n");
    for (int i = 0; i < ran->n; i++) {
        fprintf(log, "  %-16s %9.4f s\n", ran->pass[i]->name, secs[i]);
        total += secs[i];
    }
    fprintf(log, "  %-16s %9.4f s\n", "total", total);
}

bool pass_run_pipeline(Graph *g, const PassContext *ctx, const PassOptions *o, AwqcError *err) {
    Run r;
    if (!prepare(o, &r, err)) return false;
    if (o->dump_dir && !dump_file(o->dump_dir, 0, "input", g, o->filter, err)) return false;
    double secs[MAX_LIST] = {0};
    PassList ran = {.n = 0};
    for (int i = 0; i < r.pipeline.n; i++) {
        const Pass *p = r.pipeline.pass[i];
        if (!run_one(g, p, ctx, &r, &secs[i], err)) return false;
        ran.pass[ran.n++] = p;
        if (o->dump_dir && !dump_file(o->dump_dir, i + 1, p->name, g, o->filter, err)) return false;
        if (list_has(&r.stop_after, p)) break;
    }
    if (!ir_verify(g, err)) return (awqc_error_prefix(err, "after the pipeline"), false);
    if (o->time_passes) print_times(ctx, &ran, secs);
    return true;
}

// ----------------------------------------------------------------------------
// diff

typedef struct {
    char **line;
    size_t n;
} Lines;

static Lines split_lines(const char *s) {
    Lines l = {0};
    size_t cap = 0;
    for (const char *p = s; *p;) {
        const char *end = strchr(p, '\n');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        GROW(l.line, cap, l.n + 1);
        l.line[l.n] = xmalloc(len + 1);
        memcpy(l.line[l.n], p, len);
        l.line[l.n++][len] = 0;
        p += len + (end != NULL);
    }
    return l;
}

static void free_lines(Lines *l) {
    for (size_t i = 0; i < l->n; i++) free(l->line[i]);
    free(l->line);
}

static void print_diff(FILE *out, const char *a, const char *b) {
    Lines x = split_lines(a), y = split_lines(b);
    // lcs[i][j]: common subsequence length of x[i..] and y[j..].
    size_t w = y.n + 1;
    unsigned *lcs = xcalloc((x.n + 1) * w, sizeof *lcs);
    for (size_t i = x.n; i-- > 0;)
        for (size_t j = y.n; j-- > 0;)
            lcs[i * w + j] = strcmp(x.line[i], y.line[j]) == 0 ? lcs[(i + 1) * w + j + 1] + 1
                             : lcs[(i + 1) * w + j] > lcs[i * w + j + 1] ? lcs[(i + 1) * w + j]
                                                                         : lcs[i * w + j + 1];
    size_t i = 0, j = 0;
    while (i < x.n || j < y.n) {
        if (i < x.n && j < y.n && strcmp(x.line[i], y.line[j]) == 0) i++, j++;
        else if (j < y.n && (i == x.n || lcs[i * w + j + 1] >= lcs[(i + 1) * w + j])) fprintf(out, "+%s\n", y.line[j++]);
        else fprintf(out, "-%s\n", x.line[i++]);
    }
    free(lcs);
    free_lines(&x);
    free_lines(&y);
}
