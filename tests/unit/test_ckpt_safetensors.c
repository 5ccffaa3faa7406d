// test_ckpt_safetensors.c: Hugging Face checkpoints written by the test: a lone
// .safetensors file, a folder with config.json + model.safetensors, a sharded
// folder with model.safetensors.index.json, and headers that lie (sizes,
// offsets, lengths, JSON) which must be refused naming the file and tensor.
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "frontend/ckpt/checkpoint.h"
#include "test_ckpt_gguf_writer.h" // Buf helpers
#include "test_support.h"

// ----------------------------------------------------------------------------
// Writing files

// JSON written with ' for " to keep the C literals readable.
static char *json(const char *text) {
    char *s = xstrdup(text);
    for (char *p = s; *p; p++)
        if (*p == '\'') *p = '"';
    return s;
}

static void write_text(const char *path, const char *text) {
    char *s = json(text);
    test_write_file(path, s, strlen(s));
    free(s);
}

static Buf safetensors_bytes(const char *header, const void *data, size_t n) {
    Buf b = {0};
    char *h = json(header);
    put_u64(&b, strlen(h));
    buf_put(&b, h, strlen(h));
    buf_put(&b, data, n);
    free(h);
    return b;
}

static void write_safetensors(const char *path, const char *header, const void *data, size_t n) {
    Buf b = safetensors_bytes(header, data, n);
    test_write_file(path, b.p, b.n);
    free(b.p);
}

static char *subdir(const char *name) {
    char *d = awqc_asprintf("%s/%s", test_tmpdir(), name);
    mkdir(d, 0755);
    return d;
}

static char *join(const char *dir, const char *file) { return awqc_asprintf("%s/%s", dir, file); }

// ----------------------------------------------------------------------------
// A sample file: one tensor per dtype kind

static const char SAMPLE_HEADER[] =
    "{'__metadata__': {'format': 'pt'},"
    " 'a.f32': {'dtype': 'F32', 'shape': [2, 3], 'data_offsets': [0, 24]},"
    " 'b.f16': {'dtype': 'F16', 'shape': [4], 'data_offsets': [24, 32]},"
    " 'c.bf16': {'dtype': 'BF16', 'shape': [2, 1], 'data_offsets': [32, 36]},"
    " 'd.i32': {'dtype': 'I32', 'shape': [2], 'data_offsets': [36, 44]},"
    " 'e.u8': {'dtype': 'U8', 'shape': [3], 'data_offsets': [44, 47]},"
    " 'z.empty': {'dtype': 'F32', 'shape': [0, 5], 'data_offsets': [47, 47]},"
    " 'f.i8': {'dtype': 'I8', 'shape': [1], 'data_offsets': [47, 48]}}";

static Buf sample_bytes(void) {
    uint8_t data[48] = {0};
    for (int i = 0; i < 6; i++) {
        float v = (float)i * 0.25f;
        memcpy(data + 4 * i, &v, 4);
    }
    const uint16_t f16[4] = {0x3c00, 0xc000, 0x3800, 0x7bff}, bf16[2] = {0x3f80, 0xc040};
    memcpy(data + 24, f16, 8);
    memcpy(data + 32, bf16, 4);
    return safetensors_bytes(SAMPLE_HEADER, data, sizeof data);
}

static Checkpoint *open_ok(const char *path) {
    AwqcError err = {{0}};
    Checkpoint *c = ckpt_open(path, &err);
    CHECK_MSG(c != NULL, "%s", err.msg);
    return c;
}

static void check_load(const Checkpoint *c, const char *name, const float *want, int n) {
    const CkptTensor *t = ckpt_find_tensor(c, name);
    float got[8];
    AwqcError err = {{0}};
    CHECK_MSG(t && t->n_elements == n && n <= 8, "%s", name);
    if (!t || t->n_elements != n) return;
    CHECK_MSG(ckpt_load_f32(c, t, got, &err), "%s", err.msg);
    for (int i = 0; i < n; i++) CHECK_MSG(got[i] == want[i], "%s[%d] = %g", name, i, got[i]);
}

static void check_load_fails(const Checkpoint *c, const char *name, const char *frag) {
    const CkptTensor *t = ckpt_find_tensor(c, name);
    float got[8];
    AwqcError err = {{0}};
    CHECK(t && !ckpt_load_f32(c, t, got, &err));
    CHECK_MSG(strstr(err.msg, name) && strstr(err.msg, frag), "%s", err.msg);
}

static void check_sample(const Checkpoint *c) {
    CHECK(ckpt_format(c) == CKPT_HF);
    CHECK(ckpt_tensor_count(c) == 7);
    const CkptTensor *a = ckpt_find_tensor(c, "a.f32");
    CHECK(a && a->type == ST_F32 && a->rank == 2 && a->shape[0] == 2 && a->shape[1] == 3 && a->nbytes == 24);
    check_load(c, "a.f32", (float[]){0, 0.25f, 0.5f, 0.75f, 1, 1.25f}, 6);
    check_load(c, "b.f16", (float[]){1, -2, 0.5f, 65504}, 4);
    check_load(c, "c.bf16", (float[]){1, -3}, 2);
    check_load(c, "z.empty", NULL, 0);
    const CkptTensor *d = ckpt_find_tensor(c, "d.i32");
    CHECK(d && d->type == ST_I32 && ckpt_find_tensor(c, "e.u8")->type == ST_U8);
    check_load_fails(c, "d.i32", "not convertible");
    check_load_fails(c, "f.i8", "not convertible");
    check_load_fails(c, "e.u8", "not convertible");
    // safetensors data need not be 4-aligned (the header length is arbitrary).
    const uint8_t *raw = ckpt_raw_data(c, a);
    float last = 0;
    if (raw) memcpy(&last, raw + 20, 4);
    CHECK(last == 1.25f);
}

// A lone file (no config.json beside it) and every one of its proper
// prefixes, which must all fail cleanly.
static void check_single_file(void) {
    char *dir = subdir("single");
    char *path = join(dir, "weights.safetensors");
    Buf b = sample_bytes();
    test_write_file(path, b.p, b.n);
    Checkpoint *c = open_ok(path);
    if (c) {
        check_sample(c);
        CHECK(ckpt_meta_count(c) == 0);
        CHECK(strcmp(ckpt_dir(c), dir) == 0 && strcmp(ckpt_path(c), path) == 0);
    }
    ckpt_close(c);
    for (size_t p = 0; p < b.n; p++) {
        AwqcError err = {{0}};
        test_write_file(path, b.p, p);
        c = ckpt_open(path, &err);
        CHECK_MSG(!c && strncmp(err.msg, path, strlen(path)) == 0, "prefix %zu: %s", p, err.msg);
        ckpt_close(c);
    }
    free(b.p);
    free(path);
    free(dir);
}

// ----------------------------------------------------------------------------
// Folders

static const char CONFIG[] =
    "{'architectures': ['LlamaForCausalLM'], 'hidden_size': 576, 'rms_norm_eps': 1e-05,"
    " 'tie_word_embeddings': true, 'use_cache': false, 'torch_dtype': 'bfloat16', 'rope_theta': 10000.0,"
    " 'ids': [1, 2, 3], 'mix': [0.5, 2], 'rope_scaling': null, 'quantization_config': {'bits': 4},"
    " 'odd': [1, 'a'], 'empty': []}";

static void check_config(const Checkpoint *c) {
    int64_t i = 0;
    double f = 0;
    const char *s = NULL;
    MetaArray a;
    CHECK(ckpt_meta_int(c, "hidden_size", &i) && i == 576);
    CHECK(ckpt_meta_kind(c, "rms_norm_eps") == META_FLOAT && ckpt_meta_float(c, "rms_norm_eps", &f) && f == 1e-05);
    CHECK(ckpt_meta_int(c, "tie_word_embeddings", &i) && i == 1);
    CHECK(ckpt_meta_int(c, "use_cache", &i) && i == 0);
    CHECK(ckpt_meta_string(c, "torch_dtype", &s) && strcmp(s, "bfloat16") == 0);
    CHECK(ckpt_meta_float(c, "rope_theta", &f) && f == 10000.0);
    CHECK(ckpt_meta_array(c, "architectures", &a) && a.elem_kind == META_STRING && a.len == 1 &&
          strcmp(a.strs[0], "LlamaForCausalLM") == 0);
    CHECK(ckpt_meta_array(c, "ids", &a) && a.elem_kind == META_INT && a.len == 3 && a.ints[2] == 3);
    CHECK(ckpt_meta_array(c, "mix", &a) && a.elem_kind == META_FLOAT && a.len == 2 && a.floats[1] == 2.0);
    CHECK(ckpt_meta_array(c, "empty", &a) && a.len == 0);
    // Objects are flattened to dotted keys; nulls and mixed arrays are not metadata.
    CHECK(ckpt_meta_kind(c, "quantization_config") == META_NONE);
    CHECK(ckpt_meta_int(c, "quantization_config.bits", &i) && i == 4);
    CHECK(ckpt_meta_kind(c, "rope_scaling") == META_NONE);
    CHECK(ckpt_meta_kind(c, "odd") == META_NONE);
    CHECK(ckpt_meta_count(c) == 11);
}

static void check_folder(void) {
    char *dir = subdir("hf");
    char *cfg = join(dir, "config.json"), *model = join(dir, "model.safetensors");
    write_text(cfg, CONFIG);
    Buf b = sample_bytes();
    test_write_file(model, b.p, b.n);
    free(b.p);
    Checkpoint *c = open_ok(dir);
    if (c) {
        check_sample(c);
        check_config(c);
        CHECK(strcmp(ckpt_dir(c), dir) == 0);
    }
    ckpt_close(c);
    c = open_ok(model); // the file alone picks up config.json beside it
    if (c) check_config(c);
    ckpt_close(c);
    free(cfg);
    free(model);
    free(dir);
}

// Two shards; index holds `weight_map` (JSON with ' quotes).
static char *sharded_dir(const char *name, const char *weight_map) {
    char *dir = subdir(name);
    char *p = join(dir, "config.json");
    write_text(p, "{'num_hidden_layers': 2}");
    free(p);
    const float x[2] = {1, 2}, y[3] = {3, 4, 5};
    p = join(dir, "model-00001-of-00002.safetensors");
    write_safetensors(p,
                      "{'x': {'dtype': 'F32', 'shape': [1], 'data_offsets': [0, 4]},"
                      " 'x2': {'dtype': 'F32', 'shape': [1], 'data_offsets': [4, 8]}}",
                      x, sizeof x);
    free(p);
    p = join(dir, "model-00002-of-00002.safetensors");
    write_safetensors(p, "{'y': {'dtype': 'F32', 'shape': [3, 1], 'data_offsets': [0, 12]}}", y, sizeof y);
    free(p);
    char *index = awqc_asprintf("{'metadata': {'total_size': 20}, 'weight_map': %s}", weight_map);
    p = join(dir, "model.safetensors.index.json");
    write_text(p, index);
    free(p);
    free(index);
    return dir;
}

static void expect_open_fail(const char *path, const char *frag1, const char *frag2) {
    AwqcError err = {{0}};
    Checkpoint *c = ckpt_open(path, &err);
    CHECK_MSG(c == NULL, "%s opened", path);
    ckpt_close(c);
    CHECK_MSG(strstr(err.msg, frag1) && (!frag2 || strstr(err.msg, frag2)), "want '%s' / '%s' in: %s", frag1,
              frag2 ? frag2 : "", err.msg);
}

static void check_sharded(void) {
    const char *s1 = "'model-00001-of-00002.safetensors'", *s2 = "'model-00002-of-00002.safetensors'";
    char *map = awqc_asprintf("{'x': %s, 'y': %s, 'x2': %s}", s1, s2, s1);
    char *dir = sharded_dir("sharded", map);
    Checkpoint *c = open_ok(dir);
    if (c) {
        int64_t n = 0;
        CHECK(ckpt_tensor_count(c) == 3);
        CHECK(ckpt_meta_int(c, "num_hidden_layers", &n) && n == 2);
        check_load(c, "x2", (float[]){2}, 1);
        check_load(c, "y", (float[]){3, 4, 5}, 3);
    }
    ckpt_close(c);
    free(map);
    free(dir);
    map = awqc_asprintf("{'x': %s, 'y': %s}", s2, s2);
    dir = sharded_dir("sharded_wrong", map);
    expect_open_fail(dir, "model.safetensors.index.json: weight_map: tensor 'x' is not in shard", NULL);
    free(map);
    free(dir);
    dir = sharded_dir("sharded_missing", "{'x': 'model-00009-of-00009.safetensors'}");
    expect_open_fail(dir, "model-00009-of-00009.safetensors: cannot open", NULL);
    free(dir);
    dir = sharded_dir("sharded_escape", "{'x': '../model-00001-of-00002.safetensors'}");
    expect_open_fail(dir, "tensor 'x': shard is not a plain file name", NULL);
    free(dir);
    dir = sharded_dir("sharded_nomap", "1");
    expect_open_fail(dir, "no \"weight_map\" object", NULL);
    free(dir);
}

// ----------------------------------------------------------------------------
// Lying headers

static void expect_bad(const char *header, const void *data, size_t n, const char *frag1, const char *frag2) {
    char *path = join(test_tmpdir(), "bad.safetensors");
    write_safetensors(path, header, data, n);
    char *named = awqc_asprintf("%s: ", path);
    expect_open_fail(path, named, frag1);
    if (frag2) expect_open_fail(path, frag2, NULL);
    free(named);
    free(path);
}

static void check_lies(void) {
    static const uint8_t z[64];
    expect_bad("{'w': {'dtype': 'F32', 'shape': [2, 2], 'data_offsets': [0, 12]}}", z, 16, "tensor 'w'",
               "data_offsets span 12 bytes but 4 elements of F32 need 16");
    expect_bad("{'w': {'dtype': 'F32', 'shape': [2, 2], 'data_offsets': [0, 16]}}", z, 8, "tensor 'w'",
               "beyond end of data (8 bytes)");
    expect_bad("{'w': {'dtype': 'F32', 'shape': [0], 'data_offsets': [8, 4]}}", z, 8, "tensor 'w'", "end before begin");
    expect_bad("{'w': {'dtype': 'F7', 'shape': [1], 'data_offsets': [0, 4]}}", z, 8, "tensor 'w'", "unknown dtype 'F7'");
    expect_bad("{'w': {'dtype': 'F32', 'shape': [-1], 'data_offsets': [0, 4]}}", z, 8, "tensor 'w'", "shape[0]");
    expect_bad("{'w': {'dtype': 'F32', 'shape': [1.5], 'data_offsets': [0, 4]}}", z, 8, "tensor 'w'", "shape[0]");
    expect_bad("{'w': {'dtype': 'F32', 'shape': [1,1,1,1,1], 'data_offsets': [0, 4]}}", z, 8, "tensor 'w'", "rank 5");
    expect_bad("{'w': {'dtype': 'F32', 'shape': [4503599627370496, 4503599627370496], 'data_offsets': [0, 4]}}", z,
               8, "tensor 'w'", "element count overflows");
    expect_bad("{'w': {'dtype': 'F32', 'shape': [2147483648, 2147483648], 'data_offsets': [0, 4]}}", z, 8,
               "tensor 'w'", "data_offsets span 4 bytes");
    expect_bad("{'w': {'dtype': 'F32', 'shape': [1], 'data_offsets': [0]}}", z, 8, "tensor 'w'", "data_offsets");
    expect_bad("{'w': {'shape': [1], 'data_offsets': [0, 4]}}", z, 8, "tensor 'w'", "\"dtype\" is not a string");
    expect_bad("{'w': [1]}", z, 8, "tensor 'w'", "not an object");
    expect_bad("{'w': {'dtype': 'F32', 'shape': [1], 'data_offsets': [0, 4]}, 'w': {'dtype': 'F32', 'shape': [1],"
               " 'data_offsets': [4, 8]}}", z, 8, "duplicate tensor name 'w'", NULL);
    expect_bad("{'w': {'dtype': 'F32', 'shape': [1], 'data_offsets': [0, 4]", z, 8, "invalid JSON", NULL);
    expect_bad("[1, 2]", z, 8, "not a JSON object", NULL);
    expect_bad("{'__metadata__': 3}", z, 0, "\"__metadata__\" is not an object", NULL);
}

static void check_bad_lengths(void) {
    char *path = join(test_tmpdir(), "len.safetensors");
    Buf b = {0};
    put_u64(&b, 1000);
    buf_put(&b, "{}", 2);
    test_write_file(path, b.p, b.n);
    expect_open_fail(path, "offset 0: header length 1000 exceeds file size (10)", NULL);
    test_write_file(path, b.p, 5);
    expect_open_fail(path, "offset 0: truncated file", NULL);
    free(b.p);
    free(path);
}

// ----------------------------------------------------------------------------
// Dispatch

static void check_dispatch(void) {
    char *other = join(test_tmpdir(), "notes.txt");
    write_text(other, "hello");
    expect_open_fail(other, "notes.txt: not a checkpoint", NULL);
    free(other);
    expect_open_fail("/nonexistent/awqc/model.gguf", "/nonexistent/awqc/model.gguf: cannot open", NULL);
    char *dir = subdir("empty_dir");
    expect_open_fail(dir, "no config.json", NULL);
    char *cfg = join(dir, "config.json");
    write_text(cfg, "{'a': 1}");
    expect_open_fail(dir, "neither model.safetensors nor model.safetensors.index.json", NULL);
    write_text(cfg, "{'a': ");
    expect_open_fail(dir, "config.json: offset", "invalid JSON");
    free(cfg);
    free(dir);
}

int main(void) {
    check_single_file();
    check_folder();
    check_sharded();
    check_lies();
    check_bad_lengths();
    check_dispatch();
    return test_result();
}
