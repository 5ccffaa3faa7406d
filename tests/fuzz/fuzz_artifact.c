// fuzz_artifact.c: libFuzzer harness for the .awqx loader. The first input byte
// is a mode (odd: the harness recomputes every in-bounds section checksum and
// the table's, so mutations reach the plan, weight index and tokenizer); the
// rest is the file. Not built by default; seeds from make_seeds.c.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "fuzz_common.h"
#include "runtime/artifact.h"

// ----------------------------------------------------------------------------
// checksums

// The layout is the reader's (runtime/artifact.h, docs/artifact.md).
static void repair_checksums(uint8_t *file, size_t size) {
    if (size < AWQX_HEADER_SIZE) return;
    uint64_t n = awqc_load_le(file + AWQX_HDR_N_SECTIONS, 4);
    if (n > AWQX_MAX_SECTIONS || AWQX_HEADER_SIZE + n * AWQX_ENTRY_SIZE > size) return;
    for (uint64_t i = 0; i < n; i++) {
        uint8_t *e = file + AWQX_HEADER_SIZE + i * AWQX_ENTRY_SIZE;
        uint64_t offset = awqc_load_le(e + AWQX_ENT_OFFSET, 8), len = awqc_load_le(e + AWQX_ENT_SIZE, 8);
        if (offset <= size && len <= size - offset)
            awqc_store_le(e + AWQX_ENT_CHECKSUM, XXH3_64bits(file + offset, (size_t)len), 8);
    }
    awqc_store_le(file + AWQX_HDR_TABLE_CHECKSUM, XXH3_64bits(file + AWQX_HEADER_SIZE, (size_t)n * AWQX_ENTRY_SIZE), 8);
}

// ----------------------------------------------------------------------------
// loading everything

static void touch_tokenizer(const Tokenizer *t) {
    static const char text[] = "<|im_start|>user\nHello, world 123!<|im_end|>";
    int32_t *ids = NULL;
    size_t n = tok_encode(t, text, sizeof text - 1, true, true, &ids);
    char buf[64];
    for (size_t i = 0; i < n; i++) (void)tok_decode(t, ids[i], buf, sizeof buf);
    free(ids);
}

static void touch_artifact(const Artifact *a) {
    AwqcError err;
    for (size_t i = 0; i < artifact_section_count(a); i++) (void)strlen(artifact_section_at(a, i)->name);
    static const char *const keys[] = {"format", "target", "model", "source", "awqc_version"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        const char *s = artifact_meta_string(a, keys[i]);
        if (s) (void)strlen(s);
    }
    Graph *g = artifact_load_graph(a, &err);
    if (g) ir_graph_free(g);
    else fuzz_note("graph", &err);
    Tokenizer *t = artifact_load_tokenizer(a, &err);
    if (t) {
        touch_tokenizer(t);
        tok_free(t);
    } else {
        fuzz_note("tokenizer", &err);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    uint8_t *file = xmalloc(size);
    memcpy(file, data + 1, size - 1);
    if (data[0] & 1) repair_checksums(file, size - 1);
    char path[64];
    snprintf(path, sizeof path, "/tmp/fuzz_artifact_%d.awqx", (int)getpid());
    fuzz_write_file(path, file, size - 1);
    free(file);
    AwqcError err;
    (void)artifact_is_file(path);
    Artifact *a = artifact_open(path, &err);
    if (a) {
        touch_artifact(a);
        artifact_close(a);
    } else {
        fuzz_note("artifact", &err);
    }
    unlink(path);
    return 0;
}
