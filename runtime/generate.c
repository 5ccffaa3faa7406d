// generate.c: the generation loop behind `awqc chat` and `awqc serve`: prompt
// processing that reuses the KV cache's common prefix, sampling until the end
// of generation, a limit, a stop string or a cancel, and streaming of the
// decoded text in complete UTF-8 characters.
#include "runtime/generate.h"

#include <stdlib.h>
#include <string.h>

// ----------------------------------------------------------------------------
// KV session

void kv_init(KvSession *kv, Engine *e) { *kv = (KvSession){.engine = e}; }

void kv_free(KvSession *kv) {
    free(kv->ids);
    *kv = (KvSession){0};
}

void kv_clear(KvSession *kv) {
    engine_reset(kv->engine);
    kv->n = 0;
}

static size_t common_prefix(const int32_t *a, size_t na, const int32_t *b, size_t nb) {
    size_t i = 0;
    while (i < na && i < nb && a[i] == b[i]) i++;
    return i;
}

static void kv_remember(KvSession *kv, const int32_t *ids, size_t n) {
    GROW(kv->ids, kv->cap, kv->n + n);
    memcpy(kv->ids + kv->n, ids, n * sizeof *ids);
    kv->n += n;
}

const float *kv_feed_prompt(KvSession *kv, const int32_t *ids, int n, int *n_reused, AwqcError *err) {
    AWQC_ASSERT(n > 0 && kv->n == (size_t)engine_pos(kv->engine));
    size_t keep = common_prefix(kv->ids, kv->n, ids, (size_t)n);
    if (keep == (size_t)n) keep--; // the last token must run: its logits pick the next one
    engine_rewind(kv->engine, (int)keep);
    kv->n = keep;
    if (n_reused) *n_reused = (int)keep;
    const float *logits = engine_forward(kv->engine, ids + keep, n - (int)keep, false, err);
    if (!logits) {
        kv_clear(kv);
        return NULL;
    }
    kv_remember(kv, ids + keep, (size_t)n - keep);
    return logits;
}

const float *kv_feed_token(KvSession *kv, int32_t id, AwqcError *err) {
    const float *logits = engine_forward(kv->engine, &id, 1, false, err);
    if (!logits) {
        kv_clear(kv);
        return NULL;
    }
    kv_remember(kv, &id, 1);
    return logits;
}

// ----------------------------------------------------------------------------
// Stop strings and UTF-8 boundaries

size_t gen_stop_holdback(const char *text, size_t len, const char *const *stop, int n_stop) {
    size_t best = 0;
    for (int i = 0; i < n_stop; i++) {
        size_t sl = strlen(stop[i]);
        for (size_t k = sl > 0 ? sl - 1 : 0; k > best; k--) {
            if (k <= len && memcmp(text + len - k, stop[i], k) == 0) {
                best = k;
                break;
            }
        }
    }
    return best;
}

// Bytes a UTF-8 sequence starting with lead byte c has (1 for stray bytes).
static size_t utf8_seq_len(unsigned char c) {
    if (c >= 0xf0 && c < 0xf8) return 4;
    if (c >= 0xe0) return c < 0xf0 ? 3 : 1;
    if (c >= 0xc0) return 2;
    return 1;
}

size_t gen_utf8_complete(const char *s, size_t len) {
    // Look back at most 3 bytes for the lead byte of the last sequence.
    for (size_t back = 1; back <= 4 && back <= len; back++) {
        unsigned char c = (unsigned char)s[len - back];
        if ((c & 0xc0) == 0x80) continue; // a continuation byte
        return utf8_seq_len(c) > back ? len - back : len;
    }
    return len;
}

// Where the earliest stop string starts in text[from, len), or len.
static size_t find_stop(const char *text, size_t from, size_t len, const char *const *stop, int n_stop) {
    size_t best = len;
    for (int i = 0; i < n_stop; i++) {
        size_t sl = strlen(stop[i]);
        for (size_t at = from; sl > 0 && at + sl <= len && at < best; at++) {
            if (memcmp(text + at, stop[i], sl) == 0) {
                best = at;
                break;
            }
        }
    }
    return best;
}

// ----------------------------------------------------------------------------
// Text streaming

typedef struct {
    StrBuf text;    // everything decoded so far (cut at a stop string)
    size_t emitted; // bytes of text already handed out
    const GenParams *p;
} TextStream;

static void stream_emit_to(TextStream *ts, size_t end) {
    if (end > ts->emitted && ts->p->emit) ts->p->emit(ts->text.s + ts->emitted, end - ts->emitted, ts->p->user);
    if (end > ts->emitted) ts->emitted = end;
}

// Adds a token's bytes; true when a stop string appeared (text cut before it).
static bool stream_push(TextStream *ts, const char *bytes, size_t n) {
    sb_append_n(&ts->text, bytes, n);
    const GenParams *p = ts->p;
    size_t len = ts->text.n;
    size_t at = find_stop(ts->text.s, ts->emitted, len, p->stop, p->n_stop);
    if (at < len) {
        ts->text.n = at;
        ts->text.s[at] = '\0';
        stream_emit_to(ts, at);
        return true;
    }
    size_t safe = len - gen_stop_holdback(ts->text.s, len, p->stop, p->n_stop);
    if (safe > ts->emitted) safe = ts->emitted + gen_utf8_complete(ts->text.s + ts->emitted, safe - ts->emitted);
    stream_emit_to(ts, safe);
    return false;
}

// ----------------------------------------------------------------------------
// The loop

// Samples and feeds tokens until something ends the answer.
static GenEnd generate_tokens(KvSession *kv, const Tokenizer *tok, const float *logits, const GenParams *p,
                              TextStream *ts, int *n_gen, AwqcError *err) {
    Sampler *s = sampler_new(p->sampling, engine_vocab(kv->engine));
    GenEnd end;
    for (;;) {
        if (p->max_tokens >= 0 && *n_gen >= p->max_tokens) { end = GEN_END_LENGTH; break; }
        if (p->keep_going && !p->keep_going(p->user)) { end = GEN_END_CANCELLED; break; }
        int32_t next = sampler_sample(s, logits);
        if (tok_is_eog(tok, next)) { end = GEN_END_EOG; break; }
        (*n_gen)++;
        if (p->on_token) p->on_token(next, p->user);
        char buf[512];
        size_t nb = tok_decode(tok, next, buf, sizeof buf);
        if (stream_push(ts, buf, nb)) { end = GEN_END_STOP; break; }
        if (engine_pos(kv->engine) >= engine_n_ctx(kv->engine)) { end = GEN_END_CTX_FULL; break; }
        logits = kv_feed_token(kv, next, err);
        if (!logits) { end = GEN_END_ERROR; break; }
    }
    sampler_free(s);
    return end;
}

bool gen_run(KvSession *kv, const Tokenizer *tok, const int32_t *prompt, int n_prompt, const GenParams *p,
             GenResult *r, AwqcError *err) {
    *r = (GenResult){.n_prompt = n_prompt};
    TextStream ts = {.p = p};
    double t0 = awqc_now();
    const float *logits = kv_feed_prompt(kv, prompt, n_prompt, &r->n_reused, err);
    double t1 = awqc_now();
    r->t_prompt = t1 - t0;
    r->end = logits ? generate_tokens(kv, tok, logits, p, &ts, &r->n_gen, err) : GEN_END_ERROR;
    if (r->end != GEN_END_STOP) stream_emit_to(&ts, ts.text.n); // what was held back is final now
    r->t_gen = awqc_now() - t1;
    r->text = sb_finish(&ts.text);
    return r->end != GEN_END_ERROR;
}

const char *gen_end_name(GenEnd end) {
    switch (end) {
    case GEN_END_EOG: return "eog";
    case GEN_END_LENGTH: return "length";
    case GEN_END_STOP: return "stop";
    case GEN_END_CTX_FULL: return "context full";
    case GEN_END_CANCELLED: return "cancelled";
    case GEN_END_ERROR: return "error";
    }
    return "?";
}
