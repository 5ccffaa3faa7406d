// test_tok_hfjson.c: tokenizers built from small hand-written tokenizer.json
// files (byte-level, with and without Llama-3's ignore_merges, and
// SentencePiece-style), checked against ids worked out by hand from their
// merges; and clean errors for malformed files.
#include <sys/stat.h>

#include "test_tok_fixture.h"

// ----------------------------------------------------------------------------
// Helpers

static char *write_in_tmp(const char *dir_name, const char *file, const char *text) {
    char *dir = awqc_asprintf("%s/%s", test_tmpdir(), dir_name);
    mkdir(dir, 0755);
    char *path = awqc_asprintf("%s/%s", dir, file);
    test_write_file(path, text, strlen(text));
    free(dir);
    return path;
}

// Encodes text and compares with the n expected ids.
static void expect_ids(const Tokenizer *t, const char *text, bool add_bos, bool parse_special, const int32_t *want,
                       size_t n) {
    int32_t *ids;
    size_t got = tok_encode(t, text, strlen(text), add_bos, parse_special, &ids);
    bool same = got == n && memcmp(ids, want, n * sizeof(int32_t)) == 0;
    CHECK_MSG(same, "encoding \"%s\"", text);
    if (!same) {
        fixture_print_ids("expected", want, n);
        fixture_print_ids("got     ", ids, got);
    }
    free(ids);
}

#define EXPECT(t, text, bos, special, ...)                                                    \
    do {                                                                                      \
        const int32_t want_[] = {__VA_ARGS__};                                                \
        expect_ids(t, text, bos, special, want_, sizeof(want_) / sizeof(want_[0]));           \
    } while (0)

// ----------------------------------------------------------------------------
// Byte-level: digits isolated, then the GPT-2 split; merges as strings or pairs

static const char BYTE_VOCAB[] =
    "{\"h\":0,\"e\":1,\"l\":2,\"o\":3,\"\xc4\xa0\":4,\"w\":5,\"r\":6,\"d\":7,\"he\":8,\"ll\":9,"
    "\"hell\":10,\"hello\":11,\"\xc4\xa0w\":12,\"or\":13,\"\xc4\xa0wor\":14,\"1\":15,\"2\":16,\"12\":17,\"!\":18}";

static const char BYTE_MERGES_STRINGS[] =
    "[\"h e\",\"l l\",\"o r\",\"\xc4\xa0 w\",\"he ll\",\"\xc4\xa0w or\",\"hell o\",\"1 2\"]";
static const char BYTE_MERGES_PAIRS[] =
    "[[\"h\",\"e\"],[\"l\",\"l\"],[\"o\",\"r\"],[\"\xc4\xa0\",\"w\"],[\"he\",\"ll\"],[\"\xc4\xa0w\",\"or\"],"
    "[\"hell\",\"o\"],[\"1\",\"2\"]]";

static char *byte_level_json(const char *merges) {
    return awqc_asprintf(
        "{\"version\":\"1.0\",\"added_tokens\":["
        "{\"id\":20,\"content\":\"<|end|>\",\"special\":true},"
        "{\"id\":21,\"content\":\"<tool>\",\"special\":false},"
        "{\"id\":22,\"content\":\"<s>\",\"special\":true}],"
        "\"normalizer\":null,"
        "\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":["
        "{\"type\":\"Digits\",\"individual_digits\":true},"
        "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex\":true}]},"
        "\"decoder\":{\"type\":\"ByteLevel\"},"
        "\"model\":{\"type\":\"BPE\",\"dropout\":null,\"unk_token\":null,\"vocab\":%s,\"merges\":%s}}",
        BYTE_VOCAB, merges);
}

static const char BYTE_CONFIG[] =
    "{\"bos_token\":\"<s>\",\"eos_token\":{\"content\":\"<|end|>\"},\"add_bos_token\":true,"
    "\"chat_template\":\"{% for m in messages %}{{'<|im_start|>' + m['role'] + '\\\\n' + m['content'] + "
    "'<|im_end|>\\\\n'}}{% endfor %}\"}";

static void check_byte_level_encoding(const Tokenizer *t) {
    EXPECT(t, "hello world!", false, true, 11, 14, 2, 7, 18);
    EXPECT(t, "12", false, true, 15, 16); // "1 2" exists but digits are split first
    EXPECT(t, "lll", false, true, 9, 2);  // equal ranks: the leftmost pair merges
    EXPECT(t, "hello<|end|>", false, true, 11, 20);
    EXPECT(t, "<tool>he", false, false, 21, 8); // non-special added tokens match regardless
    EXPECT(t, "hello", true, true, 22, 11);
    EXPECT(t, "h\xc3\xa9", false, true, 0); // é's bytes have no tokens here: dropped
}

static void check_byte_level(const char *dir_name, const char *merges) {
    char *json = byte_level_json(merges);
    char *path = write_in_tmp(dir_name, "tokenizer.json", json);
    char *config = write_in_tmp(dir_name, "tokenizer_config.json", BYTE_CONFIG);
    AwqcError err;
    Tokenizer *t = tok_from_hf_json(path, &err);
    CHECK_MSG(t != NULL, "%s", err.msg);
    if (t) {
        CHECK(tok_kind(t) == TOK_BYTE_BPE && tok_vocab_size(t) == 23);
        CHECK(tok_bos(t) == 22 && tok_eos(t) == 20 && tok_add_bos(t));
        CHECK(tok_is_eog(t, 20) && !tok_is_eog(t, 22));
        check_byte_level_encoding(t);
        char buf[8];
        CHECK(tok_decode(t, 12, buf, sizeof buf) == 2 && memcmp(buf, " w", 2) == 0);
        CHECK(tok_decode(t, 19, buf, sizeof buf) == 0); // an id no entry names
        ChatMessage m = {"user", "hi"};
        char *chat = tok_apply_chat_template(t, &m, 1, true, &err);
        CHECK(chat && strcmp(chat, "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n") == 0);
        free(chat);
    }
    tok_free(t);
    free(json);
    free(path);
    free(config);
}

// ----------------------------------------------------------------------------
// Chat templates given in tokenizer_config.json

// Qwen2-style: the default system prompt sits in an else branch, with \n escapes.
static const char QWEN_LIKE_CONFIG[] =
    "{\"chat_template\":\"{%- if messages[0]['role'] == 'system' %}{{- '<|im_start|>system\\\\n' + "
    "messages[0]['content'] + '<|im_end|>\\\\n' }}{%- else %}{{- '<|im_start|>system\\\\nYou are "
    "\\\\'Q\\\\'.<|im_end|>\\\\n' }}{%- endif %}{% for m in messages %}...{% endfor %}\"}";

static const char UNKNOWN_TEMPLATE_CONFIG[] = "{\"chat_template\":\"{{ bos_token }}{{ messages }}\"}";

static char *render_with_config(const char *dir_name, const char *config, const ChatMessage *msgs, size_t n,
                                AwqcError *err) {
    char *json = byte_level_json(BYTE_MERGES_STRINGS);
    char *path = write_in_tmp(dir_name, "tokenizer.json", json);
    free(write_in_tmp(dir_name, "tokenizer_config.json", config));
    Tokenizer *t = tok_from_hf_json(path, err);
    CHECK_MSG(t != NULL, "%s", err->msg);
    char *out = t ? tok_apply_chat_template(t, msgs, n, false, err) : NULL;
    tok_free(t);
    free(json);
    free(path);
    return out;
}

static void check_chat_templates(void) {
    AwqcError err;
    ChatMessage user = {"user", "hi"};
    char *s = render_with_config("qwen_like", QWEN_LIKE_CONFIG, &user, 1, &err);
    CHECK_MSG(s && strcmp(s, "<|im_start|>system\nYou are 'Q'.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n") == 0,
              "got \"%s\"", s ? s : err.msg);
    free(s);
    s = render_with_config("unknown_template", UNKNOWN_TEMPLATE_CONFIG, &user, 1, &err);
    CHECK(s == NULL && strstr(err.msg, "chat template not supported: {{ bos_token }}") == err.msg);
    free(s);
    // transformers 5 keeps the template in chat_template.jinja beside the config.
    free(write_in_tmp("jinja_file", "chat_template.jinja",
                      "{% for m in messages %}{{'<|im_start|>' + m['role'] + '\\n' + m['content'] + "
                      "'<|im_end|>\\n'}}{% endfor %}"));
    s = render_with_config("jinja_file", "{\"eos_token\":\"<|end|>\"}", &user, 1, &err);
    CHECK_MSG(s && strcmp(s, "<|im_start|>user\nhi<|im_end|>\n") == 0, "got \"%s\"", s ? s : err.msg);
    free(s);
}

// ----------------------------------------------------------------------------
// SentencePiece-style: Metaspace, byte fallback, no config file

static const char SPM_JSON[] =
    "{\"added_tokens\":[{\"id\":0,\"content\":\"<unk>\",\"special\":true},"
    "{\"id\":1,\"content\":\"<s>\",\"special\":true},{\"id\":2,\"content\":\"</s>\",\"special\":true}],"
    "\"pre_tokenizer\":{\"type\":\"Metaspace\",\"replacement\":\"\xe2\x96\x81\",\"prepend_scheme\":\"first\","
    "\"split\":false},"
    "\"decoder\":{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"Replace\"},{\"type\":\"ByteFallback\"}]},"
    "\"model\":{\"type\":\"BPE\",\"byte_fallback\":true,\"unk_token\":\"<unk>\",\"vocab\":{"
    "\"<unk>\":0,\"<s>\":1,\"</s>\":2,\"<0x43>\":3,\"<0x0A>\":4,\"\xe2\x96\x81\":5,\"a\":6,\"b\":7,"
    "\"\xe2\x96\x81" "a\":8,\"ab\":9},"
    "\"merges\":[\"\xe2\x96\x81 a\",\"a b\"]}}";

static void check_spm(void) {
    char *path = write_in_tmp("spm", "tokenizer.json", SPM_JSON);
    AwqcError err;
    Tokenizer *t = tok_from_hf_json(path, &err);
    CHECK_MSG(t != NULL, "%s", err.msg);
    if (t) {
        CHECK(tok_kind(t) == TOK_SPM_BPE && tok_vocab_size(t) == 10);
        CHECK(tok_bos(t) == -1 && !tok_add_bos(t)); // no tokenizer_config.json
        CHECK(tok_is_eog(t, 2));
        EXPECT(t, "ab a", false, false, 8, 7, 8);
        EXPECT(t, "C\n", false, false, 5, 3, 4); // byte fallback
        EXPECT(t, "ab</s>ab", false, true, 8, 7, 2, 9); // "first": no "▁" after a special
        char buf[8];
        CHECK(tok_decode(t, 8, buf, sizeof buf) == 2 && memcmp(buf, " a", 2) == 0);
        CHECK(tok_decode(t, 4, buf, sizeof buf) == 1 && buf[0] == '\n');
    }
    tok_free(t);
    free(path);
}

// ----------------------------------------------------------------------------
// An NFC normalizer: "e" + U+0301 is composed into "é" (bytes C3 A9, spelled
// "Ã©") before BPE; without one the three bytes stay apart.

static const char NFC_JSON[] =
    "{\"normalizer\":%s,\"pre_tokenizer\":{\"type\":\"ByteLevel\"},"
    "\"model\":{\"type\":\"BPE\",\"vocab\":{\"e\":0,\"\xc3\x83\":1,\"\xc2\xa9\":2,\"\xc3\x8c\":3,"
    "\"\xc4\xa3\":4},\"merges\":[]}}";

static void check_nfc(const char *dir_name, const char *normalizer, bool composes) {
    char *json = awqc_asprintf(NFC_JSON, normalizer);
    char *path = write_in_tmp(dir_name, "tokenizer.json", json);
    AwqcError err;
    Tokenizer *t = tok_from_hf_json(path, &err);
    CHECK_MSG(t != NULL, "%s", err.msg);
    if (t && composes) EXPECT(t, "e\xcc\x81", false, false, 1, 2);
    if (t && !composes) EXPECT(t, "e\xcc\x81", false, false, 0, 3, 4);
    if (t) { // not UTF-8: tokenized as is, and 0xff has no token here, so nothing is left
        int32_t *ids;
        CHECK(tok_encode(t, "\xff", 1, false, false, &ids) == 0);
        free(ids);
    }
    tok_free(t);
    free(json);
    free(path);
}

// ----------------------------------------------------------------------------
// Llama-3 style "ignore_merges": a pre-token that is a whole vocabulary entry
// is one token even where the merges would split it differently.

static const char IGNORE_MERGES_JSON[] =
    "{\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"use_regex\":true},"
    "\"decoder\":{\"type\":\"ByteLevel\"},"
    "\"model\":{\"type\":\"BPE\",\"ignore_merges\":%s,\"vocab\":{\"h\":0,\"e\":1,\"l\":2,\"o\":3,"
    "\"\xc4\xa0\":4,\"he\":5,\"ll\":6,\"hell\":7,\"hello\":8,\"\xc4\xa0hello\":9},"
    "\"merges\":[\"h e\",\"l l\",\"he ll\"]}}";

// "hello " then 101 l's: a short word, then one long enough to move the
// buffer the whole-word lookup spells into.
static char *long_text(void) {
    char l[102];
    memset(l, 'l', 101);
    l[101] = 0;
    return awqc_asprintf("hello %s", l);
}

static void expect_long_word(const Tokenizer *t) {
    int32_t want[53] = {8, 4};
    for (int i = 0; i < 50; i++) want[2 + i] = 6; // "ll" x 50, then "l"
    want[52] = 2;
    char *text = long_text();
    expect_ids(t, text, false, false, want, 53);
    free(text);
}

static void check_ignore_merges(const char *dir_name, bool ignore) {
    char *json = awqc_asprintf(IGNORE_MERGES_JSON, ignore ? "true" : "false");
    char *path = write_in_tmp(dir_name, "tokenizer.json", json);
    AwqcError err;
    Tokenizer *t = tok_from_hf_json(path, &err);
    CHECK_MSG(t != NULL, "%s", err.msg);
    if (t && ignore) {
        EXPECT(t, "hello", false, false, 8);          // merges would give "hell" "o"
        EXPECT(t, "hello hello", false, false, 8, 9); // " hello" is spelled "\u0120hello"
        EXPECT(t, "ohell", false, false, 3, 7);       // not a whole entry: merged as usual
        expect_long_word(t);
    }
    if (t && !ignore) {
        EXPECT(t, "hello", false, false, 7, 3);
        EXPECT(t, "hello hello", false, false, 7, 3, 4, 7, 3);
    }
    tok_free(t);
    free(json);
    free(path);
}

// ----------------------------------------------------------------------------
// Malformed files

static void expect_error(const char *name, const char *json, const char *needle) {
    char *path = write_in_tmp(name, "tokenizer.json", json);
    AwqcError err = {{0}};
    Tokenizer *t = tok_from_hf_json(path, &err);
    CHECK_MSG(t == NULL, "%s should fail", name);
    CHECK_MSG(strstr(err.msg, "tokenizer.json") && strstr(err.msg, needle), "%s: message \"%s\"", name, err.msg);
    tok_free(t);
    free(path);
}

static void check_malformed(void) {
    expect_error("bad_syntax", "{\"model\": {\"type\": \"BPE\", \"vocab\": {", "invalid JSON");
    expect_error("not_object", "[1, 2]", "not a JSON object");
    expect_error("wordpiece", "{\"model\":{\"type\":\"WordPiece\",\"vocab\":{}}}", "not supported");
    expect_error("no_vocab", "{\"decoder\":{\"type\":\"ByteLevel\"},\"model\":{\"type\":\"BPE\",\"merges\":[]}}",
                 "model.vocab");
    expect_error("bad_merges",
                 "{\"decoder\":{\"type\":\"ByteLevel\"},\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},"
                 "\"merges\":[\"ab\"]}}",
                 "model.merges[0]");
    expect_error("bad_id", "{\"decoder\":{\"type\":\"ByteLevel\"},\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":-3},"
                           "\"merges\":[]}}",
                 "model.vocab['a']");
    expect_error("lowercase",
                 "{\"normalizer\":{\"type\":\"Lowercase\"},\"decoder\":{\"type\":\"ByteLevel\"},"
                 "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]}}",
                 "normalizer 'Lowercase' is not supported");
    expect_error("unknown_kind", "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]}}",
                 "cannot tell");
    expect_error("bad_regex",
                 "{\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"(\"},\"behavior\":\"Isolated\"},"
                 "\"decoder\":{\"type\":\"ByteLevel\"},\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]}}",
                 "regex");
    AwqcError err = {{0}};
    char *missing = awqc_asprintf("%s/none/tokenizer.json", test_tmpdir());
    CHECK(tok_from_hf_json(missing, &err) == NULL && strstr(err.msg, "none/tokenizer.json"));
    free(missing);
}

int main(void) {
    check_byte_level("strings", BYTE_MERGES_STRINGS);
    check_byte_level("pairs", BYTE_MERGES_PAIRS);
    check_chat_templates();
    check_spm();
    check_nfc("nfc", "{\"type\":\"NFC\"}", true);
    check_nfc("nfc_seq", "{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"NFC\"}]}", true);
    check_nfc("no_nfc", "null", false);
    check_ignore_merges("ignore_merges", true);
    check_ignore_merges("use_merges", false);
    check_malformed();
    return test_result();
}
