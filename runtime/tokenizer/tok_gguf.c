// tok_gguf.c: builds a tokenizer from GGUF metadata (tokenizer.ggml.*):
// "gpt2" vocabularies with merges and a named pre-tokenizer, and "llama"
// (SentencePiece) vocabularies with scores. Every array is checked against
// the token count; errors name the file and the key.
#include "runtime/tokenizer/tok_internal.h"

#include <stdlib.h>
#include <string.h>

// ----------------------------------------------------------------------------
// Metadata helpers

static int32_t meta_id(const Checkpoint *c, const char *key) {
    int64_t v;
    return ckpt_meta_int(c, key, &v) && v >= 0 && v <= INT32_MAX ? (int32_t)v : -1;
}

static bool meta_bool(const Checkpoint *c, const char *key, bool fallback) {
    int64_t v;
    return ckpt_meta_int(c, key, &v) ? v != 0 : fallback;
}

// The array under key, of elem_kind, with n elements (any length when n < 0).
static bool meta_array_of(const Checkpoint *c, const char *key, MetaKind elem_kind, long n, MetaArray *a,
                          AwqcError *err) {
    if (!ckpt_meta_array(c, key, a))
        return awqc_fail(err, "%s: metadata key %s is missing or not an array", ckpt_path(c), key);
    if (a->elem_kind != elem_kind)
        return awqc_fail(err, "%s: metadata key %s has elements of the wrong type", ckpt_path(c), key);
    if (n >= 0 && a->len != (size_t)n)
        return awqc_fail(err, "%s: metadata key %s has %zu entries for %ld tokens", ckpt_path(c), key, a->len, n);
    return true;
}

// ----------------------------------------------------------------------------
// Vocabulary

static bool read_tokens(Tokenizer *t, const Checkpoint *c, AwqcError *err) {
    MetaArray tokens, types;
    if (!meta_array_of(c, "tokenizer.ggml.tokens", META_STRING, -1, &tokens, err)) return false;
    if (tokens.len == 0 || tokens.len > INT32_MAX)
        return awqc_fail(err, "%s: tokenizer.ggml.tokens has %zu entries", ckpt_path(c), tokens.len);
    tok_alloc_vocab(t, (int32_t)tokens.len);
    for (int32_t i = 0; i < t->n_vocab; i++) tok_set_piece(t, i, tokens.strs[i], strlen(tokens.strs[i]));
    if (ckpt_meta_kind(c, "tokenizer.ggml.token_type") == META_NONE) return true;
    if (!meta_array_of(c, "tokenizer.ggml.token_type", META_INT, t->n_vocab, &types, err)) return false;
    for (int32_t i = 0; i < t->n_vocab; i++) {
        int64_t ty = types.ints[i];
        t->types[i] = ty >= TT_NORMAL && ty <= TT_BYTE ? (uint8_t)ty : TT_NORMAL;
    }
    return true;
}

static bool read_scores(Tokenizer *t, const Checkpoint *c, AwqcError *err) {
    MetaArray scores;
    if (!meta_array_of(c, "tokenizer.ggml.scores", META_FLOAT, t->n_vocab, &scores, err)) return false;
    t->scores = xmalloc((size_t)t->n_vocab * sizeof(float));
    for (int32_t i = 0; i < t->n_vocab; i++) t->scores[i] = (float)scores.floats[i];
    return true;
}

// Merges are "left right"; byte-level spellings never hold a real space.
static bool read_merges(Tokenizer *t, const Checkpoint *c, AwqcError *err) {
    MetaArray merges;
    if (!meta_array_of(c, "tokenizer.ggml.merges", META_STRING, -1, &merges, err)) return false;
    tok_index_pieces(t);
    pairmap_init(&t->merges, merges.len);
    for (size_t i = 0; i < merges.len; i++) {
        const char *m = merges.strs[i];
        size_t len = strlen(m);
        const char *space = len > 1 ? memchr(m + 1, ' ', len - 1) : NULL;
        if (!space)
            return awqc_fail(err, "%s: tokenizer.ggml.merges[%zu] is not \"left right\": '%s'", ckpt_path(c), i, m);
        size_t left = (size_t)(space - m);
        tok_add_merge(t, m, left, space + 1, len - left - 1, (int32_t)i); // unknown sides are ignored
    }
    return true;
}

// ----------------------------------------------------------------------------
// The two kinds

static bool setup_byte_level(Tokenizer *t, const Checkpoint *c, AwqcError *err) {
    t->kind = TOK_BYTE_BPE;
    if (!read_merges(t, c, err)) return false;
    const char *pre = "default";
    ckpt_meta_string(c, "tokenizer.ggml.pre", &pre);
    const char *patterns[TOK_MAX_PATTERNS];
    int n = pretok_patterns_for(pre, patterns);
    // Llama 3's vocabulary holds whole words its merges would not rebuild.
    t->ignore_merges = strcmp(pre, "llama3") == 0 || strcmp(pre, "llama-bpe") == 0 || strcmp(pre, "llama-v3") == 0;
    t->pretok = pretok_new(patterns, n, err);
    t->add_bos = meta_bool(c, "tokenizer.ggml.add_bos_token", false);
    return t->pretok != NULL;
}

static bool setup_sentencepiece(Tokenizer *t, const Checkpoint *c, AwqcError *err) {
    t->kind = TOK_SPM_BPE;
    if (!read_scores(t, c, err)) return false;
    t->use_scores = true;
    t->add_space_prefix = meta_bool(c, "tokenizer.ggml.add_space_prefix", true);
    t->add_bos = meta_bool(c, "tokenizer.ggml.add_bos_token", true);
    return true;
}

Tokenizer *tok_from_gguf(const Checkpoint *c, AwqcError *err) {
    const char *model;
    if (!ckpt_meta_string(c, "tokenizer.ggml.model", &model)) {
        awqc_fail(err, "%s: no tokenizer (metadata key tokenizer.ggml.model is missing)", ckpt_path(c));
        return NULL;
    }
    bool byte_level = strcmp(model, "gpt2") == 0;
    if (!byte_level && strcmp(model, "llama") != 0) {
        awqc_fail(err, "%s: tokenizer.ggml.model '%s' is not supported (gpt2 or llama)", ckpt_path(c), model);
        return NULL;
    }
    Tokenizer *t = tok_new_empty();
    bool ok = read_tokens(t, c, err) &&
              (byte_level ? setup_byte_level(t, c, err) : setup_sentencepiece(t, c, err));
    if (ok) {
        t->bos = meta_id(c, "tokenizer.ggml.bos_token_id");
        t->eos = meta_id(c, "tokenizer.ggml.eos_token_id");
        t->unk = meta_id(c, "tokenizer.ggml.unknown_token_id");
        const char *tmpl;
        if (ckpt_meta_string(c, "tokenizer.chat_template", &tmpl)) t->chat_template = xstrdup(tmpl);
        ok = tok_finish(t, ckpt_path(c), err);
    }
    if (!ok) {
        tok_free(t);
        return NULL;
    }
    return t;
}
