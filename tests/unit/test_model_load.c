// test_model_load.c: loading a checkpoint as a runnable model refuses what
// the ops cannot express yet (RoPE scaling) with a message naming the file and
// the key, and reports a missing tokenizer instead of crashing.
#include <stdlib.h>
#include <string.h>

#include "runtime/model.h"
#include "test_lang_tiny_hf.h"
#include "test_support.h"

static char *models_dir(void) { return awqc_asprintf("%s/models", test_source_dir()); }

// Adds a key to the tiny folder's config.json (before its closing brace).
static void add_config_key(const char *dir, const char *json_member) {
    char *path = awqc_asprintf("%s/config.json", dir);
    AwqcError err;
    char *text = awqc_read_file(path, NULL, &err);
    AWQC_ASSERT(text);
    *strrchr(text, '}') = 0;
    char *patched = awqc_asprintf("%s, %s}", text, json_member);
    test_write_file(path, patched, strlen(patched));
    free(patched);
    free(text);
    free(path);
}

static void expect_load_error(const char *dir, const char *needle) {
    char *models = models_dir();
    ModelLoadOptions o = {.models_dir = models, .load_weights = true, .quiet = true};
    AwqcError err = {{0}};
    Model *m = model_load(dir, &o, &err);
    CHECK(m == NULL);
    CHECK_MSG(strstr(err.msg, needle) && strstr(err.msg, dir), "got: %s", err.msg);
    model_free(m);
    free(models);
}

int main(void) {
    char *dir = tiny_hf_folder("scaled", true, false, false);
    add_config_key(dir, "\"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0}");
    expect_load_error(dir, "RoPE scaling 'llama3' (rope_scaling.rope_type) is not supported yet");
    free(dir);
    dir = tiny_hf_folder("plain", true, false, false);
    expect_load_error(dir, "tokenizer.json"); // weights fine, no tokenizer
    free(dir);
    return test_result();
}
