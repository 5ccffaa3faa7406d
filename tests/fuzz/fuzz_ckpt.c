// fuzz_ckpt.c: libFuzzer harness for the checkpoint readers. The first input
// byte picks the format (even: GGUF, odd: safetensors); the rest is written to
// a temp file, opened, and every metadata value and small tensor is read.
// Not built by default: CC=clang cmake -DAWQC_FUZZ=ON (see CMakeLists.txt here).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frontend/ckpt/checkpoint.h"
#include "fuzz_common.h"

// ----------------------------------------------------------------------------

static void touch_metadata(const Checkpoint *c) {
    for (size_t i = 0; i < ckpt_meta_count(c); i++) {
        const char *key = ckpt_meta_key_at(c, i), *s;
        MetaArray a;
        double f;
        if (ckpt_meta_string(c, key, &s)) (void)strlen(s);
        if (ckpt_meta_float(c, key, &f)) (void)f;
        if (ckpt_meta_array(c, key, &a) && a.len && a.elem_kind == META_STRING) (void)strlen(a.strs[a.len - 1]);
    }
}

static void touch_tensors(const Checkpoint *c) {
    for (size_t i = 0; i < ckpt_tensor_count(c); i++) {
        const CkptTensor *t = ckpt_tensor_at(c, i);
        AwqcError err;
        if (!ckpt_tensor_loadable(t)) { // refused without touching dst
            ckpt_load_f32(c, t, NULL, &err);
            continue;
        }
        if (t->n_elements > (1 << 22)) continue; // bounded by the file for loadable types anyway
        float *dst = malloc((size_t)t->n_elements * sizeof(float) + 1);
        ckpt_load_f32(c, t, dst, &err);
        free(dst);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    char path[64];
    snprintf(path, sizeof path, "/tmp/fuzz_ckpt_%d.%s", (int)getpid(), data[0] & 1 ? "safetensors" : "gguf");
    fuzz_write_file(path, data + 1, size - 1);
    AwqcError err;
    Checkpoint *c = ckpt_open(path, &err);
    if (c) {
        touch_metadata(c);
        touch_tensors(c);
        ckpt_close(c);
    } else {
        fuzz_note("checkpoint", &err);
    }
    unlink(path);
    return 0;
}
