// cmd_run.c: `awqc run`: generate text from a prompt, streaming it as it
// comes (runtime/generate.c's loop); with --chat the prompt is wrapped in the
// model's chat template.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "runtime/generate.h"
#include "runtime/sampler.h"

static const char run_help[] =
    "usage: awqc run [options] -p PROMPT\n"
    "Generate text from a checkpoint (reference interpreter) or a compiled .awqx.\n"
    "  -p, --prompt TEXT     the prompt\n"
    "  -f, --file FILE       read the prompt from FILE\n"
    "  -n, --n-predict N     tokens to generate (default 128; -1 = until the end of\n"
    "                        generation or a full context)\n"
    "      --chat            wrap the prompt as a user message in the model's chat template\n"
    "      --system TEXT     system message for --chat (default: the template's own)\n"
    "      --temp F          temperature; 0 = greedy (default 0)\n"
    "      --top-k N         sample among the N most likely tokens (default 40; 0 = all)\n"
    "      --top-p F         nucleus sampling mass of the top-k survivors (default 0.95;\n"
    "                        1 = off, 0 = the most likely token only)\n"
    "  -s, --seed N          random seed for sampling (default 42)\n"
    "  -c, --ctx N           context size in tokens (default: min(training context, 2048))\n"
    "      --print-ids       print the generated token ids (one line) instead of their text,\n"
    "                        to compare two engines or targets token by token\n" COMMON_HELP;

typedef struct {
    CommonOpts common;
    char *prompt;
    const char *system;
    int n_predict;
    bool chat;
    bool print_ids;
    SamplerParams sampling;
} RunOpts;

enum { OPT_CHAT = OPT_FIRST_FREE, OPT_SYSTEM, OPT_TEMP, OPT_TOP_K, OPT_TOP_P, OPT_PRINT_IDS };

static char *read_prompt_file(const char *path) {
    AwqcError err;
    char *text = awqc_read_file(path, NULL, &err);
    if (!text) die_error(&err);
    return text;
}

static void parse_run_options(int argc, char **argv, RunOpts *o) {
    static const struct option longs[] = {
        COMMON_LONG_OPTS,
        {"prompt", required_argument, 0, 'p'},    {"file", required_argument, 0, 'f'},
        {"n-predict", required_argument, 0, 'n'}, {"chat", no_argument, 0, OPT_CHAT},
        {"system", required_argument, 0, OPT_SYSTEM}, {"temp", required_argument, 0, OPT_TEMP},
        {"top-k", required_argument, 0, OPT_TOP_K}, {"top-p", required_argument, 0, OPT_TOP_P},
        {"seed", required_argument, 0, 's'}, {"print-ids", no_argument, 0, OPT_PRINT_IDS}, {0, 0, 0, 0}};
    *o = (RunOpts){.n_predict = 128, .sampling = {.temp = 0, .top_k = 40, .top_p = 0.95f, .seed = 42}};
    common_init(&o->common);
    int c;
    while ((c = getopt_long(argc, argv, "m:t:c:p:f:n:s:h", longs, NULL)) != -1) {
        if (common_option(&o->common, c, optarg)) continue;
        switch (c) {
        case 'p': free(o->prompt); o->prompt = xstrdup(optarg); break;
        case 'f': free(o->prompt); o->prompt = read_prompt_file(optarg); break;
        case 'n': o->n_predict = parse_int_arg("--n-predict", optarg, -1, INT32_MAX); break;
        case OPT_CHAT: o->chat = true; break;
        case OPT_SYSTEM: o->system = optarg; break;
        case OPT_TEMP: o->sampling.temp = (float)parse_float_arg("--temp", optarg, 0, 100); break;
        case OPT_TOP_K: o->sampling.top_k = parse_int_arg("--top-k", optarg, 0, 1 << 30); break;
        case OPT_TOP_P: o->sampling.top_p = (float)parse_float_arg("--top-p", optarg, 0, 1); break;
        case 's': o->sampling.seed = parse_u64_arg("--seed", optarg); break;
        case OPT_PRINT_IDS: o->print_ids = true; break;
        case 'h': fputs(run_help, stdout); exit(0);
        default: fputs(run_help, stderr); exit(2);
        }
    }
    if (optind < argc) die("run: unexpected argument '%s' (see awqc run --help)", argv[optind]);
    if (!o->prompt) die("run: no prompt: give -p TEXT or -f FILE (see awqc run --help)");
}

// The text actually fed to the model: the raw prompt, or the chat rendering.
static char *render_prompt(const RunOpts *o, const Model *m) {
    if (!o->chat) return xstrdup(o->prompt);
    ChatMessage msgs[2];
    size_t n = 0;
    if (o->system) msgs[n++] = (ChatMessage){"system", o->system};
    msgs[n++] = (ChatMessage){"user", o->prompt};
    AwqcError err;
    char *text = tok_apply_chat_template(m->tok, msgs, n, true, &err);
    if (!text) die_error(&err);
    return text;
}

static void print_text(const char *text, size_t len, void *user) {
    (void)user;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
}

static void print_id(int32_t id, void *user) {
    (void)user;
    printf("%d ", id);
    fflush(stdout);
}

// Streams the answer to stdout (text, or ids with --print-ids) through the
// loop chat and serve use; what ended it, and the timings, land in r.
static void generate(const RunOpts *o, Engine *e, const Tokenizer *tok, const int32_t *ids, int n_ids, GenResult *r) {
    GenParams p = {.sampling = o->sampling, .max_tokens = o->n_predict};
    if (o->print_ids) p.on_token = print_id;
    else p.emit = print_text;
    KvSession kv;
    kv_init(&kv, e);
    AwqcError err;
    bool ok = gen_run(&kv, tok, ids, n_ids, &p, r, &err);
    kv_free(&kv);
    if (!ok) die_error(&err);
    if (r->end == GEN_END_CTX_FULL) fprintf(stderr, "\nawqc: context full (%d tokens); stopping\n", engine_n_ctx(e));
}

int cmd_run(int argc, char **argv) {
    RunOpts o;
    parse_run_options(argc, argv, &o);
    Model *m = load_model_or_die(&o.common);
    char *text = render_prompt(&o, m);
    int32_t *ids;
    // A chat rendering already holds the BOS its template wants (as Hugging
    // Face's apply_chat_template text does); a raw prompt gets the model's.
    bool add_bos = !o.chat && tok_add_bos(m->tok);
    int n_ids = (int)tok_encode(m->tok, text, strlen(text), add_bos, true, &ids);
    int n_ctx = default_ctx(&o.common, m);
    if (n_ids == 0) die("run: the prompt is empty after tokenization");
    if (n_ids >= n_ctx)
        die("run: the prompt has %d tokens, which does not fit the context of %d tokens (raise --ctx or shorten it)",
            n_ids, n_ctx);
    Engine *in = new_engine_or_die(m, n_ctx, &o.common);
    if (!o.chat && !o.print_ids) fputs(o.prompt, stdout);
    GenResult r;
    generate(&o, in, m->tok, ids, n_ids, &r);
    fputc('\n', stdout);
    fflush(stdout); // the statistics go to stderr, after the text
    fprintf(stderr, "awqc: prompt %d tokens in %.2f s (%.1f tok/s); generated %d tokens in %.2f s (%.1f tok/s)\n",
            r.n_prompt, r.t_prompt, r.n_prompt / r.t_prompt, r.n_gen, r.t_gen, r.n_gen > 0 ? r.n_gen / r.t_gen : 0.0);
    free(r.text);
    engine_free(in);
    free(ids);
    free(text);
    free(o.prompt);
    free(o.common.model);
    model_free(m);
    return 0;
}
