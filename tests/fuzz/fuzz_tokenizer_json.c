// fuzz_tokenizer_json.c: libFuzzer harness for tok_from_hf_text. Input:
// tokenizer.json [NUL tokenizer_config.json]; what loads encodes and decodes a
// few fixed strings and the input itself, and renders a chat.
// Not built by default: see CMakeLists.txt here.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "runtime/tokenizer/tokenizer.h"

static const char *const PROBES[] = {
    "Hello, world! How are you today?",
    "  leading spaces, digits 12345 and\ttabs\n\nnewlines",
    "<|im_start|>user\nhi<|im_end|><s></s><unk>",
    "caf\xc3\xa9 \xe2\x96\x81 \xe4\xbd\xa0\xe5\xa5\xbd \xf0\x9f\x98\x80 \xff\xfe bad utf-8",
};

// ----------------------------------------------------------------------------

static void decode_all(const Tokenizer *t, const int32_t *ids, size_t n) {
    char buf[64];
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= tok_vocab_size(t)) abort(); // encode only makes ids of the vocabulary
        size_t got = tok_decode(t, ids[i], buf, sizeof buf);
        if (got > sizeof buf) abort();
        (void)tok_is_eog(t, ids[i]);
    }
}

static void round_trip(const Tokenizer *t, const char *text, size_t len) {
    for (int special = 0; special < 2; special++) {
        int32_t *ids = NULL;
        size_t n = tok_encode(t, text, len, special, special, &ids);
        decode_all(t, ids, n);
        free(ids);
    }
}

static void render_chat(const Tokenizer *t, const char *user) {
    ChatMessage msgs[] = {{"system", "Be brief."}, {"user", user}, {"assistant", "Sure."}};
    AwqcError err;
    for (size_t first = 0; first < 2; first++) {
        char *text = tok_apply_chat_template(t, msgs + first, 3 - first, true, &err);
        if (text) round_trip(t, text, strlen(text));
        free(text);
    }
}

static void exercise(const Tokenizer *t, const uint8_t *data, size_t size) {
    (void)tok_kind(t);
    (void)tok_bos(t);
    (void)tok_eos(t);
    (void)tok_add_bos(t);
    const char *tmpl = tok_chat_template(t);
    if (tmpl) (void)strlen(tmpl);
    for (size_t i = 0; i < sizeof PROBES / sizeof *PROBES; i++) {
        round_trip(t, PROBES[i], strlen(PROBES[i]));
        (void)tok_find(t, PROBES[i]);
    }
    round_trip(t, (const char *)data, size);
    render_chat(t, PROBES[0]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *nul = memchr(data, 0, size);
    size_t json_len = nul ? (size_t)(nul - data) : size;
    char *config = nul ? xstrndup((const char *)nul + 1, size - json_len - 1) : NULL;
    AwqcError err;
    Tokenizer *t = tok_from_hf_text((const char *)data, json_len, config, "fuzz", &err);
    if (t) {
        exercise(t, data, size);
        tok_free(t);
    } else {
        fuzz_note("tokenizer", &err);
    }
    free(config);
    return 0;
}
