// test_tok_fixture.h: shared by the tokenizer tests: loads a reference
// fixture ([{"text": ..., "ids": [...]}], written by
// tests/reference/make_tokenizer_fixtures.py) and compares our encoding and
// decoding with it, printing the first mismatches in full.
#ifndef AWQC_TEST_TOK_FIXTURE_H
#define AWQC_TEST_TOK_FIXTURE_H

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/tokenizer/tokenizer.h"
#include "test_support.h"

// ----------------------------------------------------------------------------
// Loading

static inline cJSON *fixture_load(const char *name) {
    char *path = awqc_asprintf("%s/tests/fixtures/tokenizer/%s", test_source_dir(), name);
    AwqcError err;
    size_t len;
    char *text = awqc_read_file(path, &len, &err);
    if (!text) AWQC_PANIC("%s", err.msg);
    cJSON *root = cJSON_ParseWithLength(text, len);
    if (!cJSON_IsArray(root)) AWQC_PANIC("%s: not a JSON array", path);
    free(text);
    free(path);
    return root;
}

// ----------------------------------------------------------------------------
// Comparing

static inline void fixture_print_ids(const char *label, const int32_t *ids, size_t n) {
    fprintf(stderr, "  %s (%zu):", label, n);
    for (size_t i = 0; i < n; i++) fprintf(stderr, " %d", ids[i]);
    fputc('\n', stderr);
}

static inline bool fixture_ids_equal(const cJSON *expected, const int32_t *ids, size_t n) {
    if ((size_t)cJSON_GetArraySize(expected) != n) return false;
    size_t i = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, expected) {
        if (!cJSON_IsNumber(v) || v->valueint != ids[i++]) return false;
    }
    return true;
}

static inline void fixture_report(const char *text, const cJSON *expected, const int32_t *ids, size_t n) {
    fprintf(stderr, "mismatch for text \"%s\"\n", text);
    size_t ne = (size_t)cJSON_GetArraySize(expected);
    int32_t *want = malloc((ne + 1) * sizeof(int32_t));
    for (size_t i = 0; i < ne; i++) want[i] = cJSON_GetArrayItem(expected, (int)i)->valueint;
    fixture_print_ids("expected", want, ne);
    fixture_print_ids("got     ", ids, n);
    free(want);
}

// Concatenates the decoded tokens (heap string, *len bytes).
static inline char *fixture_decode_all(const Tokenizer *t, const int32_t *ids, size_t n, size_t *len) {
    size_t cap = 64 * n + 1, used = 0;
    char *out = malloc(cap);
    for (size_t i = 0; i < n; i++) used += tok_decode(t, ids[i], out + used, cap - used);
    out[used] = '\0';
    *len = used;
    return out;
}

static inline void check_round_trip(const Tokenizer *t, const char *text, const int32_t *ids, size_t n,
                             const char *strip_prefix, int case_no) {
    size_t len;
    char *back = fixture_decode_all(t, ids, n, &len);
    size_t skip = strip_prefix && strncmp(back, strip_prefix, strlen(strip_prefix)) == 0 ? strlen(strip_prefix) : 0;
    CHECK_MSG(len - skip == strlen(text) && memcmp(back + skip, text, len - skip) == 0,
              "round trip of case %d: \"%s\" came back as \"%s\"", case_no, text, back);
    free(back);
}

// Checks every case: exact ids, and that decoding gives the text back (minus
// strip_prefix leading bytes, for SentencePiece's added space) unless the
// reference marks it lossy. Returns the number of id mismatches.
static inline int fixture_check_all(const Tokenizer *t, const cJSON *cases, bool parse_special,
                                    const char *strip_prefix) {
    int mismatches = 0, case_no = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cases) {
        const char *text = cJSON_GetObjectItem(c, "text")->valuestring;
        const cJSON *expected = cJSON_GetObjectItem(c, "ids");
        int32_t *ids;
        size_t n = tok_encode(t, text, strlen(text), false, parse_special, &ids);
        bool same = fixture_ids_equal(expected, ids, n);
        CHECK_MSG(same, "case %d", case_no);
        if (!same && mismatches++ < 3) fixture_report(text, expected, ids, n);
        if (!cJSON_IsTrue(cJSON_GetObjectItem(c, "lossy"))) check_round_trip(t, text, ids, n, strip_prefix, case_no);
        free(ids);
        case_no++;
    }
    printf("%d fixture cases, %d mismatches\n", case_no, mismatches);
    return mismatches;
}

// ----------------------------------------------------------------------------
// Comparing two tokenizers id by id

// How many ids decode to other bytes, and how many differ in being an
// end-of-generation token (b is read for a's vocabulary).
static inline void tok_count_differences(const Tokenizer *a, const Tokenizer *b, int *bad_decode, int *bad_eog) {
    *bad_decode = *bad_eog = 0;
    for (int32_t id = 0; id < tok_vocab_size(a); id++) {
        char x[256], y[256];
        size_t nx = tok_decode(a, id, x, sizeof x), ny = tok_decode(b, id, y, sizeof y);
        *bad_decode += nx != ny || memcmp(x, y, nx) != 0;
        *bad_eog += tok_is_eog(a, id) != tok_is_eog(b, id);
    }
}

#endif
