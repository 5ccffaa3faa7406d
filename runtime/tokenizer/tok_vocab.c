// tok_vocab.c: turns the vocabulary a loader read (pieces, types, merges,
// bos/eos) into the tables encoding and decoding use: the piece index, byte
// tokens, each token's decoded bytes, the special tokens matched in text, and
// the end-of-generation set. Loaders differ; everything after is shared here.
#include "runtime/tokenizer/tok_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ----------------------------------------------------------------------------
// Filling the vocabulary

Tokenizer *tok_new_empty(void) {
    Tokenizer *t = xcalloc(1, sizeof(*t));
    t->bos = t->eos = t->unk = -1;
    for (int b = 0; b < 256; b++) t->byte_ids[b] = -1;
    return t;
}

void tok_alloc_vocab(Tokenizer *t, int32_t n) {
    AWQC_ASSERT(n > 0 && t->pieces == NULL);
    t->n_vocab = n;
    t->pieces = xcalloc((size_t)n, sizeof(*t->pieces));
    t->piece_lens = xcalloc((size_t)n, sizeof(*t->piece_lens));
    t->types = xmalloc((size_t)n);
    memset(t->types, TT_NORMAL, (size_t)n);
}

void tok_set_piece(Tokenizer *t, int32_t id, const char *text, size_t len) {
    AWQC_ASSERT(id >= 0 && id < t->n_vocab);
    free(t->pieces[id]);
    t->pieces[id] = xstrndup(text, len);
    t->piece_lens[id] = (uint32_t)len;
}

void tok_index_pieces(Tokenizer *t) {
    strmap_free(&t->piece_ids);
    strmap_init(&t->piece_ids, (size_t)t->n_vocab);
    for (int32_t i = 0; i < t->n_vocab; i++)
        if (t->pieces[i]) strmap_put(&t->piece_ids, t->pieces[i], t->piece_lens[i], i);
}

bool tok_add_merge(Tokenizer *t, const char *left, size_t left_len, const char *right, size_t right_len,
                   int32_t rank) {
    if (t->merges.cap == 0) pairmap_init(&t->merges, 1024);
    int32_t a = strmap_get(&t->piece_ids, left, (uint32_t)left_len);
    int32_t b = strmap_get(&t->piece_ids, right, (uint32_t)right_len);
    if (a < 0 || b < 0) return false;
    char *both = xmalloc(left_len + right_len);
    memcpy(both, left, left_len);
    memcpy(both + left_len, right, right_len);
    int32_t merged = strmap_get(&t->piece_ids, both, (uint32_t)(left_len + right_len));
    free(both);
    if (merged < 0) return false;
    pairmap_put(&t->merges, a, b, rank, merged);
    return true;
}

// ----------------------------------------------------------------------------
// Byte tokens and decoded forms

static void find_byte_tokens(Tokenizer *t) {
    for (int b = 0; b < 256; b++) {
        char name[8];
        uint32_t len;
        if (t->kind == TOK_BYTE_BPE) {
            uint32_t cp = bytelevel_char_of((uint8_t)b);
            len = cp < 0x80 ? 1 : 2;
            name[0] = (char)(cp < 0x80 ? cp : 0xc0 | (cp >> 6));
            name[1] = (char)(0x80 | (cp & 0x3f));
        } else {
            len = (uint32_t)snprintf(name, sizeof(name), "<0x%02X>", b);
        }
        t->byte_ids[b] = strmap_get(&t->piece_ids, name, len);
        // tokenizer.json (and GGUFs without token_type) do not mark byte tokens.
        if (t->kind == TOK_SPM_BPE && t->byte_ids[b] >= 0 && t->types[t->byte_ids[b]] == TT_NORMAL)
            t->types[t->byte_ids[b]] = TT_BYTE;
    }
}

// Parses "<0xAB>"; -1 when the piece is not a byte token's name.
static int byte_token_value(const char *s, uint32_t len) {
    if (len != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>') return -1;
    int v = 0;
    for (int i = 3; i < 5; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

// SentencePiece spelling: U+2581 is a space; byte tokens are their byte.
static char *spm_decoded(const Tokenizer *t, int32_t id, uint32_t *out_len) {
    const char *s = t->pieces[id];
    uint32_t len = t->piece_lens[id];
    int byte = t->types[id] == TT_BYTE ? byte_token_value(s, len) : -1;
    char *out = xmalloc(len + 1);
    uint32_t n = 0;
    if (byte >= 0) {
        out[n++] = (char)byte;
    } else {
        for (uint32_t i = 0; i < len; i++) {
            bool space = i + 2 < len && memcmp(s + i, "\xe2\x96\x81", 3) == 0;
            out[n++] = space ? ' ' : s[i];
            if (space) i += 2;
        }
    }
    *out_len = n;
    return out;
}

static char *bytelevel_decoded(const Tokenizer *t, int32_t id, uint32_t *out_len) {
    const char *s = t->pieces[id];
    uint32_t len = t->piece_lens[id];
    char *out = xmalloc(len + 1);
    size_t n;
    if (!bytelevel_decode(s, len, out, &n)) { // added tokens are spelled as plain text
        memcpy(out, s, len);
        n = len;
    }
    *out_len = (uint32_t)n;
    return out;
}

static void build_decoded(Tokenizer *t) {
    t->decoded = xcalloc((size_t)t->n_vocab, sizeof(*t->decoded));
    t->decoded_lens = xcalloc((size_t)t->n_vocab, sizeof(*t->decoded_lens));
    for (int32_t i = 0; i < t->n_vocab; i++) {
        if (!t->pieces[i]) continue;
        t->decoded[i] = t->kind == TOK_BYTE_BPE ? bytelevel_decoded(t, i, &t->decoded_lens[i])
                                                : spm_decoded(t, i, &t->decoded_lens[i]);
    }
}

// ----------------------------------------------------------------------------
// Special tokens and end of generation

static int special_longer_first(const void *a, const void *b) {
    const SpecialTok *x = a, *y = b;
    if (x->len != y->len) return x->len > y->len ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

bool tok_is_special(const Tokenizer *t, int32_t i) {
    return (t->types[i] == TT_CONTROL || t->types[i] == TT_USER) && t->decoded_lens[i] > 0;
}

// Counted first so the table is allocated once, not grown per token.
static void collect_specials(Tokenizer *t) {
    size_t n = 0;
    for (int32_t i = 0; i < t->n_vocab; i++) n += tok_is_special(t, i);
    if (n == 0) return;
    t->specials = xmalloc(n * sizeof(*t->specials));
    for (int32_t i = 0; i < t->n_vocab; i++) {
        if (!tok_is_special(t, i)) continue;
        t->specials[t->n_specials++] =
            (SpecialTok){t->decoded[i], t->decoded_lens[i], i, t->types[i] == TT_CONTROL};
        t->special_first[(uint8_t)t->decoded[i][0]] = 1;
    }
    qsort(t->specials, t->n_specials, sizeof(*t->specials), special_longer_first);
}

static const char *const EOG_NAMES[] = {"<|im_end|>", "<|eot_id|>", "<|end_of_text|>", "<|endoftext|>", "</s>",
                                        "<|end|>", "<end_of_turn>"};

static void mark_eog(Tokenizer *t) {
    t->eog = xcalloc((size_t)t->n_vocab, sizeof(bool));
    if (t->eos >= 0) t->eog[t->eos] = true;
    for (size_t i = 0; i < sizeof(EOG_NAMES) / sizeof(EOG_NAMES[0]); i++) {
        int32_t id = strmap_get(&t->piece_ids, EOG_NAMES[i], (uint32_t)strlen(EOG_NAMES[i]));
        if (id >= 0 && t->types[id] != TT_NORMAL) t->eog[id] = true;
    }
}

// ----------------------------------------------------------------------------
// Finishing

static int32_t checked_id(int32_t id, int32_t n) { return id >= 0 && id < n ? id : -1; }

bool tok_finish(Tokenizer *t, const char *where, AwqcError *err) {
    if (t->n_vocab <= 0) return awqc_fail(err, "%s: empty vocabulary", where);
    tok_index_pieces(t);
    t->bos = checked_id(t->bos, t->n_vocab);
    t->eos = checked_id(t->eos, t->n_vocab);
    t->unk = checked_id(t->unk, t->n_vocab);
    find_byte_tokens(t); // SmolLM2 lacks a few control bytes: encoding drops them, as HF does
    build_decoded(t);
    collect_specials(t);
    mark_eog(t);
    return true;
}
