// fuzz_lang.c: libFuzzer harness for the model description language: what
// parses is lowered (no weight data) against a tiny LLaMA-shaped GGUF written
// at start-up, so evaluation, loops, interpolation and shape checks run too.
// Not built by default: CC=clang cmake -DAWQC_FUZZ=ON (see CMakeLists.txt here).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frontend/lang/lang.h"
#include "../unit/test_ckpt_gguf_writer.h"

#define DIM 8
#define FF 16
#define VOCAB 10
#define LAYERS 2

static Checkpoint *g_ckpt;

// ----------------------------------------------------------------------------
// the tiny checkpoint: GGUF names, f32 zeros

static void meta_int(GgufMeta *m, const char *key, uint32_t v) { meta_u32(m, key, v); }

static void add_meta(GgufMeta *m) {
    meta_str(m, "general.architecture", "llama");
    meta_int(m, "llama.embedding_length", DIM);
    meta_int(m, "llama.block_count", LAYERS);
    meta_int(m, "llama.attention.head_count", 2);
    meta_int(m, "llama.attention.head_count_kv", 1);
    meta_int(m, "llama.feed_forward_length", FF);
    put_f32(meta_begin(m, "llama.attention.layer_norm_rms_epsilon", GT_F32), 1e-5f);
}

static size_t add_tensor(GgufTensorW *ts, size_t n, char *name, uint64_t rows, uint64_t cols, const void *zeros) {
    uint32_t dims = cols ? 2 : 1;
    ts[n] = (GgufTensorW){.name = name, .n_dims = dims, .ne = {cols ? cols : rows, rows}, .type = 0, .data = zeros,
                          .nbytes = (size_t)(rows * (cols ? cols : 1) * 4)};
    return n + 1;
}

static size_t add_layer(GgufTensorW *ts, size_t n, int i, const void *zeros) {
    static const struct {
        const char *suffix;
        uint64_t rows, cols;
    } parts[] = {{"attn_norm", DIM, 0}, {"attn_q", DIM, DIM},  {"attn_k", DIM / 2, DIM}, {"attn_v", DIM / 2, DIM},
                 {"attn_output", DIM, DIM}, {"ffn_norm", DIM, 0}, {"ffn_gate", FF, DIM},   {"ffn_up", FF, DIM},
                 {"ffn_down", DIM, FF}};
    for (size_t p = 0; p < sizeof parts / sizeof parts[0]; p++)
        n = add_tensor(ts, n, awqc_asprintf("blk.%d.%s.weight", i, parts[p].suffix), parts[p].rows, parts[p].cols,
                       zeros);
    return n;
}

static Checkpoint *write_checkpoint(void) {
    static float zeros[VOCAB * FF * DIM];
    GgufMeta m = {0};
    add_meta(&m);
    GgufTensorW ts[4 + 9 * LAYERS];
    size_t n = add_tensor(ts, 0, xstrdup("token_embd.weight"), VOCAB, DIM, zeros);
    n = add_tensor(ts, n, xstrdup("output_norm.weight"), DIM, 0, zeros);
    for (int i = 0; i < LAYERS; i++) n = add_layer(ts, n, i, zeros);
    Buf b = gguf_build(3, &m, ts, n, 32, NULL);
    char path[64];
    snprintf(path, sizeof path, "/tmp/fuzz_lang_%d.gguf", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(b.p, 1, b.n, f) != b.n) abort();
    fclose(f);
    AwqcError err;
    Checkpoint *c = ckpt_open(path, &err);
    unlink(path); // the open checkpoint keeps its map
    if (!c) {
        fprintf(stderr, "fuzz_lang: %s\n", err.msg);
        abort();
    }
    for (size_t i = 0; i < n; i++) free((char *)ts[i].name);
    free(b.p);
    free(m.kv.p);
    return c;
}

// ----------------------------------------------------------------------------

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    g_ckpt = write_checkpoint();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    AwqcError err;
    ModelAst *ast = lang_parse((const char *)data, size, "fuzz.model", &err);
    if (!ast) return 0;
    LowerOptions opts = {.load_weights = false};
    Graph *g = lang_lower(ast, g_ckpt, &opts, &err);
    if (g) {
        if (!ir_verify(g, &err)) {
            fprintf(stderr, "lowered graph fails verification: %s\n", err.msg);
            abort();
        }
        ir_graph_free(g);
    }
    lang_ast_free(ast);
    return 0;
}
