// fuzz_tokenize.c: libFuzzer harness encoding arbitrary bytes (and a chat with
// them as the user message) with real tokenizers: the spm_bpe.gguf fixture by
// score, the same exported to tokenizer.json by merge rank with a Llama 2
// template, and the cached default model's byte-level BPE with ChatML.
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/tokenizer/tok_export.h"
#include "runtime/tokenizer/tokenizer.h"

#define MAX_TOKENIZERS 3

static const char LLAMA2_TEMPLATE[] =
    "{% for message in messages %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + "
    "message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' ' + message['content'] "
    "+ ' ' + eos_token }}{% endif %}{% endfor %}";

static Tokenizer *g_toks[MAX_TOKENIZERS];
static size_t g_n_toks;

// ----------------------------------------------------------------------------
// loading the tokenizers once

static const char *source_dir(void) {
    const char *env = getenv("AWQC_SOURCE_DIR");
    return env && *env ? env : AWQC_FUZZ_SOURCE_DIR;
}

// A checkpoint's tokenizer; NULL when the file is absent and may be, else abort.
static Tokenizer *from_checkpoint(const char *path, bool optional) {
    AwqcError err;
    Checkpoint *c = ckpt_open(path, &err);
    if (!c && optional) {
        fprintf(stderr, "fuzz_tokenize: skipping %s: %s\n", path, err.msg);
        return NULL;
    }
    Tokenizer *t = c ? tok_from_checkpoint(c, &err) : NULL;
    if (!t) {
        fprintf(stderr, "fuzz_tokenize: %s\n", err.msg);
        abort();
    }
    ckpt_close(c);
    return t;
}

// t's documents read back, merges by rank instead of scores, with a Llama 2 template.
static Tokenizer *exported_with_llama2(const Tokenizer *t) {
    char *json, *config;
    AwqcError err;
    if (!tok_to_hf_text(t, 0, &json, &config, &err)) abort();
    cJSON *root = cJSON_Parse(config);
    if (!root) abort();
    cJSON_DeleteItemFromObjectCaseSensitive(root, "chat_template");
    cJSON_AddStringToObject(root, "chat_template", LLAMA2_TEMPLATE);
    char *with_template = cJSON_PrintUnformatted(root);
    Tokenizer *back = tok_from_hf_text(json, strlen(json), with_template, "spm_bpe exported", &err);
    if (!back) {
        fprintf(stderr, "fuzz_tokenize: %s\n", err.msg);
        abort();
    }
    cJSON_free(with_template);
    cJSON_Delete(root);
    free(json);
    free(config);
    return back;
}

static void load_tokenizers(void) {
    char *spm = awqc_asprintf("%s/tests/fixtures/tokenizer/spm_bpe.gguf", source_dir());
    g_toks[g_n_toks++] = from_checkpoint(spm, false);
    g_toks[g_n_toks++] = exported_with_llama2(g_toks[0]);
    free(spm);
    char *model = awqc_default_model_path();
    Tokenizer *byte_level = from_checkpoint(model, true);
    if (byte_level) g_toks[g_n_toks++] = byte_level;
    free(model);
}

// ----------------------------------------------------------------------------
// one input through every tokenizer

static void decode_all(const Tokenizer *t, const int32_t *ids, size_t n) {
    char buf[256];
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= tok_vocab_size(t)) abort(); // encode only makes ids of the vocabulary
        if (tok_decode(t, ids[i], buf, sizeof buf) > sizeof buf) abort();
    }
}

static void encode_decode(const Tokenizer *t, const char *text, size_t len) {
    for (int special = 0; special < 2; special++) {
        int32_t *ids = NULL;
        size_t n = tok_encode(t, text, len, !special, special, &ids);
        decode_all(t, ids, n);
        free(ids);
    }
}

static void chat(const Tokenizer *t, const char *user) {
    ChatMessage msgs[] = {{"system", "You are terse."}, {"user", user}};
    AwqcError err;
    for (size_t first = 0; first < 2; first++) {
        char *text = tok_apply_chat_template(t, msgs + first, 2 - first, true, &err);
        if (text) encode_decode(t, text, strlen(text));
        free(text);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (g_n_toks == 0) load_tokenizers();
    char *user = xstrndup((const char *)data, size); // messages are C strings: up to the first NUL
    for (size_t i = 0; i < g_n_toks; i++) {
        encode_decode(g_toks[i], (const char *)data, size);
        chat(g_toks[i], user);
    }
    free(user);
    return 0;
}
