// make_seeds.c: writes the seeds that need awqc to make: tiny .awqx artifacts
// for fuzz_artifact (one-layer LLaMA, f32/code/packed weights, SentencePiece or
// byte-level tokenizer) and tokenizer.json exports for fuzz_tokenizer_json.
//   build-fuzz/tests/fuzz/fuzz_make_seeds tests/fuzz/corpus
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ir/layout.h"
#include "runtime/artifact.h"
#include "runtime/tokenizer/tok_export.h"
#include "../unit/test_qmatrix.h"
#include "../unit/test_tiny_graph.h"

#define GROUP 32

// A small byte-level tokenizer with ChatML markers.
static const char BYTE_LEVEL_JSON[] =
    "{\"version\":\"1.0\",\"added_tokens\":["
    "{\"id\":14,\"content\":\"<|im_start|>\",\"special\":true},"
    "{\"id\":15,\"content\":\"<|im_end|>\",\"special\":true}],"
    "\"normalizer\":null,"
    "\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":["
    "{\"type\":\"Digits\",\"individual_digits\":true},"
    "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex\":true}]},"
    "\"decoder\":{\"type\":\"ByteLevel\"},"
    "\"model\":{\"type\":\"BPE\",\"dropout\":null,\"unk_token\":null,\"vocab\":"
    "{\"h\":0,\"i\":1,\"a\":2,\"b\":3,\"\xc4\xa0\":4,\"\xc4\x8a\":5,\"hi\":6,\"ab\":7,\"\xc4\xa0hi\":8,"
    "\"1\":9,\"2\":10,\"u\":11,\"s\":12,\"us\":13},"
    "\"merges\":[\"h i\",\"a b\",\"\xc4\xa0 hi\",\"u s\"]}}";

static const char BYTE_LEVEL_CONFIG[] =
    "{\"bos_token\":null,\"eos_token\":\"<|im_end|>\",\"add_bos_token\":false,"
    "\"chat_template\":\"{% for m in messages %}{{'<|im_start|>' + m['role'] + '\\\\n' + m['content'] + "
    "'<|im_end|>\\\\n'}}{% endfor %}\"}";

// ----------------------------------------------------------------------------
// the graph

// Random f16 bit patterns may be NaN or huge: keep scales in [2^-7, 2^-6).
static void tame_scales(QuantMatrix *m) {
    size_t ng = (size_t)(m->rows * quant_n_groups(m));
    for (size_t i = 0; i < ng; i++) m->scales[i] = (uint16_t)(0x2000 | (m->scales[i] & 0x3ff));
}

// Replaces w's f32 values by random codes, packed when layout is given.
static void quantize_weight(Graph *g, const char *name, int bits, const char *layout, uint32_t *rng) {
    int i = ir_find_weight(g, name);
    AWQC_ASSERT(i >= 0);
    Weight *w = &g->weights[i];
    w->type.dtype = bits == 4 ? DT_Q4 : DT_Q3;
    w->type.group = GROUP;
    w->quant = test_random_quant(rng, w->type.dims[0].size, w->type.dims[1].size, bits, GROUP);
    tame_scales(w->quant);
    free(w->data);
    w->data = NULL;
    AwqcError err;
    if (layout && !ir_pack_weight(w, ir_find_layout(layout), &err)) AWQC_PANIC("%s", err.msg);
}

static Graph *tiny_graph(void) {
    TinyLlamaSpec spec = {.dim = 64, .heads = 4, .kv_heads = 2, .ffn = 64, .vocab = 16, .layers = 1,
                          .scale_by_fan_in = true, .seed = 11};
    Graph *g = tiny_llama(&spec);
    uint32_t rng = 0x9e3779b9u;
    quantize_weight(g, "l0.q", 4, "avx2-i4", &rng);
    quantize_weight(g, "l0.k", 3, "u3-packed", &rng);
    quantize_weight(g, "l0.v", 4, NULL, &rng);
    quantize_weight(g, "l0.o", 3, NULL, &rng);
    quantize_weight(g, "l0.gate", 4, "avx2-i4", &rng);
    quantize_weight(g, "l0.up", 4, "avx2-i4", &rng);
    quantize_weight(g, "l0.down", 3, "u3-packed", &rng);
    AwqcError err;
    if (!ir_verify(g, &err)) AWQC_PANIC("%s", err.msg);
    return g;
}

// ----------------------------------------------------------------------------
// tokenizers

static Tokenizer *spm_tokenizer(void) {
    const char *env = getenv("AWQC_SOURCE_DIR");
    char *path = awqc_asprintf("%s/tests/fixtures/tokenizer/spm_bpe.gguf", env && *env ? env : AWQC_FUZZ_SOURCE_DIR);
    AwqcError err;
    Checkpoint *c = ckpt_open(path, &err);
    Tokenizer *t = c ? tok_from_checkpoint(c, &err) : NULL;
    if (!t) AWQC_PANIC("%s", err.msg);
    ckpt_close(c);
    free(path);
    return t;
}

static Tokenizer *byte_level_tokenizer(void) {
    AwqcError err;
    Tokenizer *t = tok_from_hf_text(BYTE_LEVEL_JSON, sizeof BYTE_LEVEL_JSON - 1, BYTE_LEVEL_CONFIG, "seed", &err);
    if (!t) AWQC_PANIC("%s", err.msg);
    return t;
}

// ----------------------------------------------------------------------------
// the seed files

// Writes prefix (prefix_len bytes, may be 0), then a, then optionally NUL and b.
static void write_seed(const char *path, const void *prefix, size_t prefix_len, const void *a, size_t a_len,
                       const char *b) {
    FILE *f = fopen(path, "wb");
    if (!f) AWQC_PANIC("cannot write %s", path);
    bool ok = fwrite(prefix, 1, prefix_len, f) == prefix_len && fwrite(a, 1, a_len, f) == a_len;
    if (b) ok = ok && fputc(0, f) == 0 && fwrite(b, 1, strlen(b), f) == strlen(b);
    if (fclose(f) != 0 || !ok) AWQC_PANIC("cannot write %s", path);
    printf("%s\n", path);
}

// The artifact as fuzz_artifact's input: mode byte (1: repair checksums), file.
static void artifact_seed(const char *dir, const char *name, const Graph *g, const Tokenizer *t) {
    char *tmp = awqc_asprintf("%s/.%s.tmp", dir, name), *out = awqc_asprintf("%s/%s", dir, name);
    ArtifactInfo info = {.target = "x86-64-avx2", .source = "tiny.gguf", .awqc_version = "seed", .planned_ctx = 32};
    AwqcError err;
    if (!artifact_write(tmp, g, t, &info, &err)) AWQC_PANIC("%s", err.msg);
    size_t len;
    char *bytes = awqc_read_file(tmp, &len, &err);
    if (!bytes) AWQC_PANIC("%s", err.msg);
    unlink(tmp);
    write_seed(out, "\x01", 1, bytes, len, NULL);
    free(bytes);
    free(tmp);
    free(out);
}

static void tokenizer_json_seed(const char *dir, const char *name, const Tokenizer *t) {
    char *json, *config, *out = awqc_asprintf("%s/%s", dir, name);
    AwqcError err;
    if (!tok_to_hf_text(t, 2048, &json, &config, &err)) AWQC_PANIC("%s", err.msg);
    write_seed(out, "", 0, json, strlen(json), config);
    free(json);
    free(config);
    free(out);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR (writes into CORPUS_DIR/fuzz_artifact and fuzz_tokenizer_json)\n",
                argv[0]);
        return 2;
    }
    char *art = awqc_asprintf("%s/fuzz_artifact", argv[1]), *tok = awqc_asprintf("%s/fuzz_tokenizer_json", argv[1]);
    Graph *g = tiny_graph();
    Tokenizer *spm = spm_tokenizer(), *bl = byte_level_tokenizer();
    artifact_seed(art, "tiny_spm.awqx", g, spm);
    artifact_seed(art, "tiny_byte_level.awqx", g, bl);
    tokenizer_json_seed(tok, "spm_bpe_export.json", spm);
    tokenizer_json_seed(tok, "byte_level_export.json", bl);
    tok_free(spm);
    tok_free(bl);
    ir_graph_free(g);
    free(art);
    free(tok);
    return 0;
}
