// main.c: the awqc command: dispatches to one subcommand per file.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#ifdef AWQC_HAVE_CUDA
#include "codegen/cuda/cuda_codegen.h"
#endif
#ifdef AWQC_HAVE_CUDA_RUNTIME
#include "runtime/cuda/cuda_engine.h"
#endif

static const char usage[] =
    "usage: awqc <command> [options]\n"
    "An ahead-of-time compiler and runtime for 4-bit (AWQ) LLMs.\n"
    "\n"
    "commands:\n"
    "  run      generate text from a prompt (--chat for the chat template)\n"
    "  chat     multi-turn chat in the terminal (streamed, KV cache kept between turns)\n"
    "  serve    OpenAI-compatible HTTP server (/v1/chat/completions, /v1/completions)\n"
    "  ppl      perplexity of a text file\n"
    "  bench    prompt and decode speed (pp/tg, median of repetitions)\n"
    "  quantize quantize with AWQ or round-to-nearest; writes an AutoAWQ folder\n"
    "  compile  run the pass pipeline (fold, merge, fuse, plan, pack) and write an artifact\n"
    "  inspect  list what a compiled artifact (.awqx) holds\n"
    "  synth    write a random-weight LLaMA of any shape (AutoAWQ INT4) for speed tests\n"
    "\n"
    "  awqc <command> --help   options of a command\n"
    "  awqc --version          version and built-in targets\n";

static void print_version(void) {
    printf("awqc %s\n", AWQC_VERSION);
    printf("executors: reference interpreter (FP32, OpenMP), compiled CPU code");
#ifdef AWQC_HAVE_CUDA_RUNTIME
    printf(", CUDA (driver loaded at run time)");
#endif
    printf("\n");
#ifdef AWQC_RUNTIME_ONLY
    printf("code generation: none (runtime-only build: compile on the host, see docs/aarch64.md)\n");
#else
    printf("code generation targets:");
#ifdef AWQC_HAVE_CPU_CODEGEN
    printf(" host, x86-64, x86-64-avx2, x86-64-avx512, x86-64-vnni, aarch64");
#endif
#if defined(AWQC_HAVE_CUDA) && defined(AWQC_HAVE_CPU_CODEGEN)
    printf(", cuda:sm_80, cuda:sm_87, cuda:sm_90, orin");
#elif defined(AWQC_HAVE_CUDA)
    printf(" cuda:sm_80, cuda:sm_87, cuda:sm_90 (no CPU code generator: built without LLVM)");
#endif
    printf("\n");
#ifdef AWQC_HAVE_CUDA
    char *nvrtc = cuda_nvrtc_describe(); // loaded at first use: the cuda targets need it
    printf("CUDA compiler: %s\n", nvrtc);
    free(nvrtc);
#endif
#endif
}

#ifdef AWQC_RUNTIME_ONLY
// This build carries no code generator or quantizer (it was cross-built for a
// board): the commands that make artifacts say where to run them.
static int host_only(const char *command) {
    fprintf(stderr, "awqc: error: '%s' is not in this runtime-only build (cross-built to run artifacts); run it on the\n"
                    "build host, e.g. awqc compile --target aarch64|orin -m MODEL -o OUT.awqx (see docs/aarch64.md)\n",
            command);
    return 2;
}
int cmd_compile(int argc, char **argv) { return host_only("compile"); }
int cmd_quantize(int argc, char **argv) { return host_only("quantize"); }
int cmd_synth(int argc, char **argv) { return host_only("synth"); }
#endif

typedef struct {
    const char *name;
    int (*fn)(int, char **);
} Command;

static const Command commands[] = {{"run", cmd_run}, {"ppl", cmd_ppl}, {"bench", cmd_bench}, {"quantize", cmd_quantize}, {"compile", cmd_compile},
                                   {"inspect", cmd_inspect}, {"synth", cmd_synth}, {"chat", cmd_chat}, {"serve", cmd_serve}};

int main(int argc, char **argv) {
#ifdef AWQC_HAVE_CUDA_RUNTIME
    cuda_engine_register(); // --engine cuda, and auto for artifacts with CUDA code
#endif
    if (argc < 2) {
        fputs(usage, stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        fputs(usage, stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        print_version();
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "awqc: error: unknown command '%s'\n\n%s", argv[1], usage);
    return 2;
}
