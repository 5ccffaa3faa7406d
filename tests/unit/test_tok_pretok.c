// test_tok_pretok.c: the regex pre-tokenizers behind GGUF's tokenizer.ggml.pre
// names (gpt2, smollm, llama3, qwen2) cut text exactly where Hugging Face
// tokenizers does (piece lengths from tests/fixtures/tokenizer/pretok.json),
// including on malformed UTF-8, which must neither fail nor lose bytes.
#include "runtime/tokenizer/tok_internal.h"
#include "test_tok_fixture.h"

// ----------------------------------------------------------------------------
// Collecting pieces

typedef struct {
    const char *base;
    size_t next; // where the next piece must start: pieces tile the text
    bool contiguous;
    int32_t lens[4096];
    size_t n;
} Pieces;

static void collect_piece(void *ctx, const char *piece, size_t len) {
    Pieces *p = ctx;
    if ((size_t)(piece - p->base) != p->next) p->contiguous = false;
    p->next += len;
    if (p->n < sizeof(p->lens) / sizeof(p->lens[0])) p->lens[p->n++] = (int32_t)len;
}

static PreTokenizer *pretok_named(const char *name) {
    const char *patterns[TOK_MAX_PATTERNS];
    int n = pretok_patterns_for(name, patterns);
    AwqcError err;
    PreTokenizer *p = pretok_new(patterns, n, &err);
    CHECK_MSG(p != NULL, "%s", err.msg);
    return p;
}

static void split(const PreTokenizer *pre, const char *text, size_t len, Pieces *out) {
    memset(out, 0, sizeof(*out));
    out->base = text;
    out->contiguous = true;
    pretok_split(pre, text, len, collect_piece, out);
}

// ----------------------------------------------------------------------------

static void check_scheme(const cJSON *cases, const char *name) {
    PreTokenizer *pre = pretok_named(name);
    if (!pre) return;
    int mismatches = 0;
    const cJSON *c;
    Pieces got;
    cJSON_ArrayForEach(c, cases) {
        const char *text = cJSON_GetObjectItem(c, "text")->valuestring;
        const cJSON *want = cJSON_GetObjectItem(c, name);
        split(pre, text, strlen(text), &got);
        bool same = got.contiguous && got.next == strlen(text) && fixture_ids_equal(want, got.lens, got.n);
        CHECK_MSG(same, "%s split of \"%s\"", name, text);
        if (!same && mismatches++ < 3) fixture_report(text, want, got.lens, got.n);
    }
    pretok_free(pre);
}

static void check_invalid_utf8(void) {
    PreTokenizer *pre = pretok_named("llama3");
    if (!pre) return;
    const char text[] = "ab\xff\xfe cd \xc3 e\x80"; // stray and truncated sequences
    Pieces got;
    split(pre, text, sizeof(text) - 1, &got);
    CHECK(got.contiguous && got.next == sizeof(text) - 1 && got.n >= 4);
    pretok_free(pre);
}

int main(void) {
    cJSON *cases = fixture_load("pretok.json");
    check_scheme(cases, "gpt2");
    check_scheme(cases, "smollm");
    check_scheme(cases, "llama3");
    check_scheme(cases, "qwen2");
    cJSON_Delete(cases);
    check_invalid_utf8();
    return test_result();
}
