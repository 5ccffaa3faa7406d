// cmd_compile.c: `awqc compile`: loads a model, runs the pass pipeline with
// the inspection options (--print-after, --dump-ir, --emit=dot, ...) and
// writes the plan. --check-logits runs the reference interpreter after every
// pass and reports how far the logits moved from the input graph's.
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "ir/dot.h"
#include "passes/manager.h"

enum { OPT_TARGET = OPT_FIRST_FREE, OPT_PASSES, OPT_PB, OPT_PA, OPT_PAA, OPT_PC, OPT_DUMP, OPT_STOP, OPT_TIME,
       OPT_VERIFY, OPT_FILTER, OPT_EMIT, OPT_CHECK };

static const char *const compile_help =
    "usage: awqc compile [-m MODEL] [--target T] [-o OUT] [inspection options]\n"
    "Runs the pass pipeline (fold-awq-scales, merge-qkv, merge-gate-up, fuse, dce,\n"
    "plan-memory, pack-weights) on the model and writes the plan as IR text.\n" COMMON_HELP
    "  -c, --ctx N             context length the memory plan is sized for (2048)\n"
    "      --target T          host, x86-64, x86-64-avx2, x86-64-avx512, aarch64,\n"
    "                          cuda:sm_80, cuda:sm_87, cuda:sm_90, orin (default host)\n"
    "  -o, --output FILE       write the final plan (IR text) to FILE\n"
    "      --passes P,P        run these passes instead of the default pipeline\n"
    "      --print-before P,P  print the IR before these passes\n"
    "      --print-after P,P   print the IR after these passes\n"
    "      --print-after-all   print the IR after every pass\n"
    "      --print-changed     print a diff after each pass that changed the IR\n"
    "      --dump-ir DIR       write DIR/NN-pass.ir after every pass\n"
    "      --stop-after P      stop the pipeline after pass P\n"
    "      --filter BLOCK      print only these blocks (e.g. layer.0)\n"
    "      --verify-each       verify the IR after every pass\n"
    "      --time-passes       print seconds per pass\n"
    "      --emit=dot          print the final graph as Graphviz (with --filter)\n"
    "      --check-logits N    run N tokens through the interpreter after each pass\n"
    "                          and report the relative change of the logits\n";

typedef struct {
    CommonOpts common;
    PassOptions pass;
    const char *target, *output, *emit;
    int check_tokens;
} CompileOpts;

static void parse_compile_args(int argc, char **argv, CompileOpts *o) {
    static const struct option longs[] = {
        COMMON_LONG_OPTS,
        {"target", required_argument, 0, OPT_TARGET}, {"output", required_argument, 0, 'o'},
        {"passes", required_argument, 0, OPT_PASSES}, {"print-before", required_argument, 0, OPT_PB},
        {"print-after", required_argument, 0, OPT_PA}, {"print-after-all", no_argument, 0, OPT_PAA},
        {"print-changed", no_argument, 0, OPT_PC}, {"dump-ir", required_argument, 0, OPT_DUMP},
        {"stop-after", required_argument, 0, OPT_STOP}, {"time-passes", no_argument, 0, OPT_TIME},
        {"verify-each", no_argument, 0, OPT_VERIFY}, {"filter", required_argument, 0, OPT_FILTER},
        {"emit", required_argument, 0, OPT_EMIT}, {"check-logits", required_argument, 0, OPT_CHECK},
        {0, 0, 0, 0}};
    int opt;
    while ((opt = getopt_long(argc, argv, "m:t:c:o:h", longs, NULL)) != -1) {
        if (common_option(&o->common, opt, optarg)) continue;
        switch (opt) {
        case OPT_TARGET: o->target = optarg; break;
        case 'o': o->output = optarg; break;
        case OPT_PASSES: o->pass.pipeline = optarg; break;
        case OPT_PB: o->pass.print_before = optarg; break;
        case OPT_PA: o->pass.print_after = optarg; break;
        case OPT_PAA: o->pass.print_after_all = true; break;
        case OPT_PC: o->pass.print_changed = true; break;
        case OPT_DUMP: o->pass.dump_dir = optarg; break;
        case OPT_STOP: o->pass.stop_after = optarg; break;
        case OPT_TIME: o->pass.time_passes = true; break;
        case OPT_VERIFY: o->pass.verify_each = true; break;
        case OPT_FILTER: o->pass.filter = optarg; break;
        case OPT_EMIT: o->emit = optarg; break;
        case OPT_CHECK: o->check_tokens = parse_int_arg("--check-logits", optarg, 1, 512); break;
        case 'h': fputs(compile_help, stdout); exit(0);
        default: fputs(compile_help, stderr); exit(2);
        }
    }
    if (optind < argc) die("compile: unexpected argument '%s'", argv[optind]);
    if (o->emit && strcmp(o->emit, "dot") && strcmp(o->emit, "ir"))
        die("compile: --emit=%s: the emitters so far are ir and dot (ll, cu, ptx come with the code generators)", o->emit);
}

// ----------------------------------------------------------------------------
// --check-logits: after every pass, the interpreter's logits against the input graph's

typedef struct {
    int32_t *ids;
    int n, threads;
    float *reference;
    size_t count;
} LogitCheck;

static bool report_logits(const Graph *g, const Pass *p, void *user, AwqcError *err) {
    LogitCheck *c = user;
    size_t count;
    float *now = interp_eval_logits(g, c->ids, c->n, c->threads, &count, err);
    if (!now) return false;
    AWQC_ASSERT(count == c->count);
    fprintf(stderr, "check-logits: after %-16s max |dlogit| / max |logit| = %.3g%s\n", p->name,
            interp_relative_diff(c->reference, now, count),
            memcmp(c->reference, now, sizeof(float) * count) ? "" : " (identical)");
    free(now);
    return true;
}

static void start_logit_check(const Model *m, const CompileOpts *o, LogitCheck *c) {
    *c = (LogitCheck){.n = o->check_tokens, .threads = o->common.threads};
    c->ids = xmalloc(sizeof(int32_t) * (size_t)c->n);
    for (int i = 0; i < c->n; i++) c->ids[i] = (int32_t)((i * 7919 + 17) % 1000 + 1); // fixed, in vocab
    AwqcError err;
    c->reference = interp_eval_logits(m->graph, c->ids, c->n, c->threads, &c->count, &err);
    if (!c->reference) die_error(&err);
}

// ----------------------------------------------------------------------------

static void write_plan(const Graph *g, const char *path) {
    char *text = ir_print_to_string(g);
    AwqcError err;
    if (!awqc_write_file_atomic(path, text, strlen(text), &err)) die_error(&err);
    free(text);
    fprintf(stderr, "awqc: wrote the plan to %s\n", path);
}

int cmd_compile(int argc, char **argv) {
    CompileOpts o = {.target = "host"};
    common_init(&o.common);
    parse_compile_args(argc, argv, &o);
    Model *m = load_model_or_die(&o.common);
    PassContext ctx = {.target = o.target, .ctx = o.common.ctx > 0 ? o.common.ctx : 2048, .log = stderr};
    LogitCheck check = {0};
    if (o.check_tokens) {
        start_logit_check(m, &o, &check);
        o.pass.after_pass = report_logits;
        o.pass.user = &check;
    }
    AwqcError err;
    if (!pass_run_pipeline(m->graph, &ctx, &o.pass, &err)) die_error(&err);
    free(check.ids);
    free(check.reference);
    if (o.emit && strcmp(o.emit, "dot") == 0) ir_print_dot(m->graph, o.pass.filter, stdout);
    else if (o.emit) pass_print_ir(m->graph, o.pass.filter, stdout);
    if (o.output) write_plan(m->graph, o.output);
    model_free(m);
    free(o.common.model);
    return 0;
}
