// fuzz_ckpt.c: libFuzzer harness for the checkpoint readers. The first input
// byte picks the format (even: GGUF, odd: safetensors); the rest is written to
// a temp file, opened, and every metadata value and small tensor is read.
// Not built by default: CC=clang cmake -DAWQC_FUZZ=ON (see CMakeLists.txt here).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_touch_ckpt.h"

// ----------------------------------------------------------------------------

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    char path[64];
    snprintf(path, sizeof path, "/tmp/fuzz_ckpt_%d.%s", (int)getpid(), data[0] & 1 ? "safetensors" : "gguf");
    fuzz_write_file(path, data + 1, size - 1);
    AwqcError err;
    Checkpoint *c = ckpt_open(path, &err);
    if (c) {
        fuzz_touch_checkpoint(c);
        ckpt_close(c);
    } else {
        fuzz_note("checkpoint", &err);
    }
    unlink(path);
    return 0;
}
