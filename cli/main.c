// main.c: the awqc command: dispatches to one subcommand per file.
#include <stdio.h>
#include <string.h>

#include "cli.h"


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
    printf("executors: reference interpreter (FP32, host CPU, OpenMP)\n");
    printf("code generation targets: none yet (planned: x86-64, aarch64, cuda:sm_80/sm_87/sm_90, orin)\n");
}

typedef struct {
    const char *name;
    int (*fn)(int, char **);
} Command;

static const Command commands[] = {{"run", cmd_run}, {"ppl", cmd_ppl}, {"bench", cmd_bench}, {"quantize", cmd_quantize}, {"compile", cmd_compile},
                                   {"inspect", cmd_inspect}, {"synth", cmd_synth}, {"chat", cmd_chat}, {"serve", cmd_serve}};

int main(int argc, char **argv) {
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
