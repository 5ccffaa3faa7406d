// tokenizer.c: the public tokenizer API. Encoding first cuts the text at
// special tokens (longest match first), then hands each stretch of plain text
// to the kind's encoder: regex pre-tokens + byte-level BPE, or SentencePiece
// BPE with byte fallback. Decoding looks up each token's precomputed bytes.
#include "runtime/tokenizer/tok_internal.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

// ----------------------------------------------------------------------------
// Construction

Tokenizer *tok_from_checkpoint(const Checkpoint *c, AwqcError *err) {
    if (ckpt_format(c) == CKPT_GGUF) return tok_from_gguf(c, err);
    char *path = awqc_asprintf("%s/tokenizer.json", ckpt_dir(c));
    Tokenizer *t = tok_from_hf_json(path, err);
    free(path);
    return t;
}

static void free_string_array(char **a, int32_t n) {
    if (!a) return;
    for (int32_t i = 0; i < n; i++) free(a[i]);
    free(a);
}

void tok_free(Tokenizer *t) {
    if (!t) return;
    free_string_array(t->pieces, t->n_vocab);
    free_string_array(t->decoded, t->n_vocab);
    free(t->piece_lens);
    free(t->decoded_lens);
    free(t->types);
    free(t->scores);
    strmap_free(&t->piece_ids);
    pairmap_free(&t->merges);
    pretok_free(t->pretok);
    free(t->specials);
    free(t->eog);
    free(t->chat_template);
    free(t);
}

// ----------------------------------------------------------------------------
// Properties

TokenizerKind tok_kind(const Tokenizer *t) { return t->kind; }
int32_t tok_vocab_size(const Tokenizer *t) { return t->n_vocab; }
int32_t tok_bos(const Tokenizer *t) { return t->bos; }
int32_t tok_eos(const Tokenizer *t) { return t->eos; }
bool tok_add_bos(const Tokenizer *t) { return t->add_bos && t->bos >= 0; }

bool tok_is_eog(const Tokenizer *t, int32_t id) { return id >= 0 && id < t->n_vocab && t->eog[id]; }

const char *tok_chat_template(const Tokenizer *t) { return t->chat_template; }

int32_t tok_find(const Tokenizer *t, const char *piece) {
    return strmap_get(&t->piece_ids, piece, (uint32_t)strlen(piece));
}

// ----------------------------------------------------------------------------
// Encoding

typedef struct {
    const Tokenizer *t;
    BpeWork *work;
    IdBuf *out;
} EncodeCtx;

static void encode_pretoken(void *ctx, const char *piece, size_t len) {
    EncodeCtx *e = ctx;
    bpe_encode_bytes(e->t, e->work, piece, len, e->out);
}

// NFC-composes text when the tokenizer asks for it; NULL when nothing
// changes or the text is not valid UTF-8 (then it is tokenized as is).
static char *normalized(const Tokenizer *t, const char *text, size_t len, size_t *out_len) {
    if (!t->nfc) return NULL;
    utf8proc_uint8_t *out = NULL;
    utf8proc_ssize_t n = utf8proc_map((const utf8proc_uint8_t *)text, (utf8proc_ssize_t)len, &out,
                                      UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    if (n < 0) return NULL;
    *out_len = (size_t)n;
    return (char *)out;
}

static void encode_plain(EncodeCtx *e, const char *text, size_t len, bool text_start) {
    if (len == 0) return;
    const Tokenizer *t = e->t;
    size_t norm_len;
    char *norm = normalized(t, text, len, &norm_len);
    if (norm) text = norm, len = norm_len;
    if (t->kind == TOK_BYTE_BPE) {
        pretok_split(t->pretok, text, len, encode_pretoken, e);
    } else {
        bool prefix = t->add_space_prefix && (text_start || !t->spm_prefix_first_only);
        bpe_encode_spm(t, e->work, text, len, prefix, e->out);
    }
    free(norm);
}

// The longest special token at text (NULL if none).
static const SpecialTok *special_at(const Tokenizer *t, const char *text, size_t len, bool parse_special) {
    if (!t->special_first[(uint8_t)text[0]]) return NULL;
    for (size_t i = 0; i < t->n_specials; i++) {
        const SpecialTok *s = &t->specials[i];
        if (s->control && !parse_special) continue;
        if (s->len <= len && memcmp(text, s->text, s->len) == 0) return s;
    }
    return NULL;
}

size_t tok_encode(const Tokenizer *t, const char *text, size_t len, bool add_bos, bool parse_special,
                  int32_t **ids) {
    IdBuf out = {0};
    if (add_bos && t->bos >= 0) idbuf_push(&out, t->bos);
    EncodeCtx e = {t, bpe_work_new(), &out};
    size_t plain_start = 0;
    for (size_t i = 0; i < len;) {
        const SpecialTok *s = special_at(t, text + i, len - i, parse_special);
        if (!s) {
            i++;
            continue;
        }
        encode_plain(&e, text + plain_start, i - plain_start, plain_start == 0);
        idbuf_push(&out, s->id);
        i += s->len;
        plain_start = i;
    }
    encode_plain(&e, text + plain_start, len - plain_start, plain_start == 0);
    bpe_work_free(e.work);
    if (!out.ids) out.ids = xmalloc(sizeof(int32_t)); // callers free() even an empty result
    *ids = out.ids;
    return out.n;
}

int32_t *tok_encode_file(const Tokenizer *t, const char *path, size_t *n_ids, size_t *bytes, AwqcError *err) {
    size_t len;
    char *text = awqc_read_file(path, &len, err);
    if (!text) return NULL;
    int32_t *ids;
    *n_ids = tok_encode(t, text, len, false, false, &ids);
    free(text);
    if (bytes) *bytes = len;
    return ids;
}

// ----------------------------------------------------------------------------
// Decoding

size_t tok_decode(const Tokenizer *t, int32_t id, char *buf, size_t cap) {
    if (id < 0 || id >= t->n_vocab || !t->decoded[id]) return 0;
    size_t n = t->decoded_lens[id];
    if (n > cap) n = cap;
    memcpy(buf, t->decoded[id], n);
    return n;
}
