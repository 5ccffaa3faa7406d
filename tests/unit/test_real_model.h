// test_real_model.h: what the tests on the real default model share: loading
// it (skipped, exit 77, when it is not cached) with the source tree's model
// descriptions, and reading the wikitext-2 files kept beside the repository.
// Header-only, static inline: each test is its own executable.
#ifndef TEST_REAL_MODEL_H
#define TEST_REAL_MODEL_H

#include <stdlib.h>

#include "runtime/model.h"
#include "test_support.h"

// The default model with bound FP32 weights; aborts the test on a load error.
static inline Model *test_load_default_model(void) {
    const char *path = test_model_or_skip();
    char *models = awqc_asprintf("%s/models", test_source_dir());
    AwqcError err;
    Model *m = model_load(path, &(ModelLoadOptions){.models_dir = models, .load_weights = true, .quiet = true}, &err);
    free(models);
    if (!m) AWQC_PANIC("%s", err.msg);
    return m;
}

// ../shared/data/wikitext-2/<name> (heap, NUL-terminated); skips when absent.
static inline char *test_read_wikitext(const char *name, size_t *len) {
    char *path = awqc_asprintf("%s/../shared/data/wikitext-2/%s", test_source_dir(), name);
    AwqcError err;
    char *text = awqc_read_file(path, len, &err);
    free(path);
    if (!text) test_skip(err.msg);
    return text;
}

#endif
