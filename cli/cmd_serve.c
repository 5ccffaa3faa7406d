// cmd_serve.c: `awqc serve`: an OpenAI-compatible HTTP server on libmicrohttpd:
// /v1/chat/completions and /v1/completions (plain JSON or server-sent events),
// /v1/models and /health. One engine: requests queue for a single generation
// thread, which also keeps the KV cache's common prefix between requests.
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static const char serve_help[] =
    "usage: awqc serve [options]\n"
    "OpenAI-compatible HTTP server: POST /v1/chat/completions, POST /v1/completions\n"
    "(\"stream\": true for server-sent events), GET /v1/models, GET /health.\n"
    "Requests wait in a queue and run one at a time on one engine.\n"
    "      --host ADDR       IPv4 address to listen on (default 127.0.0.1: this machine only)\n"
    "      --port N          TCP port (default 8080; 0 = any free port, printed at start)\n"
    "      --max-body BYTES  largest request body (default 1048576; larger: 413)\n"
    "      --name NAME       model id in responses and /v1/models (default: the file name)\n"
    "  -c, --ctx N           context size in tokens (default: min(training context, 2048));\n"
    "                        a prompt plus max_tokens beyond it is refused (400)\n"
    "Request fields: model (any value is accepted), messages / prompt, max_tokens,\n"
    "max_completion_tokens, temperature (default 1), top_p (default 1), top_k (default\n"
    "0 = off), seed (default: a fresh one per request), stream, stream_options\n"
    "(include_usage), stop (up to 4 strings), n (1 only), user (ignored),\n"
    "presence_penalty and frequency_penalty (0 only). Any other field is a 400 error.\n"
    "SIGINT or SIGTERM stops the server (answers in progress end early).\n" COMMON_HELP;

#ifndef AWQC_HAVE_MHD

int cmd_serve(int argc, char **argv) {
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        fputs(serve_help, stdout);
        return 0;
    }
    die("serve: this awqc was built without libmicrohttpd (install libmicrohttpd-dev, e.g. scripts/setup.sh --deps, "
        "and rebuild)");
}

#else

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <pthread.h>

#include "runtime/generate.h"

// ----------------------------------------------------------------------------
// Options

typedef struct {
    CommonOpts common;
    const char *host;
    int port;
    size_t max_body;
    char *name;
} ServeOpts;

enum { OPT_HOST = OPT_FIRST_FREE, OPT_PORT, OPT_MAX_BODY, OPT_NAME };

static void parse_serve_options(int argc, char **argv, ServeOpts *o) {
    static const struct option longs[] = {
        COMMON_LONG_OPTS,
        {"host", required_argument, 0, OPT_HOST}, {"port", required_argument, 0, OPT_PORT},
        {"max-body", required_argument, 0, OPT_MAX_BODY}, {"name", required_argument, 0, OPT_NAME},
        {0, 0, 0, 0}};
    *o = (ServeOpts){.host = "127.0.0.1", .port = 8080, .max_body = 1 << 20};
    common_init(&o->common);
    int c;
    while ((c = getopt_long(argc, argv, "m:t:c:h", longs, NULL)) != -1) {
        if (common_option(&o->common, c, optarg)) continue;
        switch (c) {
        case OPT_HOST: o->host = optarg; break;
        case OPT_PORT: o->port = parse_int_arg("--port", optarg, 0, 65535); break;
        case OPT_MAX_BODY: o->max_body = (size_t)parse_int_arg("--max-body", optarg, 64, 1 << 30); break;
        case OPT_NAME: o->name = xstrdup(optarg); break;
        case 'h': fputs(serve_help, stdout); exit(0);
        default: fputs(serve_help, stderr); exit(2);
        }
    }
    if (optind < argc) die("serve: unexpected argument '%s' (see awqc serve --help)", argv[optind]);
}

// ----------------------------------------------------------------------------
// API errors, in OpenAI's shape: {"error": {"message", "type", "param", "code"}}

typedef struct {
    int status;
    const char *type, *code;
    char param[96];
    char msg[512];
} ApiError;

__attribute__((format(printf, 4, 5))) static bool api_fail(ApiError *e, int status, const char *param,
                                                            const char *fmt, ...) {
    e->status = status;
    e->type = status >= 500 ? "server_error" : "invalid_request_error";
    e->code = NULL;
    snprintf(e->param, sizeof e->param, "%s", param ? param : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return false;
}

static cJSON *error_json(const ApiError *e) {
    cJSON *root = cJSON_CreateObject(), *err = cJSON_AddObjectToObject(root, "error");
    cJSON_AddStringToObject(err, "message", e->msg);
    cJSON_AddStringToObject(err, "type", e->type);
    if (e->param[0]) cJSON_AddStringToObject(err, "param", e->param);
    else cJSON_AddNullToObject(err, "param");
    if (e->code) cJSON_AddStringToObject(err, "code", e->code);
    else cJSON_AddNullToObject(err, "code");
    return root;
}

// ----------------------------------------------------------------------------
// Request parsing: every field is known or the request is refused

enum { EP_CHAT = 1, EP_COMPLETION = 2 };

typedef struct {
    int endpoint;
    ChatMessage *msgs; // contents owned
    size_t n_msgs;
    const char *prompt; // borrowed from the JSON
    int max_tokens;     // -1: not given
    SamplerParams sampling;
    bool seeded, stream, include_usage;
    const char *stop[GEN_MAX_STOP];
    int n_stop;
} ApiRequest;

static bool is_integer(const cJSON *v) { return cJSON_IsNumber(v) && v->valuedouble == (double)(int64_t)v->valuedouble; }

static bool number_in(const cJSON *v, const char *name, double lo, double hi, ApiError *e) {
    if (!cJSON_IsNumber(v) || v->valuedouble < lo || v->valuedouble > hi)
        return api_fail(e, 400, name, "'%s' must be a number in [%g, %g]", name, lo, hi);
    return true;
}

static bool integer_in(const cJSON *v, const char *name, double lo, double hi, ApiError *e) {
    if (!is_integer(v) || v->valuedouble < lo || v->valuedouble > hi)
        return api_fail(e, 400, name, "'%s' must be an integer in [%.0f, %.0f]", name, lo, hi);
    return true;
}

// A message's content: a string, or an array of {"type": "text", "text": ...} parts.
static char *message_content(const cJSON *c, const char *where, ApiError *e) {
    if (cJSON_IsString(c)) return xstrdup(c->valuestring);
    if (!cJSON_IsArray(c)) {
        api_fail(e, 400, where, "'%s' must be a string or an array of text parts", where);
        return NULL;
    }
    StrBuf b = {0};
    const cJSON *part;
    cJSON_ArrayForEach(part, c) {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(part, "type");
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(part, "text");
        if (!cJSON_IsString(type) || strcmp(type->valuestring, "text") != 0 || !cJSON_IsString(text)) {
            free(b.s);
            api_fail(e, 400, where, "'%s': only {\"type\": \"text\", \"text\": ...} parts are supported", where);
            return NULL;
        }
        sb_append(&b, text->valuestring);
    }
    return sb_finish(&b);
}

static bool parse_message(const cJSON *m, size_t i, ChatMessage *out, ApiError *e) {
    char where[64];
    snprintf(where, sizeof where, "messages[%zu]", i);
    if (!cJSON_IsObject(m)) return api_fail(e, 400, where, "'%s' must be an object", where);
    const cJSON *f, *role = NULL, *content = NULL;
    cJSON_ArrayForEach(f, m) {
        if (!strcmp(f->string, "role")) role = f;
        else if (!strcmp(f->string, "content")) content = f;
        else if (strcmp(f->string, "name") != 0)
            return api_fail(e, 400, where, "unknown field '%s.%s'", where, f->string);
    }
    if (!cJSON_IsString(role) || (strcmp(role->valuestring, "system") && strcmp(role->valuestring, "user") &&
                                  strcmp(role->valuestring, "assistant")))
        return api_fail(e, 400, where, "'%s.role' must be \"system\", \"user\" or \"assistant\"", where);
    snprintf(where, sizeof where, "messages[%zu].content", i);
    char *text = content ? message_content(content, where, e) : NULL;
    if (!content) api_fail(e, 400, where, "'%s' is missing", where);
    if (!text) return false;
    *out = (ChatMessage){role->valuestring, text};
    return true;
}

static bool field_messages(ApiRequest *r, const cJSON *v, ApiError *e) {
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) == 0)
        return api_fail(e, 400, "messages", "'messages' must be a non-empty array");
    r->msgs = xcalloc((size_t)cJSON_GetArraySize(v), sizeof *r->msgs);
    const cJSON *m;
    cJSON_ArrayForEach(m, v) {
        if (!parse_message(m, r->n_msgs, &r->msgs[r->n_msgs], e)) return false;
        r->n_msgs++;
    }
    return true;
}

static bool field_prompt(ApiRequest *r, const cJSON *v, ApiError *e) {
    if (cJSON_IsArray(v) && cJSON_GetArraySize(v) == 1) v = cJSON_GetArrayItem(v, 0);
    if (!cJSON_IsString(v)) return api_fail(e, 400, "prompt", "'prompt' must be a string (or an array of one)");
    r->prompt = v->valuestring;
    return true;
}

static bool field_max_tokens(ApiRequest *r, const cJSON *v, ApiError *e) {
    if (!integer_in(v, v->string, 1, 1 << 30, e)) return false;
    r->max_tokens = (int)v->valuedouble;
    return true;
}

static bool field_stop(ApiRequest *r, const cJSON *v, ApiError *e) {
    if (cJSON_IsString(v)) {
        r->stop[r->n_stop++] = v->valuestring;
        return true;
    }
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) > GEN_MAX_STOP)
        return api_fail(e, 400, "stop", "'stop' must be a string or an array of at most %d strings", GEN_MAX_STOP);
    const cJSON *s;
    cJSON_ArrayForEach(s, v) {
        if (!cJSON_IsString(s) || !s->valuestring[0])
            return api_fail(e, 400, "stop", "'stop' entries must be non-empty strings");
        r->stop[r->n_stop++] = s->valuestring;
    }
    return true;
}

static bool field_stream_options(ApiRequest *r, const cJSON *v, ApiError *e) {
    if (!cJSON_IsObject(v)) return api_fail(e, 400, "stream_options", "'stream_options' must be an object");
    const cJSON *f;
    cJSON_ArrayForEach(f, v) {
        if (strcmp(f->string, "include_usage") != 0 || !cJSON_IsBool(f))
            return api_fail(e, 400, "stream_options", "unknown field 'stream_options.%s' (only include_usage)",
                            f->string);
        r->include_usage = cJSON_IsTrue(f);
    }
    return true;
}

static bool field_sampling(ApiRequest *r, const cJSON *v, ApiError *e) {
    const char *k = v->string;
    if (!strcmp(k, "temperature")) {
        if (!number_in(v, k, 0, 2, e)) return false;
        r->sampling.temp = (float)v->valuedouble;
    } else if (!strcmp(k, "top_p")) {
        if (!number_in(v, k, 0, 1, e)) return false;
        r->sampling.top_p = (float)v->valuedouble;
    } else if (!strcmp(k, "top_k")) {
        if (!integer_in(v, k, 0, 1 << 30, e)) return false;
        r->sampling.top_k = (int)v->valuedouble;
    } else { // seed
        if (!integer_in(v, k, -9.2e18, 9.2e18, e)) return false;
        r->sampling.seed = (uint64_t)(int64_t)v->valuedouble;
        r->seeded = true;
    }
    return true;
}

// stream, n, user, model, and the penalties awqc does not implement (0 only).
static bool field_misc(ApiRequest *r, const cJSON *v, ApiError *e) {
    const char *k = v->string;
    if (!strcmp(k, "stream")) {
        if (!cJSON_IsBool(v)) return api_fail(e, 400, k, "'stream' must be true or false");
        r->stream = cJSON_IsTrue(v);
    } else if (!strcmp(k, "n")) {
        if (!is_integer(v) || v->valuedouble != 1) return api_fail(e, 400, k, "only n=1 is supported");
    } else if (!strcmp(k, "user") || !strcmp(k, "model")) {
        if (!cJSON_IsString(v)) return api_fail(e, 400, k, "'%s' must be a string", k);
    } else { // presence_penalty, frequency_penalty
        if (!number_in(v, k, -2, 2, e)) return false;
        if (v->valuedouble != 0) return api_fail(e, 400, k, "'%s' is not supported (only 0)", k);
    }
    return true;
}

typedef bool (*FieldFn)(ApiRequest *r, const cJSON *v, ApiError *e);

static const struct {
    const char *name;
    FieldFn fn;
    int endpoints;
} FIELDS[] = {
    {"messages", field_messages, EP_CHAT},
    {"prompt", field_prompt, EP_COMPLETION},
    {"max_tokens", field_max_tokens, EP_CHAT | EP_COMPLETION},
    {"max_completion_tokens", field_max_tokens, EP_CHAT},
    {"temperature", field_sampling, EP_CHAT | EP_COMPLETION},
    {"top_p", field_sampling, EP_CHAT | EP_COMPLETION},
    {"top_k", field_sampling, EP_CHAT | EP_COMPLETION},
    {"seed", field_sampling, EP_CHAT | EP_COMPLETION},
    {"stop", field_stop, EP_CHAT | EP_COMPLETION},
    {"stream", field_misc, EP_CHAT | EP_COMPLETION},
    {"stream_options", field_stream_options, EP_CHAT | EP_COMPLETION},
    {"n", field_misc, EP_CHAT | EP_COMPLETION},
    {"user", field_misc, EP_CHAT | EP_COMPLETION},
    {"model", field_misc, EP_CHAT | EP_COMPLETION},
    {"presence_penalty", field_misc, EP_CHAT | EP_COMPLETION},
    {"frequency_penalty", field_misc, EP_CHAT | EP_COMPLETION},
};

static bool parse_field(ApiRequest *r, const cJSON *v, ApiError *e) {
    if (cJSON_IsNull(v)) return true; // an explicit null means "not given"
    for (size_t i = 0; i < sizeof FIELDS / sizeof *FIELDS; i++)
        if (!strcmp(FIELDS[i].name, v->string) && (FIELDS[i].endpoints & r->endpoint)) return FIELDS[i].fn(r, v, e);
    return api_fail(e, 400, v->string, "unknown field '%s'", v->string);
}

static void request_free(ApiRequest *r) {
    for (size_t i = 0; i < r->n_msgs; i++) free((char *)r->msgs[i].content);
    free(r->msgs);
}

// Fills r from the body (r borrows strings from root). False with e.
static bool parse_request(const cJSON *root, int endpoint, ApiRequest *r, ApiError *e) {
    *r = (ApiRequest){.endpoint = endpoint, .max_tokens = -1, .sampling = {.temp = 1, .top_k = 0, .top_p = 1}};
    if (!cJSON_IsObject(root)) return api_fail(e, 400, NULL, "the request body must be a JSON object");
    const cJSON *v;
    cJSON_ArrayForEach(v, root) {
        // cJSON keeps every copy of a repeated key: a field handler must see
        // its field once (a second "messages" or "stop" would outgrow arrays
        // sized for the first).
        for (const cJSON *prev = root->child; prev != v; prev = prev->next)
            if (!strcmp(prev->string, v->string))
                return api_fail(e, 400, v->string, "field '%s' appears more than once", v->string);
        if (!parse_field(r, v, e)) return false;
    }
    if (endpoint == EP_CHAT && !r->msgs) return api_fail(e, 400, "messages", "'messages' is required");
    if (endpoint == EP_COMPLETION && !r->prompt) return api_fail(e, 400, "prompt", "'prompt' is required");
    return true;
}

// ----------------------------------------------------------------------------
// Jobs: one request's generation, shared by its HTTP connection and the worker

typedef struct Job {
    struct Job *next;
    int refs; // the connection's and the worker's; freed at 0 (under the server lock)
    int endpoint;
    bool stream, include_usage;
    int32_t *ids;
    int n_ids;
    GenParams params;
    char id[48];
    long created;
    pthread_cond_t changed; // out grew or done became true
    StrBuf out;             // server-sent events not yet read by the connection
    size_t out_pos;
    bool done, cancelled, failed;
    GenResult result;
    char error[512];
    struct Server *srv;
} Job;

typedef struct Server {
    const Model *m;
    const char *model_id;
    KvSession kv;
    int n_ctx;
    size_t max_body;
    pthread_mutex_t mu;
    pthread_cond_t work;
    Job *head, *tail;
    bool stopping;
    unsigned long next_id;
    pthread_t worker;
} Server;

static void job_release_locked(Job *j) {
    if (--j->refs > 0) return;
    for (int i = 0; i < j->params.n_stop; i++) free((char *)j->params.stop[i]); // job_fill_params' copies
    free(j->ids);
    free(j->out.s);
    free(j->result.text);
    pthread_cond_destroy(&j->changed);
    free(j);
}

static void job_release(Job *j) {
    Server *s = j->srv;
    pthread_mutex_lock(&s->mu);
    job_release_locked(j);
    pthread_mutex_unlock(&s->mu);
}

static const char *finish_reason(GenEnd end) {
    return end == GEN_END_LENGTH || end == GEN_END_CTX_FULL ? "length" : "stop";
}

// ----------------------------------------------------------------------------
// Response bodies

static cJSON *response_head(const Job *j, const char *object) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "id", j->id);
    cJSON_AddStringToObject(root, "object", object);
    cJSON_AddNumberToObject(root, "created", (double)j->created);
    cJSON_AddStringToObject(root, "model", j->srv->model_id);
    return root;
}

static void add_usage(cJSON *root, const GenResult *r) {
    cJSON *u = cJSON_AddObjectToObject(root, "usage");
    cJSON_AddNumberToObject(u, "prompt_tokens", r->n_prompt);
    cJSON_AddNumberToObject(u, "completion_tokens", r->n_gen);
    cJSON_AddNumberToObject(u, "total_tokens", r->n_prompt + r->n_gen);
}

// One choice; text NULL with finish set (final stream chunk), finish NULL while streaming.
static void add_choice(cJSON *root, const Job *j, const char *text, const char *finish, bool whole) {
    cJSON *choice = cJSON_CreateObject();
    cJSON_AddNumberToObject(choice, "index", 0);
    if (j->endpoint == EP_COMPLETION) {
        cJSON_AddStringToObject(choice, "text", text ? text : "");
        cJSON_AddNullToObject(choice, "logprobs");
    } else {
        cJSON *msg = cJSON_AddObjectToObject(choice, whole ? "message" : "delta");
        if (whole) cJSON_AddStringToObject(msg, "role", "assistant");
        if (text) cJSON_AddStringToObject(msg, "content", text);
    }
    if (finish) cJSON_AddStringToObject(choice, "finish_reason", finish);
    else cJSON_AddNullToObject(choice, "finish_reason");
    cJSON_AddItemToArray(cJSON_AddArrayToObject(root, "choices"), choice);
}

static cJSON *whole_response(const Job *j) {
    cJSON *root = response_head(j, j->endpoint == EP_CHAT ? "chat.completion" : "text_completion");
    add_choice(root, j, j->result.text, finish_reason(j->result.end), true);
    add_usage(root, &j->result);
    return root;
}

static void append_event_locked(Job *j, cJSON *event) {
    char *text = cJSON_PrintUnformatted(event);
    sb_append(&j->out, "data: ");
    sb_append(&j->out, text);
    sb_append(&j->out, "\n\n");
    free(text);
    cJSON_Delete(event);
    pthread_cond_broadcast(&j->changed);
}

static const char *chunk_object(const Job *j) {
    return j->endpoint == EP_CHAT ? "chat.completion.chunk" : "text_completion";
}

static cJSON *chunk(const Job *j, const char *text, const char *finish) {
    cJSON *root = response_head(j, chunk_object(j));
    add_choice(root, j, text, finish, false);
    return root;
}

// The stream's end: the finish chunk, usage when asked for, [DONE].
static void append_stream_end_locked(Job *j) {
    if (j->failed) {
        ApiError e;
        api_fail(&e, 500, NULL, "%s", j->error);
        append_event_locked(j, error_json(&e));
    } else {
        append_event_locked(j, chunk(j, j->endpoint == EP_CHAT ? NULL : "", finish_reason(j->result.end)));
        if (j->include_usage) {
            cJSON *u = response_head(j, chunk_object(j));
            cJSON_AddArrayToObject(u, "choices");
            add_usage(u, &j->result);
            append_event_locked(j, u);
        }
    }
    sb_append(&j->out, "data: [DONE]\n\n");
}

// ----------------------------------------------------------------------------
// The generation worker: the only thread that runs the engine

static void emit_to_stream(const char *text, size_t len, void *user) {
    Job *j = user;
    if (!j->stream) return;
    char *piece = xstrndup(text, len);
    pthread_mutex_lock(&j->srv->mu);
    append_event_locked(j, chunk(j, piece, NULL));
    pthread_mutex_unlock(&j->srv->mu);
    free(piece);
}

static bool job_keep_going(void *user) {
    Job *j = user;
    pthread_mutex_lock(&j->srv->mu);
    bool go = !j->cancelled && !j->srv->stopping;
    pthread_mutex_unlock(&j->srv->mu);
    return go;
}

static void run_job(Server *s, Job *j) {
    if (j->stream && j->endpoint == EP_CHAT) { // a chat stream opens with the role
        cJSON *first = chunk(j, NULL, NULL);
        cJSON *delta = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(first, "choices"), 0), "delta");
        cJSON_AddStringToObject(delta, "role", "assistant");
        cJSON_AddStringToObject(delta, "content", "");
        pthread_mutex_lock(&s->mu);
        append_event_locked(j, first);
        pthread_mutex_unlock(&s->mu);
    }
    AwqcError err;
    GenResult r;
    bool ok = gen_run(&s->kv, s->m->tok, j->ids, j->n_ids, &j->params, &r, &err);
    pthread_mutex_lock(&s->mu);
    j->result = r;
    j->failed = !ok;
    if (!ok) snprintf(j->error, sizeof j->error, "generation failed: %.400s", err.msg);
    if (j->stream) append_stream_end_locked(j);
    j->done = true;
    pthread_cond_broadcast(&j->changed);
    job_release_locked(j);
    pthread_mutex_unlock(&s->mu);
}

static void *worker_main(void *arg) {
    Server *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->head && !s->stopping) pthread_cond_wait(&s->work, &s->mu);
        Job *j = s->head;
        if (!j) break; // stopping with an empty queue
        s->head = j->next;
        if (!s->head) s->tail = NULL;
        pthread_mutex_unlock(&s->mu);
        run_job(s, j); // a cancelled or stopping job ends at its first token
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

// Queues j; false when the server is stopping.
static bool enqueue(Server *s, Job *j) {
    pthread_mutex_lock(&s->mu);
    bool ok = !s->stopping;
    if (ok) {
        if (s->tail) s->tail->next = j;
        else s->head = j;
        s->tail = j;
        pthread_cond_signal(&s->work);
    }
    pthread_mutex_unlock(&s->mu);
    return ok;
}

// ----------------------------------------------------------------------------
// From a parsed request to a queued job

static int32_t *tokenize_request(const Server *s, const ApiRequest *r, int *n, ApiError *e) {
    int32_t *ids = NULL;
    if (r->endpoint == EP_CHAT) {
        AwqcError err;
        char *text = tok_apply_chat_template(s->m->tok, r->msgs, r->n_msgs, true, &err);
        if (!text) {
            api_fail(e, 500, NULL, "%s", err.msg);
            return NULL;
        }
        *n = (int)tok_encode(s->m->tok, text, strlen(text), false, true, &ids);
        free(text);
    } else {
        *n = (int)tok_encode(s->m->tok, r->prompt, strlen(r->prompt), tok_add_bos(s->m->tok), true, &ids);
    }
    if (*n == 0) api_fail(e, 400, r->endpoint == EP_CHAT ? "messages" : "prompt", "the prompt is empty");
    return ids;
}

// The prompt must leave room for max_tokens (or for one token when not given).
static bool check_length(const Server *s, const ApiRequest *r, int n, ApiError *e) {
    const char *param = r->endpoint == EP_CHAT ? "messages" : "prompt";
    int want = r->max_tokens > 0 ? r->max_tokens : 1;
    if ((int64_t)n + want <= s->n_ctx) return true;
    api_fail(e, 400, param,
             "this model's maximum context length is %d tokens; the request has %d prompt tokens and asks for %d "
             "completion tokens",
             s->n_ctx, n, r->max_tokens > 0 ? r->max_tokens : 1);
    e->code = "context_length_exceeded";
    return false;
}

// id: the job's number, taken under the server lock.
static void job_fill_params(Server *s, Job *j, const ApiRequest *r, unsigned long id) {
    j->params = (GenParams){.sampling = r->sampling, .emit = emit_to_stream, .keep_going = job_keep_going, .user = j};
    j->params.max_tokens = r->max_tokens > 0 ? r->max_tokens : s->n_ctx - j->n_ids;
    if (!r->seeded) j->params.sampling.seed = (uint64_t)time(NULL) * 1000003u + j->created + id;
    for (int i = 0; i < r->n_stop; i++) j->params.stop[i] = xstrdup(r->stop[i]);
    j->params.n_stop = r->n_stop;
}

static Job *job_new(Server *s, const ApiRequest *r, ApiError *e) {
    int n = 0;
    int32_t *ids = tokenize_request(s, r, &n, e);
    if (!ids || n == 0 || !check_length(s, r, n, e)) {
        free(ids);
        return NULL;
    }
    Job *j = xcalloc(1, sizeof *j);
    *j = (Job){.refs = 2, .endpoint = r->endpoint, .stream = r->stream, .include_usage = r->include_usage,
               .ids = ids, .n_ids = n, .created = (long)time(NULL), .srv = s};
    pthread_cond_init(&j->changed, NULL);
    pthread_mutex_lock(&s->mu);
    unsigned long id = ++s->next_id;
    pthread_mutex_unlock(&s->mu);
    snprintf(j->id, sizeof j->id, "%s-%lx%04lu", r->endpoint == EP_CHAT ? "chatcmpl" : "cmpl", (unsigned long)j->created,
             id);
    job_fill_params(s, j, r, id);
    return j;
}

// ----------------------------------------------------------------------------
// HTTP

typedef struct {
    StrBuf body;
    bool too_big;
} Upload;

static enum MHD_Result send_text(struct MHD_Connection *c, int status, char *text, const char *type) {
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(resp, "Content-Type", type);
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result send_json(struct MHD_Connection *c, int status, cJSON *root) {
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return send_text(c, status, text, "application/json");
}

static enum MHD_Result send_error(struct MHD_Connection *c, const ApiError *e) {
    return send_json(c, e->status, error_json(e));
}

static enum MHD_Result send_plain_error(struct MHD_Connection *c, int status, const char *msg) {
    ApiError e;
    api_fail(&e, status, NULL, "%s", msg);
    if (status == 404) e.type = "not_found_error";
    return send_error(c, &e);
}

static ssize_t read_stream(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    Job *j = cls;
    pthread_mutex_lock(&j->srv->mu);
    while (j->out_pos == j->out.n && !j->done) pthread_cond_wait(&j->changed, &j->srv->mu);
    size_t n = j->out.n - j->out_pos;
    if (n > max) n = max;
    memcpy(buf, j->out.s + j->out_pos, n);
    j->out_pos += n;
    if (j->out_pos == j->out.n) j->out_pos = j->out.n = 0; // all read: reuse the buffer
    pthread_mutex_unlock(&j->srv->mu);
    return n > 0 ? (ssize_t)n : MHD_CONTENT_READER_END_OF_STREAM;
}

// The connection is done with the stream (finished, or the client left).
static void stream_closed(void *cls) {
    Job *j = cls;
    Server *s = j->srv; // j may be gone after the release
    pthread_mutex_lock(&s->mu);
    j->cancelled = true;
    job_release_locked(j);
    pthread_mutex_unlock(&s->mu);
}

static enum MHD_Result respond_stream(struct MHD_Connection *c, Job *j) {
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, read_stream, j, stream_closed);
    MHD_add_response_header(resp, "Content-Type", "text/event-stream");
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result respond_whole(struct MHD_Connection *c, Job *j) {
    Server *s = j->srv;
    pthread_mutex_lock(&s->mu);
    while (!j->done) pthread_cond_wait(&j->changed, &s->mu);
    pthread_mutex_unlock(&s->mu);
    enum MHD_Result ret;
    if (j->failed) {
        ApiError e;
        api_fail(&e, 500, NULL, "%s", j->error);
        ret = send_error(c, &e);
    } else {
        ret = send_json(c, MHD_HTTP_OK, whole_response(j));
    }
    job_release(j);
    return ret;
}

static enum MHD_Result handle_completion(Server *s, struct MHD_Connection *c, int endpoint, const Upload *up) {
    if (up->too_big) {
        ApiError e;
        api_fail(&e, 413, NULL, "the request body is larger than %zu bytes", s->max_body);
        return send_error(c, &e);
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(up->body.s ? up->body.s : "", up->body.n, &end, false);
    ApiError e;
    if (!root) {
        size_t at = end && up->body.s ? (size_t)(end - up->body.s) : 0;
        api_fail(&e, 400, NULL, "malformed JSON in the request body at byte %zu", at);
        return send_error(c, &e);
    }
    ApiRequest r;
    Job *j = parse_request(root, endpoint, &r, &e) ? job_new(s, &r, &e) : NULL;
    request_free(&r);
    cJSON_Delete(root);
    if (!j) return send_error(c, &e);
    if (!enqueue(s, j)) {
        j->refs = 1;
        job_release(j);
        return send_plain_error(c, 503, "the server is shutting down");
    }
    return j->stream ? respond_stream(c, j) : respond_whole(c, j);
}

static cJSON *models_json(const Server *s) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "object", "list");
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "id", s->model_id);
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddNumberToObject(m, "created", 0);
    cJSON_AddStringToObject(m, "owned_by", "awqc");
    cJSON_AddItemToArray(cJSON_AddArrayToObject(root, "data"), m);
    return root;
}

static enum MHD_Result wrong_method(struct MHD_Connection *c, const char *method, const char *url, const char *allow) {
    ApiError e;
    api_fail(&e, 405, NULL, "method %s is not allowed on %s (use %s)", method, url, allow);
    cJSON *body = error_json(&e);
    char *text = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "Allow", allow);
    enum MHD_Result ret = MHD_queue_response(c, 405, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result route(Server *s, struct MHD_Connection *c, const char *url, const char *method,
                             const Upload *up) {
    bool get = !strcmp(method, "GET"), post = !strcmp(method, "POST");
    if (!strcmp(url, "/health")) return get ? send_text(c, 200, xstrdup("{\"status\":\"ok\"}"), "application/json")
                                            : wrong_method(c, method, url, "GET");
    if (!strcmp(url, "/v1/models"))
        return get ? send_json(c, 200, models_json(s)) : wrong_method(c, method, url, "GET");
    int endpoint = !strcmp(url, "/v1/chat/completions") ? EP_CHAT : !strcmp(url, "/v1/completions") ? EP_COMPLETION : 0;
    if (!endpoint) {
        char msg[256];
        snprintf(msg, sizeof msg, "unknown path %.200s", url);
        return send_plain_error(c, 404, msg);
    }
    return post ? handle_completion(s, c, endpoint, up) : wrong_method(c, method, url, "POST");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *data, size_t *data_size, void **con_cls) {
    (void)version;
    Server *s = cls;
    Upload *up = *con_cls;
    if (!up) { // headers only so far
        *con_cls = xcalloc(1, sizeof(Upload));
        return MHD_YES;
    }
    if (*data_size) {
        if (up->too_big || up->body.n + *data_size > s->max_body) up->too_big = true; // read on, keep nothing
        else sb_append_n(&up->body, data, *data_size);
        *data_size = 0;
        return MHD_YES;
    }
    return route(s, c, url, method, up);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode code) {
    (void)cls, (void)c, (void)code;
    Upload *up = *con_cls;
    if (!up) return;
    free(up->body.s);
    free(up);
    *con_cls = NULL;
}

// ----------------------------------------------------------------------------
// Start and stop

static struct MHD_Daemon *start_daemon(Server *s, const ServeOpts *o) {
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o->port)};
    if (inet_pton(AF_INET, o->host, &addr.sin_addr) != 1) die("serve: --host %s: not an IPv4 address", o->host);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG, (uint16_t)o->port, NULL,
        NULL, on_request, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, s, MHD_OPTION_CONNECTION_LIMIT, 64u, MHD_OPTION_CONNECTION_TIMEOUT, 300u, MHD_OPTION_END);
    if (!d) die("serve: cannot listen on %s:%d (port in use?)", o->host, o->port);
    return d;
}

static int bound_port(struct MHD_Daemon *d) {
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    return info ? info->port : -1;
}

// Blocks SIGINT/SIGTERM in every thread (the ones started later inherit the
// mask); the main thread then waits for them with sigwait.
static void block_stop_signals(sigset_t *set) {
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, set, NULL);
    signal(SIGPIPE, SIG_IGN); // a client that hangs up is no reason to die
}

static void stop_worker(Server *s) {
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    pthread_cond_broadcast(&s->work);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->worker, NULL); // queued jobs finish at once: keep_going says no
}

static char *default_model_id(const ServeOpts *o) {
    if (o->name) return xstrdup(o->name);
    char *path = o->common.model ? xstrdup(o->common.model) : awqc_default_model_path();
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/') path[--len] = '\0';
    const char *slash = strrchr(path, '/');
    char *id = xstrdup(slash ? slash + 1 : path);
    free(path);
    return id;
}

int cmd_serve(int argc, char **argv) {
    ServeOpts o;
    parse_serve_options(argc, argv, &o);
    Model *m = load_model_or_die(&o.common);
    if (!tok_chat_template(m->tok)) fprintf(stderr, "awqc: warning: no chat template: /v1/chat/completions fails\n");
    char *model_id = default_model_id(&o);
    Server s = {.m = m, .model_id = model_id, .n_ctx = default_ctx(&o.common, m), .max_body = o.max_body};
    Engine *e = new_engine_or_die(m, s.n_ctx, &o.common);
    kv_init(&s.kv, e);
    pthread_mutex_init(&s.mu, NULL);
    pthread_cond_init(&s.work, NULL);
    sigset_t stop;
    block_stop_signals(&stop);
    pthread_create(&s.worker, NULL, worker_main, &s);
    struct MHD_Daemon *d = start_daemon(&s, &o);
    fprintf(stderr, "awqc serve: %s on http://%s:%d (context %d tokens, engine %s)\n", model_id, o.host,
            bound_port(d), s.n_ctx, engine_name(e));
    int sig = 0;
    sigwait(&stop, &sig);
    fprintf(stderr, "awqc serve: %s: shutting down\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    stop_worker(&s);
    MHD_stop_daemon(d);
    kv_free(&s.kv);
    pthread_cond_destroy(&s.work);
    pthread_mutex_destroy(&s.mu);
    engine_free(e);
    free(model_id);
    free(o.name);
    free(o.common.model);
    model_free(m);
    return 0;
}

#endif
