// test_tok_export.c: tok_write_hf round trips. The SentencePiece fixture and
// the default model's byte-level tokenizer are written as Hugging Face folders
// and read back with tok_from_hf_json; both must encode, decode and render
// chat the same, and match the reference ids. Also unusable directories.
// `test_tok_export --write DIR [MODEL.gguf]` only writes DIR (for
// tests/reference/check_tok_export.py).
#include <dirent.h>
#include <sys/stat.h>

#include "runtime/tokenizer/tok_export.h"
#include "test_tok_fixture.h"

// ----------------------------------------------------------------------------
// Helpers

static Tokenizer *tokenizer_of_gguf(const char *path, int64_t *context_length) {
    AwqcError err;
    Checkpoint *c = ckpt_open(path, &err);
    CHECK_MSG(c != NULL, "%s", err.msg);
    if (!c) return NULL;
    Tokenizer *t = tok_from_checkpoint(c, &err);
    CHECK_MSG(t != NULL, "%s", err.msg);
    const char *arch;
    *context_length = 0;
    if (ckpt_meta_string(c, "general.architecture", &arch)) {
        char *key = awqc_asprintf("%s.context_length", arch);
        ckpt_meta_int(c, key, context_length);
        free(key);
    }
    ckpt_close(c);
    return t;
}

static char *file_in(const char *dir, const char *name) { return awqc_asprintf("%s/%s", dir, name); }

// Writes t into a fresh folder under the test's temp dir and reads it back.
static Tokenizer *export_and_reload(const Tokenizer *t, const char *name, char **dir_out) {
    char *dir = file_in(test_tmpdir(), name);
    mkdir(dir, 0755);
    AwqcError err;
    bool ok = tok_write_hf(t, dir, 8192, &err);
    CHECK_MSG(ok, "%s", err.msg);
    char *json = file_in(dir, "tokenizer.json");
    Tokenizer *back = ok ? tok_from_hf_json(json, &err) : NULL;
    CHECK_MSG(!ok || back != NULL, "%s", err.msg);
    free(json);
    *dir_out = dir;
    return back;
}

// ----------------------------------------------------------------------------
// Comparing the original with the reloaded tokenizer

static void check_same_properties(const Tokenizer *a, const Tokenizer *b) {
    CHECK(tok_kind(a) == tok_kind(b));
    CHECK(tok_vocab_size(a) == tok_vocab_size(b));
    CHECK(tok_bos(a) == tok_bos(b) && tok_eos(a) == tok_eos(b));
    CHECK(tok_add_bos(a) == tok_add_bos(b));
    int bad_decode, bad_eog;
    tok_count_differences(a, b, &bad_decode, &bad_eog);
    CHECK_MSG(bad_decode == 0, "%d tokens decode differently", bad_decode);
    CHECK_MSG(bad_eog == 0, "%d tokens differ in end-of-generation", bad_eog);
}

// Up to 16 ids from the first difference on (long texts give long lists).
static void print_from(const char *label, const int32_t *ids, size_t n, size_t at) {
    size_t start = at < n ? at : n;
    fprintf(stderr, "  %s (%zu ids), from id %zu:", label, n, start);
    for (size_t i = start; i < n && i < start + 16; i++) fprintf(stderr, " %d", ids[i]);
    fputc('\n', stderr);
}

// Same ids from both for text; prints where they first differ.
static bool same_ids(const Tokenizer *a, const Tokenizer *b, const char *text, size_t len, bool parse_special) {
    int32_t *x, *y;
    size_t nx = tok_encode(a, text, len, true, parse_special, &x);
    size_t ny = tok_encode(b, text, len, true, parse_special, &y);
    size_t at = 0;
    while (at < nx && at < ny && x[at] == y[at]) at++;
    bool same = nx == ny && at == nx;
    if (!same) {
        fprintf(stderr, "encodings differ for \"%.80s\" (parse_special %d)\n", text, parse_special);
        print_from("original", x, nx, at);
        print_from("reloaded", y, ny, at);
    }
    free(x);
    free(y);
    return same;
}

static void check_same_on_fixture(const Tokenizer *a, const Tokenizer *b, const cJSON *cases) {
    int bad = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cases) {
        const char *text = cJSON_GetObjectItem(c, "text")->valuestring;
        bad += !same_ids(a, b, text, strlen(text), true);
        bad += !same_ids(a, b, text, strlen(text), false);
    }
    CHECK_MSG(bad == 0, "%d fixture encodings differ", bad);
}

// The first 100 KB of wikitext-2 valid.txt, when the shared data is there.
static void check_same_on_wikitext(const Tokenizer *a, const Tokenizer *b) {
    char *path = awqc_asprintf("%s/../shared/data/wikitext-2/valid.txt", test_source_dir());
    size_t len;
    char *text = awqc_read_file(path, &len, NULL);
    if (text) {
        CHECK(same_ids(a, b, text, len < 100000 ? len : 100000, true));
    } else {
        printf("%s not found; skipping the wikitext comparison\n", path);
    }
    free(text);
    free(path);
}

static cJSON *read_json(const char *dir, const char *name) {
    char *path = file_in(dir, name);
    size_t len;
    char *text = awqc_read_file(path, &len, NULL);
    cJSON *root = text ? cJSON_ParseWithLength(text, len) : NULL;
    CHECK_MSG(cJSON_IsObject(root), "%s is not a JSON object", path);
    free(text);
    free(path);
    return root;
}

static bool json_string_is(const cJSON *o, const char *key, const char *want) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) && strcmp(v->valuestring, want) == 0;
}

// ----------------------------------------------------------------------------
// SentencePiece: score-ordered merges become ranked ones

static void check_spm(const Tokenizer *t) {
    char *dir;
    Tokenizer *back = export_and_reload(t, "spm", &dir);
    if (back) {
        check_same_properties(t, back);
        cJSON *cases = fixture_load("spm_bpe.json");
        CHECK(fixture_check_all(back, cases, false, " ") == 0);
        check_same_on_fixture(t, back, cases);
        cJSON_Delete(cases);
        check_same_on_wikitext(t, back);
        CHECK(same_ids(t, back, "a</s>b <s> c", 11, true));
    }
    cJSON *config = read_json(dir, "tokenizer_config.json");
    CHECK(json_string_is(config, "bos_token", "<s>") && json_string_is(config, "eos_token", "</s>"));
    CHECK(json_string_is(config, "unk_token", "<unk>"));
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(config, "add_bos_token")));
    cJSON_Delete(config);
    tok_free(back);
    free(dir);
}

// ----------------------------------------------------------------------------
// Unusable directories: clear errors naming the path, no stray files

static void expect_write_error(const Tokenizer *t, const char *dir, const char *needle) {
    AwqcError err = {{0}};
    CHECK_MSG(!tok_write_hf(t, dir, 0, &err), "writing into %s should fail", dir);
    CHECK_MSG(strstr(err.msg, needle) != NULL, "message \"%s\" should name %s", err.msg, needle);
}

// Nothing in dir but the names listed (no *.tmp.* left behind).
static int count_stray_files(const char *dir) {
    DIR *d = opendir(dir);
    int stray = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (strstr(e->d_name, ".tmp.")) stray++;
    }
    if (d) closedir(d);
    return stray;
}

static void check_errors(const Tokenizer *t) {
    char *missing = file_in(test_tmpdir(), "no_such_dir");
    expect_write_error(t, missing, missing);
    struct stat st;
    CHECK(stat(missing, &st) != 0); // not created behind the caller's back

    char *plain = file_in(test_tmpdir(), "plain_file");
    test_write_file(plain, "x", 1);
    char *under_file = file_in(plain, "sub");
    expect_write_error(t, under_file, under_file);
    expect_write_error(t, plain, "not a directory");

    // A directory squatting on tokenizer_config.json: the rename fails.
    char *dir = file_in(test_tmpdir(), "blocked");
    mkdir(dir, 0755);
    char *blocker = file_in(dir, "tokenizer_config.json");
    mkdir(blocker, 0755);
    expect_write_error(t, dir, blocker);
    CHECK_MSG(count_stray_files(dir) == 0, "temp files left in %s", dir);
    free(missing), free(plain), free(under_file), free(dir), free(blocker);
}

// ----------------------------------------------------------------------------
// The default model: byte-level BPE with the smollm pre-tokenizer, ChatML

static void check_same_chat(const Tokenizer *a, const Tokenizer *b) {
    ChatMessage msgs[] = {{"user", "What is 2+2?"}, {"assistant", "4"}, {"user", "And 3+3?"}};
    AwqcError ea, eb;
    char *x = tok_apply_chat_template(a, msgs, 3, true, &ea);
    char *y = tok_apply_chat_template(b, msgs, 3, true, &eb);
    CHECK_MSG(x && y && strcmp(x, y) == 0, "chat renderings differ: \"%s\" vs \"%s\"", x ? x : ea.msg,
              y ? y : eb.msg);
    CHECK(x && strstr(x, "<|im_start|>system\nYou are a helpful AI assistant named SmolLM"));
    if (x && y) CHECK(same_ids(a, b, x, strlen(x), true));
    free(x);
    free(y);
}

static void check_default_config(const char *dir) {
    cJSON *config = read_json(dir, "tokenizer_config.json");
    CHECK(json_string_is(config, "bos_token", "<|im_start|>") && json_string_is(config, "eos_token", "<|im_end|>"));
    CHECK(cJSON_IsFalse(cJSON_GetObjectItem(config, "add_bos_token")));
    CHECK(cJSON_GetObjectItem(config, "model_max_length")->valueint == 8192);
    CHECK(json_string_is(config, "tokenizer_class", "PreTrainedTokenizerFast"));
    CHECK(cJSON_IsString(cJSON_GetObjectItem(config, "chat_template")));
    cJSON_Delete(config);
    cJSON *map = read_json(dir, "special_tokens_map.json");
    CHECK(json_string_is(map, "eos_token", "<|im_end|>"));
    cJSON_Delete(map);
}

static void check_default_model(void) {
    int64_t ctx;
    Tokenizer *t = tokenizer_of_gguf(test_model_or_skip(), &ctx);
    char *dir = NULL;
    Tokenizer *back = t ? export_and_reload(t, "smollm2", &dir) : NULL;
    if (back) {
        check_same_properties(t, back);
        cJSON *cases = fixture_load("smollm2_bpe.json");
        CHECK(fixture_check_all(back, cases, true, NULL) == 0);
        check_same_on_fixture(t, back, cases);
        cJSON_Delete(cases);
        check_same_on_wikitext(t, back);
        check_same_chat(t, back);
        check_default_config(dir);
    }
    tok_free(back);
    tok_free(t);
    free(dir);
}

// ----------------------------------------------------------------------------

// --write DIR [MODEL.gguf]: the folder for the Python reference check.
static int write_only(const char *dir, const char *model) {
    char *path = model ? xstrdup(model) : awqc_default_model_path();
    int64_t ctx;
    Tokenizer *t = tokenizer_of_gguf(path, &ctx);
    mkdir(dir, 0755);
    AwqcError err;
    bool ok = t && tok_write_hf(t, dir, ctx, &err);
    if (t && !ok) fprintf(stderr, "%s\n", err.msg);
    if (ok) printf("wrote the tokenizer of %s to %s\n", path, dir);
    tok_free(t);
    free(path);
    return ok ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc >= 3 && strcmp(argv[1], "--write") == 0) return write_only(argv[2], argc > 3 ? argv[3] : NULL);
    char *spm_path = awqc_asprintf("%s/tests/fixtures/tokenizer/spm_bpe.gguf", test_source_dir());
    int64_t ctx;
    Tokenizer *spm = tokenizer_of_gguf(spm_path, &ctx);
    free(spm_path);
    if (spm) {
        check_spm(spm);
        check_errors(spm);
    }
    tok_free(spm);
    // The model may be missing (a skip): report the failures so far first.
    if (test_failures > 0) return test_result();
    check_default_model();
    return test_result();
}
