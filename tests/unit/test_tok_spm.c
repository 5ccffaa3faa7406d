// test_tok_spm.c: SentencePiece-style BPE from GGUF metadata. The fixture is
// a 1500-piece BPE model trained with the sentencepiece library on
// wikitext-2 (byte_fallback on); its ids come from sentencepiece itself.
#include "test_tok_fixture.h"

// ----------------------------------------------------------------------------

static void check_properties(const Tokenizer *t) {
    CHECK(tok_kind(t) == TOK_SPM_BPE);
    CHECK(tok_vocab_size(t) == 1500);
    CHECK(tok_bos(t) == 1 && tok_eos(t) == 2);
    CHECK(tok_add_bos(t));
    CHECK(tok_is_eog(t, 2) && !tok_is_eog(t, 1) && !tok_is_eog(t, 100));
    CHECK(tok_find(t, "<0x0A>") >= 0);
}

static void check_decode(const Tokenizer *t) {
    char buf[16];
    int32_t newline = tok_find(t, "<0x0A>");
    CHECK(tok_decode(t, newline, buf, sizeof buf) == 1 && buf[0] == '\n');
    int32_t the = tok_find(t, "\xe2\x96\x81the"); // "▁the"
    CHECK(the >= 0 && tok_decode(t, the, buf, sizeof buf) == 4 && memcmp(buf, " the", 4) == 0);
    CHECK(tok_decode(t, 2, buf, sizeof buf) == 4 && memcmp(buf, "</s>", 4) == 0);
}

static void check_bos_and_specials(const Tokenizer *t) {
    int32_t *ids;
    size_t n = tok_encode(t, "hi", 2, true, false, &ids);
    CHECK(n >= 2 && ids[0] == 1);
    free(ids);
    // With parse_special, "</s>" in the text is the eos token; without, plain text.
    n = tok_encode(t, "a</s>", 5, false, true, &ids);
    CHECK(n >= 2 && ids[n - 1] == 2);
    free(ids);
    n = tok_encode(t, "a</s>", 5, false, false, &ids);
    CHECK(n >= 2 && ids[n - 1] != 2);
    free(ids);
}

// Characters absent from the vocabulary come out as their UTF-8 bytes.
static void check_byte_fallback(const Tokenizer *t) {
    int32_t *ids;
    size_t n = tok_encode(t, "\xe4\xbd\xa0", 3, false, false, &ids); // 你
    int32_t want[3] = {tok_find(t, "<0xE4>"), tok_find(t, "<0xBD>"), tok_find(t, "<0xA0>")};
    CHECK(n == 4 && ids[0] == tok_find(t, "\xe2\x96\x81"));
    CHECK(n == 4 && memcmp(ids + 1, want, sizeof want) == 0);
    free(ids);
}

// Broken UTF-8 falls back to byte tokens and decodes to the same bytes.
static void check_invalid_utf8(const Tokenizer *t) {
    const char text[] = "ok \xff\xfe caf\xc3 \x80\xe4\xbd";
    int32_t *ids;
    size_t n = tok_encode(t, text, sizeof(text) - 1, false, false, &ids), len;
    char *back = fixture_decode_all(t, ids, n, &len);
    CHECK(len == sizeof(text) && back[0] == ' ' && memcmp(back + 1, text, len - 1) == 0);
    free(back);
    free(ids);
}

// Random byte soup (spaces, broken UTF-8, pieces of specials) always decodes
// back to itself: every byte has a fallback token.
static void check_random_round_trips(const Tokenizer *t) {
    static const char *const parts[] = {" ", "  ", "the", "\xe2", "\x96", "\x81", "\xc3\xa9", "\xff", "</",
                                        "s>", "\n", "\t", "\xf0\x9f\x98\x80", "x", "\x00", "<0x41>"};
    uint32_t seed = 12345;
    int bad = 0;
    for (int round = 0; round < 300; round++) {
        char text[256];
        size_t len = 0;
        for (int k = (int)((seed >> 8) % 20); k > 0; k--) {
            seed = seed * 1103515245u + 12345u;
            const char *p = parts[(seed >> 16) % (sizeof(parts) / sizeof(parts[0]))];
            size_t plen = p[0] ? strlen(p) : 1; // "\x00" is one NUL byte
            memcpy(text + len, p, plen);
            len += plen;
        }
        seed = seed * 1103515245u + 12345u;
        int32_t *ids;
        size_t n = tok_encode(t, text, len, false, false, &ids), back_len;
        char *back = fixture_decode_all(t, ids, n, &back_len);
        if (!(len == 0 ? back_len == 0 : back_len == len + 1 && memcmp(back + 1, text, len) == 0)) bad++;
        free(back);
        free(ids);
    }
    CHECK_MSG(bad == 0, "%d of 300 random strings did not round-trip", bad);
}

int main(void) {
    char *path = awqc_asprintf("%s/tests/fixtures/tokenizer/spm_bpe.gguf", test_source_dir());
    AwqcError err;
    Checkpoint *c = ckpt_open(path, &err);
    CHECK_MSG(c != NULL, "%s", err.msg);
    Tokenizer *t = c ? tok_from_checkpoint(c, &err) : NULL;
    CHECK_MSG(!c || t != NULL, "%s", err.msg);
    if (t) {
        check_properties(t);
        check_decode(t);
        check_bos_and_specials(t);
        check_byte_fallback(t);
        check_invalid_utf8(t);
        check_random_round_trips(t);
        cJSON *cases = fixture_load("spm_bpe.json");
        CHECK(fixture_check_all(t, cases, false, " ") == 0);
        cJSON_Delete(cases);
    }
    tok_free(t);
    ckpt_close(c);
    free(path);
    return test_result();
}
