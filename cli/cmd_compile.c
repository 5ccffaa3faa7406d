// cmd_compile.c: `awqc compile`: loads a model (and, with --quant, the AWQ
// scales of a floating-point one), runs the pass pipeline with the inspection
// options (--print-after, --dump-ir, --emit=dot, ...) and writes the artifact
// (.awqx). --check-logits runs the reference interpreter after every pass and
// reports how far the logits moved from the input graph's.
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "cli/cli.h"
#include "codegen/cpu/cpu_codegen.h"
#include "runtime/interp.h"
#include "ir/dot.h"
#include "passes/manager.h"
#include "quantizer/scale_import.h"
#include "runtime/artifact.h"
#include "runtime/cuda/cuda_arch.h" // the target a GPU runs (no driver)
#ifdef AWQC_HAVE_CUDA_RUNTIME
#include "runtime/cuda/cuda_engine.h" // cuda_device_sm, for --target cuda:native
#endif
#ifdef AWQC_HAVE_CUDA
#include "codegen/cuda/cuda_compile.h"
#endif


enum { OPT_TARGET = OPT_FIRST_FREE, OPT_PASSES, OPT_PB, OPT_PA, OPT_PAA, OPT_PC, OPT_DUMP, OPT_STOP, OPT_TIME,
       OPT_VERIFY, OPT_FILTER, OPT_EMIT, OPT_CHECK, OPT_QUANT, OPT_HEAD, OPT_ACT,
       OPT_GEMV_STAGES };

static const char *const compile_help =
    "usage: awqc compile [-m MODEL] [--quant SCALES.json] [--target T] [-o OUT.awqx] [inspection options]\n"
    "Runs the pass pipeline (fold-awq-scales, merge-qkv, merge-gate-up, fuse, dce,\n"
    "plan-memory, quantize-head, pack-weights, quantize-acts) on the model and writes\n"
    "the artifact: the plan, the packed weights, the tokenizer and metadata (run it\n"
    "with awqc run -m OUT.awqx).\n"
    "An AWQ folder (awqc quantize) compiles with its quantized codes.\n" COMMON_HELP
    "  -c, --ctx N             context length the memory plan is sized for (2048)\n"
    "      --target T          host, x86-64, x86-64-avx2, x86-64-avx512, x86-64-vnni,\n"
    "                          aarch64, cuda:sm_80, cuda:sm_87, cuda:sm_90, orin (default host);\n"
    "                          cuda:sm_XY of another GPU (8.0 or newer, as nvidia-smi\n"
    "                          --query-gpu=compute_cap prints X.Y) picks the one it runs;\n"
    "                          cuda:native: this machine's GPU (asks the driver)\n"
    "  -o, --output FILE       write the artifact to FILE (e.g. model.awqx)\n"
    "      --quant FILE        AWQ scales from awqc quantize --dump-scales, applied to a\n"
    "                          floating-point model as awq_scale nodes (fold-awq-scales\n"
    "                          then folds them into the previous ops)\n"
    "      --head KIND         the output projection (lm_head; a tied one gets its own copy,\n"
    "                          the embedding stays as it is): f32 (default: exact, 4 bytes\n"
    "                          a weight: 113 MB a token on SmolLM2), q8 (RTN, group 128/64,\n"
    "                          ~1.05 bytes a weight: no measurable ppl cost), q4 (RTN group\n"
    "                          32, 0.59 bytes a weight: +14% ppl on SmolLM2); CPU targets only\n"
    "      --act KIND          8-bit activations in the 4-bit linears (q8, the default where\n"
    "                          the target has AVX-512 VNNI; f32 keeps W4A16); f16 (CUDA\n"
    "                          targets): the 4-bit GEMV computes in f16x2, about half its\n"
    "                          instructions a weight (the default there is f32)\n"
    "      --gemv-stages N     CUDA targets: the 4-bit GEMV's copies of weight rows to shared\n"
    "                          memory: 1 (default) copies a batch then computes it, 2\n"
    "                          double-buffers (the next batch in flight while one is computed)\n"
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
    "      --emit=ll           print the CPU kernels' LLVM IR (after O3)\n"
    "      --emit=ir|dot|svg   print the final graph as IR text, Graphviz, or SVG rendered\n"
    "                          by graphviz's dot (with --filter for one layer)\n"
    "      --check-logits N    run N tokens through the interpreter after each pass\n"
    "                          and report the relative change of the logits\n";

typedef struct {
    CommonOpts common;
    PassOptions pass;
    const char *target, *output, *emit, *quant, *head, *act;
    int check_tokens, gemv_stages; // 0: not given
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
        {"quant", required_argument, 0, OPT_QUANT}, {"head", required_argument, 0, OPT_HEAD},
        {"act", required_argument, 0, OPT_ACT}, {"gemv-stages", required_argument, 0, OPT_GEMV_STAGES},
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
        case OPT_QUANT: o->quant = optarg; break;
        case OPT_HEAD: o->head = optarg; break;
        case OPT_ACT: o->act = optarg; break;
        case OPT_GEMV_STAGES: o->gemv_stages = parse_int_arg("--gemv-stages", optarg, 1, 2); break;
        case 'h': fputs(compile_help, stdout); exit(0);
        default: fputs(compile_help, stderr); exit(2);
        }
    }
    if (optind < argc) die("compile: unexpected argument '%s'", argv[optind]);
    if (o->emit && strcmp(o->emit, "dot") && strcmp(o->emit, "ir") && strcmp(o->emit, "svg") &&
        strcmp(o->emit, "cu") && strcmp(o->emit, "ptx") && strcmp(o->emit, "ll"))
        die("compile: --emit=%s: the emitters are ir, dot, svg, ll (LLVM IR of the CPU kernels), cu and ptx", o->emit);
    if (o->head && strcmp(o->head, "f32") && strcmp(o->head, "q8") && strcmp(o->head, "q4"))
        die("compile: --head %s: the head kinds are f32, q8 and q4", o->head);
    if (o->act && strcmp(o->act, "q8") && strcmp(o->act, "f32") && strcmp(o->act, "f16"))
        die("compile: --act %s: the activation kinds are q8, f32 and f16 (CUDA targets)", o->act);
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

// --emit=svg: the dot text piped through graphviz's dot, whose SVG goes to stdout.
static void emit_svg(const Graph *g, const char *filter) {
    fflush(stdout);
    FILE *dot = popen("dot -Tsvg", "w");
    if (!dot) die("compile: --emit=svg: cannot start graphviz's dot");
    ir_print_dot(g, filter, dot);
    int status = pclose(dot);
    if (status != 0)
        die("compile: --emit=svg: graphviz's dot %s; install graphviz (scripts/setup.sh does) or use --emit=dot",
            WIFEXITED(status) && WEXITSTATUS(status) == 127 ? "was not found" : "failed");
}

static void emit(const Graph *g, const char *what, const char *filter) {
    if (strcmp(what, "dot") == 0) ir_print_dot(g, filter, stdout);
    else if (strcmp(what, "svg") == 0) emit_svg(g, filter);
    else pass_print_ir(g, filter, stdout);
}

static void import_scales(Model *m, const char *path) {
    AwqcError err;
    size_t groups = 0;
    if (!awq_import_scales(m->graph, path, &groups, &err)) die_error(&err);
    fprintf(stderr, "awqc: %s: applied %zu AWQ scale groups as awq_scale nodes\n", path, groups);
}

#ifdef AWQC_HAVE_CPU_CODEGEN
// The CPU code generator: the plan's kernels as a shared object
// (code.cpu.so) and what they were built for (code.cpu.json).
static void cpu_compile_step(const Graph *g, const CompileOpts *o, bool emit_ll, CpuCode *cpu, ArtifactBlob *blobs,
                             size_t *n) {
    AwqcError err;
    CpuCodegenOptions co = {.emit_ll = emit_ll ? stdout : NULL, .verbose = true};
    double t0 = awqc_now();
    if (!cpu_codegen(g, o->target, &co, cpu, &err)) die("compile: %s", err.msg);
    fprintf(stderr, "awqc: CPU code for %s: %d kernels, %zu KiB, in %.2f s\n", cpu->target.cpu, cpu->n_kernels,
            cpu->so_size / 1024, awqc_now() - t0);
    AWQC_ASSERT(*n + 2 <= AWQX_MAX_EXTRA);
    blobs[(*n)++] = (ArtifactBlob){AWQX_SEC_CPU_CODE, cpu->so, cpu->so_size};
    blobs[(*n)++] = (ArtifactBlob){AWQX_SEC_CPU_INFO, cpu->info_json, strlen(cpu->info_json)};
}
static bool target_has_cpu_half(const char *target) { return cpu_target_is_cpu(target); }
static void release_cpu_code(CpuCode *cpu) { cpu_code_free(cpu); }
static void require_cpu_codegen(const char *target) { (void)target; }
#else
// A build without LLVM (-DAWQC_CPU_CODEGEN=OFF) compiles for CUDA targets only.
static void require_cpu_codegen(const char *target) {
    die("compile: --target %s needs the CPU code generator, and this awqc was built without it (no LLVM: "
        "-DAWQC_CPU_CODEGEN=OFF): compile for a cuda:sm_XX target here, or with a full build",
        pass_target_name(target));
}
static void cpu_compile_step(const Graph *g, const CompileOpts *o, bool emit_ll, CpuCode *cpu, ArtifactBlob *blobs,
                             size_t *n) {
    (void)g, (void)o, (void)emit_ll, (void)cpu, (void)blobs, (void)n;
    AWQC_PANIC("require_cpu_codegen refused the target first");
}
// Every target but cuda:sm_XX carries CPU code (orin: its aarch64 half); the
// pass pipeline has already refused names it does not know.
static bool target_has_cpu_half(const char *target) { return strncmp(target, "cuda:", 5) != 0; }
static void release_cpu_code(CpuCode *cpu) { (void)cpu; }
#endif

// --target cuda:native: the compute capability of this machine's GPU, asked of the driver.
static int native_gpu_sm(void) {
#ifdef AWQC_HAVE_CUDA_RUNTIME
    char name[128];
    AwqcError err;
    int sm = cuda_device_sm(name, sizeof name, &err);
    if (!sm) die("compile: --target cuda:native: %s", err.msg);
    fprintf(stderr, "awqc: --target cuda:native: this machine's GPU is %s (sm_%d)\n", name, sm);
    return sm;
#else
    die("compile: --target cuda:native needs the CUDA runtime to ask the driver, and this awqc was built without "
        "it: name the GPU (--target cuda:sm_XY)");
#endif
}

// --target cuda:sm_XY (or cuda:native) for any GPU: the awqc target whose code
// that GPU runs (cuda_arch.h) into out, said on stderr when it is another one;
// below 8.0, refused. Other targets come back as they are.
static const char *gpu_target(const char *target, char out[32]) {
    int sm = strcmp(target, "cuda:native") == 0 ? native_gpu_sm()
             : strncmp(target, "cuda:", 5) == 0 ? cuda_target_sm(target)
                                                : 0; // orin has a CPU half: it stays itself
    if (!sm) return target; // pass_check_target names a malformed one
    int to = cuda_target_sm_for(sm);
    if (!to)
        die("compile: --target cuda:sm_%d: awqc's CUDA kernels need compute capability 8.0 or newer (sm_80): "
            "compile for the CPU instead (--target host)", sm);
    snprintf(out, 32, "cuda:sm_%d", to);
    if (to != sm)
        fprintf(stderr, "awqc: --target cuda:sm_%d: a GPU of sm_%d runs awqc's %s code (%s); compiling for %s\n", sm,
                sm, out, to / 10 == sm / 10 ? "its cubin is binary compatible" : "the driver compiles its PTX at load",
                out);
    return out;
}

static void write_artifact(const Model *m, const CompileOpts *o, int64_t ctx, const ArtifactBlob *extra,
                           size_t n_extra) {
    ArtifactInfo info = {.target = pass_target_name(o->target), .source = m->path, .awqc_version = AWQC_VERSION,
                         .planned_ctx = ctx, .extra = extra, .n_extra = n_extra};
    AwqcError err;
    double t0 = awqc_now();
    if (!artifact_write(o->output, m->graph, m->tok, &info, &err)) die_error(&err);
    fprintf(stderr, "awqc: wrote %s (target %s) in %.2f s\n", o->output, info.target, awqc_now() - t0);
}

int cmd_compile(int argc, char **argv) {
    CompileOpts o = {.target = "host"};
    common_init(&o.common);
    o.common.keep_quant_codes = true;
    parse_compile_args(argc, argv, &o);
    char gpu_target_name[32];
    o.target = gpu_target(o.target, gpu_target_name);
    AwqcError err;
    if (!pass_check_target(o.target, &err)) die("compile: --target: %s", err.msg);
    if (o.act && strcmp(o.act, "f16") == 0 && !pass_target_is_gpu(o.target)) // before minutes of loading
        die("compile: --act f16 is the CUDA GEMV's arithmetic; target %s takes q8 or f32", pass_target_name(o.target));
    if (o.gemv_stages && !pass_target_is_gpu(o.target))
        die("compile: --gemv-stages shapes the CUDA GEMV; target %s has none", pass_target_name(o.target));
    if (o.output) check_output_writable("compile", o.output);
    bool want_ll = o.emit && strcmp(o.emit, "ll") == 0;
    bool cpu_half = target_has_cpu_half(o.target) && (o.output || want_ll);
    if (cpu_half) require_cpu_codegen(o.target); // before minutes of loading and passes
#ifdef AWQC_HAVE_CUDA
    if (!cuda_compile_ready(o.target, &err)) die_error(&err);
#endif
    Model *m = load_model_or_die(&o.common);
    if (m->artifact) die("compile: %s is already a compiled artifact; give the checkpoint it came from", m->path);
    PassContext ctx = {.target = o.target, .ctx = o.common.ctx > 0 ? o.common.ctx : 2048, .log = stderr};
    LogitCheck check = {0};
    if (o.check_tokens) start_logit_check(m, &o, &check); // before --quant: the import is checked too
    if (o.quant) import_scales(m, o.quant);
    if (o.head) ir_set_meta(m->graph, "quantize_head", ir_attr_string("", o.head)); // read by quantize-head
    if (o.act) ir_set_meta(m->graph, "quantize_acts", ir_attr_string("", o.act)); // pack-weights, quantize-acts
    if (o.gemv_stages) ir_set_meta(m->graph, "cuda_gemv_stages", ir_attr_int("", o.gemv_stages)); // CUDA codegen
    if (o.check_tokens) {
        if (o.quant && !report_logits(m->graph, &(Pass){.name = "--quant"}, &check, &err)) die_error(&err);
        o.pass.after_pass = report_logits;
        o.pass.user = &check;
    }
    if (!pass_run_pipeline(m->graph, &ctx, &o.pass, &err)) die_error(&err);
    free(check.ids);
    free(check.reference);
    ArtifactBlob code_blobs[AWQX_MAX_EXTRA];
    size_t n_code = 0;
#ifdef AWQC_HAVE_CUDA // the CUDA generator: code.cuda.* sections, --emit=cu/ptx
    CudaCode cuda;
    if (!cuda_compile_step(m->graph, o.target, o.emit, stdout, &cuda, code_blobs, &n_code, &err)) die_error(&err);
#else
    if (strncmp(o.target, "cuda:", 5) == 0 || (o.emit && (!strcmp(o.emit, "cu") || !strcmp(o.emit, "ptx"))))
        die("compile: this awqc was built without the CUDA toolkit (NVRTC): no CUDA code generation");
#endif
    CpuCode cpu = {0};
    if (cpu_half) cpu_compile_step(m->graph, &o, want_ll, &cpu, code_blobs, &n_code);
    if (o.emit && strcmp(o.emit, "cu") && strcmp(o.emit, "ptx") && !want_ll) emit(m->graph, o.emit, o.pass.filter);
    if (o.output) write_artifact(m, &o, ctx.ctx, code_blobs, n_code);
    release_cpu_code(&cpu);
#ifdef AWQC_HAVE_CUDA
    cuda_code_free(&cuda);
#endif
    model_free(m);
    free(o.common.model);
    return 0;
}
