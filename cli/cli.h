// cli.h: the awqc command's shared pieces: options every subcommand takes
// (model, threads, context), model loading with progress, and the
// subcommands themselves (one file each).
#ifndef AWQC_CLI_H
#define AWQC_CLI_H

#include <getopt.h>

#include "runtime/engine.h"
#include "runtime/model.h"

// Set by the build (CMakeLists.txt: the project version).
#ifndef AWQC_VERSION
#define AWQC_VERSION "0.0.0"
#endif

// Options shared by the subcommands that run a model.
typedef struct {
    char *model;       // -m: checkpoint path (default: the cached default model)
    const char *desc;  // --model-desc: explicit .model file
    int threads;       // -t
    int ctx;           // -c/--ctx (0: subcommand default)
    bool keep_quant_codes; // load an AWQ folder's linears as codes (compile)
    EngineKind engine;     // --engine: what runs the model
} CommonOpts;

// getopt_long ids of the shared options (beyond any single character).
enum { OPT_MODEL_DESC = 1000, OPT_ENGINE, OPT_FIRST_FREE };

#define COMMON_LONG_OPTS                                      \
    {"model", required_argument, 0, 'm'},                     \
    {"model-desc", required_argument, 0, OPT_MODEL_DESC},     \
    {"threads", required_argument, 0, 't'},                   \
    {"ctx", required_argument, 0, 'c'},                       \
    {"engine", required_argument, 0, OPT_ENGINE},             \
    {"help", no_argument, 0, 'h'}

#define COMMON_HELP                                                                            \
    "  -m, --model PATH      GGUF file, Hugging Face folder or compiled .awqx (default:\n"  \
    "                        the cached SmolLM2-135M-Instruct from scripts/setup.sh)\n"      \
    "      --model-desc FILE model description to use instead of models/<arch>.model\n"     \
    "  -t, --threads N       threads (default: all cores)\n"                                 \
    "      --engine KIND     auto (the .awqx's GPU code when a GPU is there, else its CPU code,\n" \
    "                        else the interpreter), interp, compiled (CPU code), cuda\n" \
    "  -h, --help            this help\n"

void common_init(CommonOpts *o);
// Handles a shared option; false if opt is not one of them.
bool common_option(CommonOpts *o, int opt, const char *arg);

// Parsers that exit with a message naming the option on bad values.
int parse_int_arg(const char *opt, const char *arg, int lo, int hi);
double parse_float_arg(const char *opt, const char *arg, double lo, double hi);
uint64_t parse_u64_arg(const char *opt, const char *arg);

// The folder that will hold out must exist and be writable: checked before
// the long work, not after (exits with "CMD: cannot write OUT: ...").
void check_output_writable(const char *cmd, const char *out);

// Loads the model of o (exits with the error on failure).
Model *load_model_or_die(const CommonOpts *o);
// The context for generation: --ctx, else the model's training context capped
// at 2048 tokens (what run, chat and serve size the KV cache for).
int default_ctx(const CommonOpts *o, const Model *m);
// An engine for m with the shared options (threads, --engine); exits on error.
Engine *new_engine_or_die(const Model *m, int n_ctx, const CommonOpts *o);
// engine_forward of n tokens, last row of logits; exits with the error.
const float *forward_or_die(Engine *e, const int32_t *ids, int n);

_Noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void die_error(const AwqcError *err);

int cmd_run(int argc, char **argv);
int cmd_ppl(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_compile(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_serve(int argc, char **argv);

#endif
