// test_tok_bpe.c: the default model's byte-level BPE tokenizer (SmolLM2, from
// GGUF metadata) against ids from Hugging Face tokenizers, its decoding, its
// ChatML rendering, and its speed on wikitext-2's test split.
#include "test_tok_fixture.h"

// ----------------------------------------------------------------------------
// Properties of the vocabulary

static void check_properties(const Tokenizer *t) {
    CHECK(tok_kind(t) == TOK_BYTE_BPE);
    CHECK(tok_vocab_size(t) == 49152);
    CHECK(tok_bos(t) == 1);
    CHECK(tok_eos(t) == 2);
    CHECK(!tok_add_bos(t));
    CHECK(tok_find(t, "<|im_end|>") == 2);
    CHECK(tok_find(t, "<|im_start|>") == 1);
    CHECK(tok_find(t, "no such token here") == -1);
    CHECK(tok_is_eog(t, 2));  // <|im_end|>, the eos
    CHECK(tok_is_eog(t, 0));  // <|endoftext|>
    CHECK(!tok_is_eog(t, 1)); // <|im_start|>
    CHECK(!tok_is_eog(t, 1000));
    CHECK(!tok_is_eog(t, -1) && !tok_is_eog(t, 49152));
}

static void check_special_parsing(const Tokenizer *t) {
    const char *text = "<|im_start|>user";
    int32_t *ids;
    size_t n = tok_encode(t, text, strlen(text), false, true, &ids);
    CHECK(n == 2 && ids[0] == 1);
    free(ids);
    n = tok_encode(t, text, strlen(text), false, false, &ids);
    CHECK(n > 2 && ids[0] != 1); // as plain text without parse_special
    free(ids);
    n = tok_encode(t, "hi", 2, true, true, &ids);
    CHECK(n == 2 && ids[0] == 1); // add_bos prepends the model's bos
    free(ids);
    n = tok_encode(t, "", 0, false, true, &ids);
    CHECK(n == 0);
    free(ids);
}

// Broken UTF-8 is no error: its bytes are tokens like any others, except
// bytes SmolLM2 has no token for (0xf5-0xff never occur in UTF-8): dropped.
static void check_invalid_utf8(const Tokenizer *t) {
    const char text[] = "ok caf\xc3 \x80\xe4\xbd";
    int32_t *ids;
    size_t n = tok_encode(t, text, sizeof(text) - 1, false, true, &ids), len;
    char *back = fixture_decode_all(t, ids, n, &len);
    CHECK(len == sizeof(text) - 1 && memcmp(back, text, len) == 0);
    free(back);
    free(ids);
    n = tok_encode(t, "a\xff", 2, false, true, &ids);
    CHECK(n == 1 && ids[0] == tok_find(t, "a"));
    free(ids);
}

static void check_decode(const Tokenizer *t) {
    char buf[64];
    CHECK(tok_decode(t, 2, buf, sizeof buf) == 10 && memcmp(buf, "<|im_end|>", 10) == 0);
    int32_t space = tok_find(t, "\xc4\xa0"); // "Ġ" is the space byte
    CHECK(space >= 0 && tok_decode(t, space, buf, sizeof buf) == 1 && buf[0] == ' ');
    CHECK(tok_decode(t, 2, buf, 3) == 3 && memcmp(buf, "<|i", 3) == 0); // truncated to cap
    CHECK(tok_decode(t, -5, buf, sizeof buf) == 0);
}

// ----------------------------------------------------------------------------
// Chat template

static void check_chatml(const Tokenizer *t) {
    AwqcError err;
    ChatMessage one = {"user", "Hello"};
    char *s = tok_apply_chat_template(t, &one, 1, true, &err);
    const char *want = "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face"
                       "<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n";
    CHECK_MSG(s && strcmp(s, want) == 0, "got \"%s\"", s ? s : err.msg);
    free(s);
    ChatMessage two[] = {{"system", "Be brief."}, {"user", "Hi"}};
    s = tok_apply_chat_template(t, two, 2, false, &err);
    CHECK(s && strcmp(s, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n") == 0);
    free(s);
}

// ----------------------------------------------------------------------------
// wikitext-2 test split: Hugging Face gives 312144 tokens whose FNV-1a hash
// (over the ids as little-endian u32) is below; also the speed.

static uint64_t hash_ids(const int32_t *ids, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < 4; k++) {
            h ^= ((uint32_t)ids[i] >> (8 * k)) & 0xff;
            h *= 1099511628211ull;
        }
    return h;
}

static void check_wikitext(const Tokenizer *t) {
    char *path = awqc_asprintf("%s/../shared/data/wikitext-2/test.txt", test_source_dir());
    AwqcError err;
    size_t len;
    char *text = awqc_read_file(path, &len, &err);
    if (!text) {
        printf("wikitext-2 not found (%s); skipping the speed check\n", err.msg);
        free(path);
        return;
    }
    int32_t *ids;
    double t0 = awqc_now();
    size_t n = tok_encode(t, text, len, false, true, &ids);
    double secs = awqc_now() - t0;
    printf("wikitext-2 test.txt: %zu bytes -> %zu tokens in %.3f s (%.0f tokens/s)\n", len, n, secs,
           n / (secs > 0 ? secs : 1e-9));
    CHECK_MSG(n == 312144, "%zu tokens", n);
    CHECK(hash_ids(ids, n) == 0x3fd7f02836ec8328ull);
    size_t back_len;
    char *back = fixture_decode_all(t, ids, n, &back_len);
    CHECK(back_len == len && memcmp(back, text, len) == 0);
    free(back);
    free(ids);
    free(text);
    free(path);
}

int main(void) {
    const char *model = test_model_or_skip();
    AwqcError err;
    Checkpoint *c = ckpt_open(model, &err);
    CHECK_MSG(c != NULL, "%s", err.msg);
    if (!c) return test_result();
    double t0 = awqc_now();
    Tokenizer *t = tok_from_checkpoint(c, &err);
    CHECK_MSG(t != NULL, "%s", err.msg);
    printf("tokenizer built from GGUF metadata in %.1f ms\n", (awqc_now() - t0) * 1e3);
    if (t) {
        check_properties(t);
        check_special_parsing(t);
        check_decode(t);
        check_invalid_utf8(t);
        check_chatml(t);
        cJSON *cases = fixture_load("smollm2_bpe.json");
        CHECK(fixture_check_all(t, cases, true, NULL) == 0);
        cJSON_Delete(cases);
        check_wikitext(t);
    }
    tok_free(t);
    ckpt_close(c);
    return test_result();
}
