// fuzz_hf_folder.c: libFuzzer harness for Hugging Face checkpoint folders. Input:
// config.json NUL model.safetensors.index.json NUL shard bytes (an empty index
// writes model.safetensors, else both shards an index may name); every value,
// tensor and AWQ linear (codes too) of the opened folder is read. See CMakeLists.txt.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_touch_ckpt.h"

static const char *const SHARD_NAMES[] = {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"};

typedef struct {
    const uint8_t *p;
    size_t n;
} Part;

// ----------------------------------------------------------------------------
// the folder

// Cuts off the bytes up to the next NUL (all of them when there is none).
static Part next_part(const uint8_t **data, size_t *size) {
    const uint8_t *nul = memchr(*data, 0, *size);
    Part part = {*data, nul ? (size_t)(nul - *data) : *size};
    size_t used = nul ? part.n + 1 : part.n;
    *data += used;
    *size -= used;
    return part;
}

static char *write_part(const char *dir, const char *name, const uint8_t *p, size_t n) {
    char *path = awqc_asprintf("%s/%s", dir, name);
    fuzz_write_file(path, p, n);
    return path;
}

// Writes the folder; returns the paths written (NULL-terminated, to remove).
static char **write_folder(const char *dir, const uint8_t *data, size_t size) {
    char **paths = xcalloc(5, sizeof *paths);
    Part config = next_part(&data, &size), index = next_part(&data, &size);
    size_t n = 0;
    paths[n++] = write_part(dir, "config.json", config.p, config.n);
    if (index.n == 0) {
        paths[n++] = write_part(dir, "model.safetensors", data, size);
        return paths;
    }
    paths[n++] = write_part(dir, "model.safetensors.index.json", index.p, index.n);
    for (size_t i = 0; i < 2; i++) paths[n++] = write_part(dir, SHARD_NAMES[i], data, size);
    return paths;
}

static void remove_folder(const char *dir, char **paths) {
    for (size_t i = 0; paths[i]; i++) {
        unlink(paths[i]);
        free(paths[i]);
    }
    free(paths);
    rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char dir[] = "/tmp/fuzz_hf_folder_XXXXXX";
    if (!mkdtemp(dir)) abort();
    char **paths = write_folder(dir, data, size);
    AwqcError err;
    Checkpoint *c = ckpt_open(dir, &err);
    if (c) {
        fuzz_touch_checkpoint(c);
        ckpt_close(c);
    } else {
        fuzz_note("folder", &err);
    }
    remove_folder(dir, paths);
    return 0;
}
