// test_tok_gguf.c: tokenizers from small hand-built GGUF files: a working
// byte-level vocabulary (with an unknown pre-tokenizer name, which falls back
// to GPT-2's split), and clean errors for missing or inconsistent metadata.
#include "test_ckpt_gguf_writer.h"
#include "test_tok_fixture.h"

// ----------------------------------------------------------------------------
// Building files

static const char *const TOKENS[] = {"a", "b", "ab", "\xc4\xa0", "\xc4\xa0" "ab", "<|im_end|>"};
#define N_TOKENS 6

static void meta_i32_array(GgufMeta *m, const char *key, const int32_t *v, size_t n) {
    Buf *b = meta_begin(m, key, GT_ARRAY);
    put_u32(b, GT_I32);
    put_u64(b, n);
    for (size_t i = 0; i < n; i++) put_u32(b, (uint32_t)v[i]);
}

static void meta_byte_level(GgufMeta *m, const char *pre, size_t n_types) {
    static const int32_t types[N_TOKENS] = {1, 1, 1, 1, 1, 3};
    static const char *const merges[] = {"a b", "\xc4\xa0 ab"};
    meta_str(m, "tokenizer.ggml.model", "gpt2");
    meta_str(m, "tokenizer.ggml.pre", pre);
    meta_str_array(m, "tokenizer.ggml.tokens", TOKENS, N_TOKENS);
    meta_i32_array(m, "tokenizer.ggml.token_type", types, n_types);
    meta_str_array(m, "tokenizer.ggml.merges", merges, 2);
    meta_u32(m, "tokenizer.ggml.eos_token_id", 5);
}

// Writes the metadata as a tensor-less GGUF and builds its tokenizer.
static Tokenizer *tokenizer_of(const char *name, GgufMeta *m, AwqcError *err) {
    Buf file = gguf_build(3, m, NULL, 0, 32, NULL);
    char *path = awqc_asprintf("%s/%s.gguf", test_tmpdir(), name);
    test_write_file(path, file.p, file.n);
    Checkpoint *c = ckpt_open(path, err);
    CHECK_MSG(c != NULL, "%s: %s", name, err->msg);
    Tokenizer *t = c ? tok_from_checkpoint(c, err) : NULL;
    ckpt_close(c);
    free(path);
    free(file.p);
    free(m->kv.p);
    return t;
}

// ----------------------------------------------------------------------------
// A working vocabulary

static void check_small_byte_level(void) {
    GgufMeta m = {0};
    meta_byte_level(&m, "no-such-pre-tokenizer", N_TOKENS); // warns, then splits like GPT-2
    AwqcError err;
    Tokenizer *t = tokenizer_of("good", &m, &err);
    CHECK_MSG(t != NULL, "%s", err.msg);
    if (!t) return;
    CHECK(tok_kind(t) == TOK_BYTE_BPE && tok_vocab_size(t) == N_TOKENS);
    CHECK(tok_eos(t) == 5 && tok_bos(t) == -1 && !tok_add_bos(t));
    int32_t *ids;
    size_t n = tok_encode(t, "ab ab<|im_end|>", 15, true, true, &ids);
    CHECK(n == 3 && ids[0] == 2 && ids[1] == 4 && ids[2] == 5);
    free(ids);
    AwqcError chat_err;
    ChatMessage msg = {"user", "x"};
    CHECK(tok_apply_chat_template(t, &msg, 1, true, &chat_err) == NULL);
    CHECK(strstr(chat_err.msg, "chat template not supported") != NULL);
    tok_free(t);
}

// ----------------------------------------------------------------------------
// Broken metadata

static void expect_failure(const char *name, GgufMeta *m, const char *needle) {
    AwqcError err = {{0}};
    Tokenizer *t = tokenizer_of(name, m, &err);
    CHECK_MSG(t == NULL, "%s should fail", name);
    CHECK_MSG(strstr(err.msg, ".gguf") && strstr(err.msg, needle), "%s: message \"%s\"", name, err.msg);
    tok_free(t);
}

static void check_broken(void) {
    GgufMeta m = {0};
    meta_str(&m, "general.architecture", "llama");
    expect_failure("no_tokenizer", &m, "tokenizer.ggml.model");

    m = (GgufMeta){0};
    meta_str(&m, "tokenizer.ggml.model", "bert");
    expect_failure("bert", &m, "not supported");

    m = (GgufMeta){0};
    meta_byte_level(&m, "gpt2", N_TOKENS - 1);
    expect_failure("short_types", &m, "tokenizer.ggml.token_type has 5 entries for 6 tokens");

    m = (GgufMeta){0};
    static const char *const bad_merges[] = {"ab"};
    meta_str(&m, "tokenizer.ggml.model", "gpt2");
    meta_str_array(&m, "tokenizer.ggml.tokens", TOKENS, N_TOKENS);
    meta_str_array(&m, "tokenizer.ggml.merges", bad_merges, 1);
    expect_failure("bad_merge", &m, "tokenizer.ggml.merges[0]");

    m = (GgufMeta){0};
    meta_str(&m, "tokenizer.ggml.model", "llama");
    meta_str_array(&m, "tokenizer.ggml.tokens", TOKENS, N_TOKENS);
    expect_failure("no_scores", &m, "tokenizer.ggml.scores");

    m = (GgufMeta){0};
    static const float scores[2] = {0, -1};
    meta_str(&m, "tokenizer.ggml.model", "llama");
    meta_f32_array(&m, "tokenizer.ggml.tokens", scores, 2);
    expect_failure("tokens_not_strings", &m, "wrong type");
}

int main(void) {
    check_small_byte_level();
    check_broken();
    return test_result();
}
