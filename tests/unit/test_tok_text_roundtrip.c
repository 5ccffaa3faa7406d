// test_tok_text_roundtrip.c: tok_to_hf_text / tok_from_hf_text, the in-memory
// form a compiled artifact carries. A small hand-written byte-level tokenizer,
// the SentencePiece GGUF fixture and the default model go through text and
// back and must encode, decode and render chat the same; the text must be what
// tok_write_hf writes; malformed text must fail cleanly, naming its origin.
#include <sys/stat.h>

#include "runtime/tokenizer/tok_export.h"
#include "test_tok_fixture.h"

static const char ORIGIN[] = "test.awqx: section tokenizer";

// Plain text, UTF-8 (accents, CJK, emoji), leading spaces, special tokens.
static const char *const TEXTS[] = {
    "Hello, world! How are you today?",
    "naïve café — résumé, Ærøskøbing, Zürich",
    "emoji 😀🎉👩‍💻 and 中文字符 and Привет",
    " one leading space",
    "    four leading spaces and trailing   ",
    "tabs\tand\nnewlines\n\n  indented",
    "digits 1234567890 and 3.14159",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "<s> a</s>b <s>c <|endoftext|>",
    "hello world! 12 <|end|><tool>he",
    "",
};
#define N_TEXTS (sizeof(TEXTS) / sizeof(TEXTS[0]))

// ----------------------------------------------------------------------------
// Through text and back

static Tokenizer *through_text(const Tokenizer *t, char **json_out, char **config_out) {
    AwqcError err;
    char *json = NULL, *config = NULL;
    bool ok = tok_to_hf_text(t, 4096, &json, &config, &err);
    CHECK_MSG(ok && json && config, "%s", err.msg);
    Tokenizer *back = ok ? tok_from_hf_text(json, strlen(json), config, ORIGIN, &err) : NULL;
    CHECK_MSG(!ok || back != NULL, "%s", err.msg);
    *json_out = json;
    *config_out = config;
    return back;
}

static bool same_string(const char *a, const char *b) { return a == b || (a && b && strcmp(a, b) == 0); }

static void check_same_properties(const Tokenizer *a, const Tokenizer *b, const char *label) {
    CHECK_MSG(tok_kind(a) == tok_kind(b), "%s", label);
    CHECK_MSG(tok_vocab_size(a) == tok_vocab_size(b), "%s: %d vs %d", label, tok_vocab_size(a), tok_vocab_size(b));
    CHECK_MSG(tok_bos(a) == tok_bos(b) && tok_eos(a) == tok_eos(b), "%s", label);
    CHECK_MSG(tok_add_bos(a) == tok_add_bos(b), "%s", label);
    CHECK_MSG(same_string(tok_chat_template(a), tok_chat_template(b)), "%s: chat templates differ", label);
    int bad_decode, bad_eog;
    tok_count_differences(a, b, &bad_decode, &bad_eog);
    CHECK_MSG(bad_decode == 0, "%s: %d tokens decode differently", label, bad_decode);
    CHECK_MSG(bad_eog == 0, "%s: %d tokens differ in end-of-generation", label, bad_eog);
}

// Same ids and same decoded bytes from both tokenizers.
static void check_same_encoding(const Tokenizer *a, const Tokenizer *b, const char *text, bool parse_special,
                                const char *label) {
    int32_t *x, *y;
    size_t len = strlen(text);
    size_t nx = tok_encode(a, text, len, true, parse_special, &x);
    size_t ny = tok_encode(b, text, len, true, parse_special, &y);
    bool same = nx == ny && memcmp(x, y, nx * sizeof(int32_t)) == 0;
    CHECK_MSG(same, "%s: ids differ for \"%s\" (parse_special %d)", label, text, parse_special);
    if (!same) {
        fixture_print_ids("original", x, nx);
        fixture_print_ids("reloaded", y, ny);
    }
    size_t lx, ly;
    char *dx = fixture_decode_all(a, x, nx, &lx), *dy = fixture_decode_all(b, y, ny, &ly);
    CHECK_MSG(lx == ly && memcmp(dx, dy, lx) == 0, "%s: decodings differ for \"%s\"", label, text);
    free(dx), free(dy), free(x), free(y);
}

static void check_same_chat(const Tokenizer *a, const Tokenizer *b, const char *label) {
    if (!tok_chat_template(a)) return;
    ChatMessage msgs[] = {{"user", "What is 2+2?"}, {"assistant", "4"}, {"user", "Und 3+3? 😀"}};
    AwqcError ea, eb;
    char *x = tok_apply_chat_template(a, msgs, 3, true, &ea);
    char *y = tok_apply_chat_template(b, msgs, 3, true, &eb);
    CHECK_MSG(x && y && strcmp(x, y) == 0, "%s: chat renderings differ: \"%s\" vs \"%s\"", label, x ? x : ea.msg,
              y ? y : eb.msg);
    if (x && y) check_same_encoding(a, b, x, true, label);
    free(x), free(y);
}

// The strings are byte for byte the files tok_write_hf writes.
static void check_same_as_files(const Tokenizer *t, const char *json, const char *config, const char *name) {
    char *dir = awqc_asprintf("%s/%s", test_tmpdir(), name);
    mkdir(dir, 0755);
    AwqcError err;
    bool ok = tok_write_hf(t, dir, 4096, &err);
    CHECK_MSG(ok, "%s", err.msg);
    const char *files[2] = {"tokenizer.json", "tokenizer_config.json"}, *texts[2] = {json, config};
    for (int i = 0; ok && i < 2; i++) {
        char *path = awqc_asprintf("%s/%s", dir, files[i]);
        size_t len;
        char *file = awqc_read_file(path, &len, &err);
        CHECK_MSG(file && len == strlen(texts[i]) && memcmp(file, texts[i], len) == 0, "%s differs from the text",
                  path);
        free(file);
        free(path);
    }
    free(dir);
}

// Original vs reloaded everywhere; the reloaded one's text is the same again,
// so an artifact rebuilt from a loaded artifact is identical. Returns the
// reloaded tokenizer (NULL on failure).
static Tokenizer *check_text_round_trip(const Tokenizer *t, const char *name) {
    char *json, *config;
    Tokenizer *back = through_text(t, &json, &config);
    if (back) {
        check_same_properties(t, back, name);
        for (size_t i = 0; i < N_TEXTS; i++) {
            check_same_encoding(t, back, TEXTS[i], true, name);
            check_same_encoding(t, back, TEXTS[i], false, name);
        }
        check_same_chat(t, back, name);
        char *json2 = NULL, *config2 = NULL;
        CHECK(tok_to_hf_text(back, 4096, &json2, &config2, NULL));
        CHECK_MSG(same_string(json, json2) && same_string(config, config2), "%s: second generation text differs",
                  name);
        free(json2), free(config2);
        check_same_as_files(t, json, config, name);
    }
    free(json), free(config);
    return back;
}

// ----------------------------------------------------------------------------
// A small byte-level tokenizer given as text (digits split, then GPT-2's regex)

static const char BYTE_JSON[] =
    "{\"version\":\"1.0\",\"added_tokens\":["
    "{\"id\":20,\"content\":\"<|end|>\",\"special\":true},"
    "{\"id\":21,\"content\":\"<tool>\",\"special\":false},"
    "{\"id\":22,\"content\":\"<s>\",\"special\":true},"
    "{\"id\":23,\"content\":\"<|im_start|>\",\"special\":true}],"
    "\"normalizer\":null,"
    "\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":["
    "{\"type\":\"Digits\",\"individual_digits\":true},"
    "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex\":true}]},"
    "\"decoder\":{\"type\":\"ByteLevel\"},"
    "\"model\":{\"type\":\"BPE\",\"dropout\":null,\"unk_token\":null,\"vocab\":"
    "{\"h\":0,\"e\":1,\"l\":2,\"o\":3,\"\xc4\xa0\":4,\"w\":5,\"r\":6,\"d\":7,\"he\":8,\"ll\":9,"
    "\"hell\":10,\"hello\":11,\"\xc4\xa0w\":12,\"or\":13,\"\xc4\xa0wor\":14,\"1\":15,\"2\":16,\"12\":17,\"!\":18,"
    "\"\xc3\x83\":19},"
    "\"merges\":[\"h e\",\"l l\",\"o r\",\"\xc4\xa0 w\",\"he ll\",\"\xc4\xa0w or\",\"hell o\",\"1 2\"]}}";

static const char BYTE_CONFIG[] =
    "{\"bos_token\":\"<s>\",\"eos_token\":{\"content\":\"<|end|>\"},\"add_bos_token\":true,"
    "\"chat_template\":\"{% for m in messages %}{{'<|im_start|>' + m['role'] + '\\\\n' + m['content'] + "
    "'<|end|>\\\\n'}}{% endfor %}\"}";

static const char BYTE_TEMPLATE[] =
    "{% for m in messages %}{{'<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|end|>\\n'}}{% endfor %}";

static Tokenizer *small_byte_level(void) {
    AwqcError err;
    Tokenizer *t = tok_from_hf_text(BYTE_JSON, strlen(BYTE_JSON), BYTE_CONFIG, ORIGIN, &err);
    CHECK_MSG(t != NULL, "%s", err.msg);
    if (!t) return NULL;
    CHECK(tok_kind(t) == TOK_BYTE_BPE && tok_vocab_size(t) == 24);
    CHECK(tok_bos(t) == 22 && tok_eos(t) == 20 && tok_add_bos(t));
    CHECK(tok_chat_template(t) && strcmp(tok_chat_template(t), BYTE_TEMPLATE) == 0);
    int32_t *ids;
    size_t n = tok_encode(t, "hello world!<|end|>", 19, true, true, &ids);
    CHECK(n == 7 && ids[0] == 22 && ids[1] == 11 && ids[2] == 14 && ids[3] == 2 && ids[4] == 7 && ids[5] == 18 &&
          ids[6] == 20);
    free(ids);
    return t;
}

// Without a config: no bos/eos/template, as for a folder without one.
static void check_without_config(void) {
    AwqcError err;
    Tokenizer *t = tok_from_hf_text(BYTE_JSON, strlen(BYTE_JSON), NULL, ORIGIN, &err);
    CHECK_MSG(t != NULL, "%s", err.msg);
    if (t) CHECK(tok_bos(t) == -1 && tok_eos(t) == -1 && !tok_add_bos(t) && !tok_chat_template(t));
    tok_free(t);
}

// The text need not end in a NUL: only json_len bytes are read (ASan checks).
static void check_unterminated_buffer(void) {
    size_t len = strlen(BYTE_JSON);
    char *copy = xmalloc(len);
    memcpy(copy, BYTE_JSON, len);
    AwqcError err;
    Tokenizer *t = tok_from_hf_text(copy, len, BYTE_CONFIG, ORIGIN, &err);
    CHECK_MSG(t != NULL && tok_vocab_size(t) == 24, "%s", t ? "wrong vocab" : err.msg);
    tok_free(t);
    free(copy);
}

// ----------------------------------------------------------------------------
// Malformed text: NULL, an error naming the origin, never a crash

static void expect_error_n(const char *json, size_t len, const char *config, const char *needle,
                           const char *label) {
    AwqcError err = {{0}};
    Tokenizer *t = tok_from_hf_text(json, len, config, ORIGIN, &err);
    CHECK_MSG(t == NULL, "%s should fail", label);
    CHECK_MSG(strncmp(err.msg, ORIGIN, strlen(ORIGIN)) == 0 && strstr(err.msg, needle), "%s: message \"%s\"", label,
              err.msg);
    tok_free(t);
}

static void expect_error(const char *json, const char *config, const char *needle, const char *label) {
    expect_error_n(json, strlen(json), config, needle, label);
}

// The offset the message gives, -1 when none.
static long error_offset(const char *msg) {
    const char *at = strstr(msg, "offset ");
    return at ? strtol(at + 7, NULL, 10) : -1;
}

static void check_truncated(void) {
    size_t len = strlen(BYTE_JSON);
    int named = 0, bad_offset = 0;
    for (size_t cut = 0; cut < len; cut++) { // every proper prefix, in an exact-size buffer
        char *prefix = xmalloc(cut + 1);
        memcpy(prefix, BYTE_JSON, cut);
        AwqcError err = {{0}};
        Tokenizer *t = tok_from_hf_text(prefix, cut, BYTE_CONFIG, ORIGIN, &err);
        CHECK_MSG(t == NULL, "prefix of %zu bytes loaded", cut);
        named += strncmp(err.msg, ORIGIN, strlen(ORIGIN)) == 0 && strstr(err.msg, "invalid JSON") != NULL;
        long at = error_offset(err.msg);
        bad_offset += at < 0 || (size_t)at > cut;
        tok_free(t);
        free(prefix);
    }
    CHECK_MSG(named == (int)len, "%d of %zu truncations named the origin and invalid JSON", named, len);
    CHECK_MSG(bad_offset == 0, "%d truncations gave no offset or one past the end", bad_offset);
}

// Bytes overwritten all along the text: whatever loads or fails, nothing crashes.
static void check_corrupted(void) {
    static const char replacements[] = "\"}]{[,:0-\\ x";
    size_t len = strlen(BYTE_JSON);
    char *copy = xmalloc(len);
    int failed = 0, unnamed = 0;
    for (size_t at = 0; at < len; at += 3) {
        for (size_t r = 0; r + 1 < sizeof replacements; r++) {
            memcpy(copy, BYTE_JSON, len);
            copy[at] = replacements[r];
            AwqcError err = {{0}};
            Tokenizer *t = tok_from_hf_text(copy, len, BYTE_CONFIG, ORIGIN, &err);
            if (!t) failed++, unnamed += strncmp(err.msg, ORIGIN, strlen(ORIGIN)) != 0;
            tok_free(t);
        }
    }
    free(copy);
    CHECK_MSG(failed > 0, "no corruption was noticed");
    CHECK_MSG(unnamed == 0, "%d errors did not name the origin", unnamed);
}

static void check_malformed(void) {
    check_truncated();
    check_corrupted();
    expect_error("", NULL, "offset 0: invalid JSON", "empty");
    expect_error_n(NULL, 0, NULL, "invalid JSON", "no text");
    expect_error("   ", NULL, "invalid JSON", "blank");
    expect_error("[1, 2]", NULL, "not a JSON object", "array");
    expect_error("\"tokenizer\"", NULL, "not a JSON object", "string");
    expect_error("{\"version\":\"1.0\"}", NULL, "no \"model\" object", "no model");
    expect_error("{\"model\":[]}", NULL, "no \"model\" object", "model not an object");
    expect_error("{\"model\":{\"type\":\"BPE\",\"merges\":[]},\"decoder\":{\"type\":\"ByteLevel\"}}", NULL,
                 "model.vocab", "no vocab");
    expect_error("{\"model\":{\"type\":\"Unigram\",\"vocab\":[]}}", NULL, "not supported", "unigram");
    expect_error(BYTE_JSON, "{\"bos_token\": ", "tokenizer_config.json: offset", "truncated config");
    expect_error(BYTE_JSON, "[\"<s>\"]", "tokenizer_config.json: the top level is not a JSON object",
                 "config not an object");
    expect_error_n(BYTE_JSON, strlen(BYTE_JSON) - 1, NULL, "invalid JSON", "one byte short");
}

// ----------------------------------------------------------------------------
// The fixtures and the default model

static Tokenizer *tokenizer_of_gguf(const char *path) {
    AwqcError err;
    Checkpoint *c = ckpt_open(path, &err);
    CHECK_MSG(c != NULL, "%s", err.msg);
    Tokenizer *t = c ? tok_from_checkpoint(c, &err) : NULL;
    CHECK_MSG(!c || t != NULL, "%s", err.msg);
    ckpt_close(c);
    return t;
}

static void check_spm_fixture(void) {
    char *path = awqc_asprintf("%s/tests/fixtures/tokenizer/spm_bpe.gguf", test_source_dir());
    Tokenizer *t = tokenizer_of_gguf(path);
    free(path);
    if (!t) return;
    CHECK(tok_kind(t) == TOK_SPM_BPE && tok_add_bos(t));
    Tokenizer *back = check_text_round_trip(t, "spm_bpe");
    if (back) {
        cJSON *cases = fixture_load("spm_bpe.json");
        CHECK(fixture_check_all(back, cases, false, " ") == 0);
        cJSON_Delete(cases);
    }
    tok_free(back);
    tok_free(t);
}

// The reloaded default model still matches the reference ids, and decodes
// plain UTF-8 text back to itself.
static void check_default_model(void) {
    Tokenizer *t = tokenizer_of_gguf(test_model_or_skip());
    if (!t) return;
    CHECK(tok_vocab_size(t) == 49152 && tok_bos(t) == 1 && tok_eos(t) == 2 && !tok_add_bos(t));
    CHECK(tok_chat_template(t) && strstr(tok_chat_template(t), "<|im_start|>"));
    Tokenizer *back = check_text_round_trip(t, "smollm2");
    if (back) {
        cJSON *cases = fixture_load("smollm2_bpe.json");
        CHECK(fixture_check_all(back, cases, true, NULL) == 0);
        cJSON_Delete(cases);
        int32_t *ids;
        const char *text = TEXTS[2];
        size_t n = tok_encode(back, text, strlen(text), false, false, &ids), len;
        char *decoded = fixture_decode_all(back, ids, n, &len);
        CHECK_MSG(len == strlen(text) && memcmp(decoded, text, len) == 0, "\"%s\" came back as \"%s\"", text,
                  decoded);
        free(decoded), free(ids);
    }
    tok_free(back);
    tok_free(t);
}

int main(void) {
    Tokenizer *small = small_byte_level();
    if (small) tok_free(check_text_round_trip(small, "small_byte_level"));
    tok_free(small);
    check_without_config();
    check_unterminated_buffer();
    check_malformed();
    check_spm_fixture();
    // The model may be missing (a skip): report the failures so far first.
    if (test_failures > 0) return test_result();
    check_default_model();
    return test_result();
}
