// tok_pretok.c: regex pre-tokenization for byte-level BPE. Text is cut into
// pieces (words, numbers, punctuation runs, whitespace) that BPE then encodes
// one at a time; merges never cross a piece boundary. Several patterns run as
// a cascade, like tokenizers' Sequence of Split pre-tokenizers.
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "runtime/tokenizer/tok_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ----------------------------------------------------------------------------
// Patterns

const char TOK_REGEX_GPT2[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

static const char TOK_REGEX_LLAMA3[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}"
    "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

static const char TOK_REGEX_QWEN2[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}"
    "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

// Every digit on its own (StarCoder-family vocabularies learned no digit merges).
const char TOK_REGEX_DIGIT[] = "\\p{N}";

typedef struct {
    const char *name; // tokenizer.ggml.pre
    const char *first;
    const char *second; // NULL when one pattern does it
} PreScheme;

// SmolLM2's tokenizer.json runs Digits(individual) before ByteLevel, hence
// "smollm" is the digit split followed by GPT-2's.
static const PreScheme PRE_SCHEMES[] = {
    {"default", TOK_REGEX_GPT2, NULL},
    {"gpt2", TOK_REGEX_GPT2, NULL},
    {"gpt-2", TOK_REGEX_GPT2, NULL},
    {"smollm", TOK_REGEX_DIGIT, TOK_REGEX_GPT2},
    {"starcoder", TOK_REGEX_DIGIT, TOK_REGEX_GPT2},
    {"refact", TOK_REGEX_DIGIT, TOK_REGEX_GPT2},
    {"codeshell", TOK_REGEX_DIGIT, TOK_REGEX_GPT2},
    {"llama3", TOK_REGEX_LLAMA3, NULL},
    {"llama-bpe", TOK_REGEX_LLAMA3, NULL},
    {"llama-v3", TOK_REGEX_LLAMA3, NULL},
    {"smaug-bpe", TOK_REGEX_LLAMA3, NULL},
    {"dbrx", TOK_REGEX_LLAMA3, NULL},
    {"falcon3", TOK_REGEX_LLAMA3, NULL},
    {"qwen2", TOK_REGEX_QWEN2, NULL},
    {"deepseek-r1-qwen", TOK_REGEX_QWEN2, NULL},
};

int pretok_patterns_for(const char *pre_name, const char **patterns) {
    for (size_t i = 0; i < sizeof(PRE_SCHEMES) / sizeof(PRE_SCHEMES[0]); i++) {
        if (strcmp(PRE_SCHEMES[i].name, pre_name) != 0) continue;
        patterns[0] = PRE_SCHEMES[i].first;
        patterns[1] = PRE_SCHEMES[i].second;
        return PRE_SCHEMES[i].second ? 2 : 1;
    }
    fprintf(stderr, "awqc: warning: unknown pre-tokenizer '%s'; using GPT-2's\n", pre_name);
    patterns[0] = TOK_REGEX_GPT2;
    return 1;
}

// ----------------------------------------------------------------------------
// Compiling

struct PreTokenizer {
    int n;
    pcre2_code *codes[TOK_MAX_PATTERNS];
    char *patterns[TOK_MAX_PATTERNS]; // the source text, for writing tokenizer.json back out
};

static pcre2_code *compile_pattern(const char *pattern, AwqcError *err) {
    int code;
    PCRE2_SIZE at;
    // MATCH_INVALID_UTF: user text may be broken UTF-8; bad bytes then match
    // nothing and become pieces of their own instead of failing the match.
    uint32_t opts = PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, opts, &code, &at, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof(msg));
        awqc_fail(err, "pre-tokenizer regex at offset %zu: %s: %s", (size_t)at, (const char *)msg, pattern);
        return NULL;
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); // optional: the interpreter is the fallback
    return re;
}

PreTokenizer *pretok_new(const char *const *patterns, int n, AwqcError *err) {
    AWQC_ASSERT(n >= 0 && n <= TOK_MAX_PATTERNS);
    PreTokenizer *p = xcalloc(1, sizeof(*p));
    for (int i = 0; i < n; i++) {
        p->codes[i] = compile_pattern(patterns[i], err);
        if (!p->codes[i]) {
            pretok_free(p);
            return NULL;
        }
        p->patterns[i] = xstrdup(patterns[i]);
        p->n = i + 1;
    }
    return p;
}

void pretok_free(PreTokenizer *p) {
    if (!p) return;
    for (int i = 0; i < p->n; i++) {
        pcre2_code_free(p->codes[i]);
        free(p->patterns[i]);
    }
    free(p);
}

int pretok_patterns(const PreTokenizer *p, const char **patterns) {
    for (int i = 0; i < p->n; i++) patterns[i] = p->patterns[i];
    return p->n;
}

// ----------------------------------------------------------------------------
// Splitting

typedef struct {
    const PreTokenizer *p;
    pcre2_match_data *md;
    PieceFn fn;
    void *ctx;
} SplitState;

static void split_level(SplitState *s, int level, const char *text, size_t len);

// Hands a piece to the next pattern, or to the caller after the last one.
static void emit_piece(SplitState *s, int level, const char *text, size_t len) {
    if (len == 0) return;
    if (level + 1 < s->p->n)
        split_level(s, level + 1, text, len);
    else
        s->fn(s->ctx, text, len);
}

static void split_level(SplitState *s, int level, const char *text, size_t len) {
    pcre2_code *re = s->p->codes[level];
    size_t pos = 0, piece_start = 0;
    while (pos < len) {
        int rc = pcre2_match(re, (PCRE2_SPTR)text, len, pos, 0, s->md, NULL);
        if (rc < 0) break; // no more matches (or a resource limit): the rest is one piece
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(s->md);
        size_t m_start = ov[0], m_end = ov[1];
        if (m_end <= m_start) { // cannot happen with our patterns; never loop forever
            pos = m_start + 1;
            continue;
        }
        emit_piece(s, level, text + piece_start, m_start - piece_start);
        emit_piece(s, level, text + m_start, m_end - m_start);
        pos = piece_start = m_end;
    }
    emit_piece(s, level, text + piece_start, len - piece_start);
}

void pretok_split(const PreTokenizer *p, const char *text, size_t len, PieceFn fn, void *ctx) {
    if (p->n == 0) {
        if (len) fn(ctx, text, len);
        return;
    }
    SplitState s = {p, pcre2_match_data_create(1, NULL), fn, ctx};
    AWQC_ASSERT(s.md != NULL);
    split_level(&s, 0, text, len);
    pcre2_match_data_free(s.md);
}
