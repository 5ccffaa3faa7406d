// cmd_chat.c: `awqc chat`: a multi-turn conversation in the terminal with the
// model's chat template. Answers stream as they are generated; the KV cache
// carries over between turns, so each turn only runs its new tokens.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "runtime/conversation.h"
#include "runtime/generate.h"

static const char chat_help[] =
    "usage: awqc chat [options]\n"
    "Chat with the model in the terminal, in its chat template (ChatML, Llama 2 or\n"
    "Llama 3, recognised from the model's metadata). Answers stream as generated and\n"
    "the KV cache is kept between turns: a turn only processes its new tokens.\n"
    "  At the prompt: /exit or Ctrl-D quits, /reset forgets the conversation (keeps\n"
    "  the system message), /help shows this. Ctrl-C stops the current answer;\n"
    "  Ctrl-C at the prompt quits.\n"
    "  -n, --n-predict N     at most N tokens per answer (default -1: until the model\n"
    "                        ends it or the context is full)\n"
    "      --system TEXT     system message (default: the template's own, if any)\n"
    "      --temp F          temperature; 0 = greedy (default 0.7)\n"
    "      --top-k N         sample among the N most likely tokens (default 40; 0 = all)\n"
    "      --top-p F         nucleus sampling mass (default 0.95; 1 = off)\n"
    "  -s, --seed N          random seed for sampling (default 42)\n"
    "  -c, --ctx N           context size in tokens (default: min(training context, 2048))\n"
    "  -v, --verbose         print \"prompt: N new tokens (cache M)\" for each turn\n"
    "Context full: before each turn the whole conversation must fit with room for\n"
    "the answer (-n tokens, or a quarter of the context when -n is -1, at most 256).\n"
    "When it does not, the oldest exchanges (user message and answer) are dropped,\n"
    "the system message is kept, the rest is processed again, and a notice goes\n"
    "to stderr. An answer that fills the context stops there.\n"
    "After each answer, stderr shows the prompt and generated token counts and speeds.\n" COMMON_HELP;

typedef struct {
    CommonOpts common;
    const char *system;
    int n_predict;
    bool verbose;
    SamplerParams sampling;
} ChatOpts;

enum { OPT_SYSTEM = OPT_FIRST_FREE, OPT_TEMP, OPT_TOP_K, OPT_TOP_P };

static void parse_chat_options(int argc, char **argv, ChatOpts *o) {
    static const struct option longs[] = {
        COMMON_LONG_OPTS,
        {"n-predict", required_argument, 0, 'n'}, {"system", required_argument, 0, OPT_SYSTEM},
        {"temp", required_argument, 0, OPT_TEMP}, {"top-k", required_argument, 0, OPT_TOP_K},
        {"top-p", required_argument, 0, OPT_TOP_P}, {"seed", required_argument, 0, 's'},
        {"verbose", no_argument, 0, 'v'},         {0, 0, 0, 0}};
    *o = (ChatOpts){.n_predict = -1, .sampling = {.temp = 0.7f, .top_k = 40, .top_p = 0.95f, .seed = 42}};
    common_init(&o->common);
    int c;
    while ((c = getopt_long(argc, argv, "m:t:c:n:s:vh", longs, NULL)) != -1) {
        if (common_option(&o->common, c, optarg)) continue;
        switch (c) {
        case 'n': o->n_predict = parse_int_arg("--n-predict", optarg, -1, INT32_MAX); break;
        case OPT_SYSTEM: o->system = optarg; break;
        case OPT_TEMP: o->sampling.temp = (float)parse_float_arg("--temp", optarg, 0, 100); break;
        case OPT_TOP_K: o->sampling.top_k = parse_int_arg("--top-k", optarg, 0, 1 << 30); break;
        case OPT_TOP_P: o->sampling.top_p = (float)parse_float_arg("--top-p", optarg, 0, 1); break;
        case 's': o->sampling.seed = parse_u64_arg("--seed", optarg); break;
        case 'v': o->verbose = true; break;
        case 'h': fputs(chat_help, stdout); exit(0);
        default: fputs(chat_help, stderr); exit(2);
        }
    }
    if (optind < argc) die("chat: unexpected argument '%s' (see awqc chat --help)", argv[optind]);
}

// ----------------------------------------------------------------------------
// Ctrl-C: stops the answer being generated; at the prompt it ends the session.
// The signal may land on any thread (the engine's OpenMP workers too), so the
// handler also writes to a pipe that the prompt's poll() watches, rather than
// relying on the main thread's read() being interrupted.

static volatile sig_atomic_t interrupted;
static int interrupt_pipe[2] = {-1, -1};

static void on_sigint(int sig) {
    (void)sig;
    interrupted = 1;
    if (interrupt_pipe[1] >= 0) {
        ssize_t w = write(interrupt_pipe[1], "", 1);
        (void)w; // a full pipe already says "interrupted"
    }
}

static void install_sigint(void) {
    if (pipe(interrupt_pipe) != 0) die("chat: pipe: %s", strerror(errno));
    fcntl(interrupt_pipe[0], F_SETFL, O_NONBLOCK);
    fcntl(interrupt_pipe[1], F_SETFL, O_NONBLOCK);
    struct sigaction sa = {0};
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, NULL);
}

static void drain_interrupts(void) {
    char buf[64];
    while (read(interrupt_pipe[0], buf, sizeof buf) > 0) {
    }
    interrupted = 0;
}

static void close_interrupt_pipe(void) {
    signal(SIGINT, SIG_DFL);
    close(interrupt_pipe[0]);
    close(interrupt_pipe[1]);
}

static bool not_interrupted(void *user) {
    (void)user;
    return !interrupted;
}

static void print_text(const char *text, size_t len, void *user) {
    (void)user;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
}

// ----------------------------------------------------------------------------
// One session

typedef struct {
    const ChatOpts *o;
    const Model *m;
    KvSession kv;
    Conversation conv;
    int n_ctx;
} Chat;

// Tokens kept free for the answer when the conversation is fitted.
static int answer_reserve(const Chat *c) {
    if (c->o->n_predict > 0) return c->o->n_predict < c->n_ctx ? c->o->n_predict : c->n_ctx - 1;
    int r = c->n_ctx / 4;
    return r > 256 ? 256 : r < 1 ? 1 : r;
}

static void report_speed(const GenResult *r) {
    int n_new = r->n_prompt - r->n_reused;
    fprintf(stderr, "[prompt: %d tokens, %.1f tok/s | generated: %d tokens, %.1f tok/s]\n", n_new,
            r->t_prompt > 0 ? n_new / r->t_prompt : 0.0, r->n_gen, r->t_gen > 0 ? r->n_gen / r->t_gen : 0.0);
}

static void report_end(const Chat *c, GenEnd end) {
    if (end == GEN_END_CANCELLED) fprintf(stderr, "[stopped]\n");
    if (end == GEN_END_CTX_FULL)
        fprintf(stderr, "awqc: the context of %d tokens is full; the answer stops here (the next turn drops the "
                        "oldest exchanges)\n", c->n_ctx);
}

// Generates the answer to the conversation as it stands (last message: user).
static void answer(Chat *c) {
    int32_t *ids = NULL;
    int dropped = 0;
    AwqcError err;
    int n = conv_fit(&c->conv, c->m->tok, c->n_ctx, answer_reserve(c), &ids, &dropped, &err);
    if (n < 0) {
        fprintf(stderr, "awqc: %s; message not sent\n", err.msg);
        conv_pop(&c->conv);
        return;
    }
    if (dropped)
        fprintf(stderr, "awqc: context full: dropped the %d oldest messages (system message kept); "
                        "processing the rest again\n", dropped);
    GenParams p = {.sampling = c->o->sampling, .max_tokens = c->o->n_predict, .emit = print_text,
                   .keep_going = not_interrupted};
    GenResult r;
    bool ok = gen_run(&c->kv, c->m->tok, ids, n, &p, &r, &err);
    fputc('\n', stdout);
    fflush(stdout);
    if (c->o->verbose) fprintf(stderr, "prompt: %d new tokens (cache %d)\n", n - r.n_reused, r.n_reused);
    if (ok) {
        conv_add(&c->conv, "assistant", r.text);
        report_end(c, r.end);
        report_speed(&r);
    } else {
        fprintf(stderr, "awqc: %s; message dropped\n", err.msg);
        conv_pop(&c->conv);
    }
    free(r.text);
    free(ids);
}

// ----------------------------------------------------------------------------
// The prompt loop

// Standard input, read a line at a time with poll() so Ctrl-C is noticed.
typedef struct {
    char *buf;
    size_t n, cap; // bytes read but not yet returned
    char *line;    // the last line returned
} LineReader;

// Takes the first complete line out of the buffer (or the rest at EOF).
static char *take_line(LineReader *r, bool at_eof) {
    char *nl = r->n ? memchr(r->buf, '\n', r->n) : NULL;
    if (!nl && !(at_eof && r->n > 0)) return NULL;
    size_t len = nl ? (size_t)(nl - r->buf) : r->n, used = nl ? len + 1 : len;
    free(r->line);
    r->line = xstrndup(r->buf, len);
    memmove(r->buf, r->buf + used, r->n - used);
    r->n -= used;
    return r->line;
}

// The next line without its newline; NULL at EOF or on Ctrl-C.
static char *read_line(LineReader *r) {
    if (isatty(STDIN_FILENO)) {
        fputs("> ", stdout);
        fflush(stdout);
    }
    for (;;) {
        char *line = take_line(r, false);
        if (line) return line;
        struct pollfd fds[2] = {{.fd = STDIN_FILENO, .events = POLLIN}, {.fd = interrupt_pipe[0], .events = POLLIN}};
        if (poll(fds, 2, -1) < 0 && errno != EINTR) return NULL;
        if (interrupted) return NULL;
        if (!(fds[0].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        GROW(r->buf, r->cap, r->n + 4096);
        ssize_t got = read(STDIN_FILENO, r->buf + r->n, 4096);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return take_line(r, true);
        r->n += (size_t)got;
    }
}

// Handles a /command; false when it ends the session.
static bool slash_command(Chat *c, const char *line) {
    if (!strcmp(line, "/exit") || !strcmp(line, "/quit")) return false;
    if (!strcmp(line, "/reset")) {
        conv_clear_turns(&c->conv);
        fprintf(stderr, "[conversation cleared]\n");
    } else if (!strcmp(line, "/help")) {
        fputs("/exit quits, /reset forgets the conversation; Ctrl-C stops an answer\n", stderr);
    } else {
        fprintf(stderr, "unknown command %s (try /help)\n", line);
    }
    return true;
}

static void chat_loop(Chat *c) {
    LineReader in = {0};
    for (;;) {
        drain_interrupts();
        const char *line = read_line(&in);
        if (!line) break;
        if (line[0] == '/') {
            if (!slash_command(c, line)) break;
            continue;
        }
        if (!line[0]) continue;
        conv_add(&c->conv, "user", line);
        answer(c);
    }
    if (isatty(STDIN_FILENO)) fputc('\n', stdout);
    free(in.buf);
    free(in.line);
}

int cmd_chat(int argc, char **argv) {
    ChatOpts o;
    parse_chat_options(argc, argv, &o);
    Model *m = load_model_or_die(&o.common);
    if (!tok_chat_template(m->tok)) die("chat: the model has no chat template (use awqc run for plain text)");
    Chat c = {.o = &o, .m = m, .n_ctx = default_ctx(&o.common, m)};
    conv_init(&c.conv);
    if (o.system) conv_add(&c.conv, "system", o.system);
    Engine *e = new_engine_or_die(m, c.n_ctx, &o.common);
    kv_init(&c.kv, e);
    install_sigint();
    fprintf(stderr, "awqc chat: context %d tokens; /exit or Ctrl-D quits, Ctrl-C stops an answer\n", c.n_ctx);
    chat_loop(&c);
    close_interrupt_pipe();
    kv_free(&c.kv);
    conv_free(&c.conv);
    engine_free(e);
    free(o.common.model);
    model_free(m);
    return 0;
}
