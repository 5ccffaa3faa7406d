// test_artifact.c: the compiled-artifact format (.awqx, runtime/artifact.h):
// a tiny graph holding f32, code and packed weights round-trips bit for bit
// (plan, weights, logits, tokenizer); writes are atomic; hostile files fail
// with messages naming the file and the fault; the real model reloads exactly.
#define _XOPEN_SOURCE 700 // nftw
#include <cjson/cJSON.h>
#include <dirent.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "frontend/ckpt/checkpoint.h"
#include "ir/layout.h"
#include "runtime/artifact.h"
#include "runtime/interp.h"
#include "runtime/model.h"
#include "test_qmatrix.h"
#include "test_support.h"
#include "test_tiny_graph.h"

#define GROUP 32
#define TARGET "x86-64-avx2"

static const int32_t probe_ids[] = {1, 7, 42, 200, 3};
#define N_PROBE ((int)(sizeof probe_ids / sizeof *probe_ids))

// ----------------------------------------------------------------------------
// the graph: a tiny LLaMA with q4 codes, avx2-i4 and u3-packed weights

static uint32_t quant_rng = 0x2545f491u;

// Random f16 bit patterns may be NaN or huge: keep scales in [2^-7, 2^-6).
static void tame_scales(QuantMatrix *m) {
    size_t ng = (size_t)(m->rows * quant_n_groups(m));
    for (size_t i = 0; i < ng; i++) m->scales[i] = (uint16_t)(0x2000 | (m->scales[i] & 0x3ff));
}

// Replaces w's f32 values by random codes, then packs them when layout is given.
static void quantize_weight(Graph *g, const char *name, int bits, const char *layout) {
    int i = ir_find_weight(g, name);
    AWQC_ASSERT(i >= 0);
    Weight *w = &g->weights[i];
    int64_t rows = w->type.dims[0].size, cols = w->type.dims[1].size;
    w->type.dtype = bits == 4 ? DT_Q4 : DT_Q3;
    w->type.group = GROUP;
    w->quant = test_random_quant(&quant_rng, rows, cols, bits, GROUP);
    tame_scales(w->quant);
    free(w->data);
    w->data = NULL;
    if (!layout) return;
    AwqcError err = {{0}};
    bool packed = ir_pack_weight(w, ir_find_layout(layout), &err);
    CHECK_MSG(packed, "packing %s as %s: %s", name, layout, err.msg);
}

static Graph *mixed_graph(void) {
    TinyLlamaSpec spec = {.dim = 64, .heads = 4, .kv_heads = 2, .ffn = 128, .vocab = 256, .layers = 2,
                          .scale_by_fan_in = true, .seed = 7};
    Graph *g = tiny_llama(&spec);
    const char *avx2[] = {"l0.q", "l0.k", "l0.v", "l0.o", "l1.gate"};
    for (size_t i = 0; i < sizeof avx2 / sizeof *avx2; i++) quantize_weight(g, avx2[i], 4, "avx2-i4");
    quantize_weight(g, "l0.up", 3, "u3-packed");
    quantize_weight(g, "l0.gate", 4, NULL);
    quantize_weight(g, "l1.down", 4, NULL);
    AwqcError err = {{0}};
    bool ok = ir_verify(g, &err);
    CHECK_MSG(ok, "the mixed graph does not verify: %s", err.msg);
    return g;
}

static Tokenizer *fixture_tokenizer(void) {
    char *path = awqc_asprintf("%s/tests/fixtures/tokenizer/spm_bpe.gguf", test_source_dir());
    AwqcError err = {{0}};
    Checkpoint *c = ckpt_open(path, &err);
    if (!c) AWQC_PANIC("%s", err.msg);
    Tokenizer *t = tok_from_checkpoint(c, &err);
    if (!t) AWQC_PANIC("%s", err.msg);
    ckpt_close(c);
    free(path);
    return t;
}

static const ArtifactInfo info = {.target = TARGET, .source = "tiny.gguf", .awqc_version = "0.test", .planned_ctx = 64};

static char *tmp_path(const char *name) { return awqc_asprintf("%s/%s", test_tmpdir(), name); }

// ----------------------------------------------------------------------------
// little-endian fields and the section table of a file in memory

static uint64_t get_u64(const uint8_t *p) { return awqc_load_le(p, 8); }
static uint32_t get_u32(const uint8_t *p) { return (uint32_t)awqc_load_le(p, 4); }
static void put_u64(uint8_t *p, uint64_t v) { awqc_store_le(p, v, 8); }
static void put_u32(uint8_t *p, uint32_t v) { awqc_store_le(p, v, 4); }

static uint32_t n_sections_of(const uint8_t *file) { return get_u32(file + AWQX_HDR_N_SECTIONS); }
static const uint8_t *entry_at(const uint8_t *file, int i) {
    return file + AWQX_HEADER_SIZE + (size_t)i * AWQX_ENTRY_SIZE;
}
static uint8_t *entry_of(uint8_t *file, int i) { return file + AWQX_HEADER_SIZE + (size_t)i * AWQX_ENTRY_SIZE; }
static size_t table_end(const uint8_t *file) { return AWQX_HEADER_SIZE + n_sections_of(file) * AWQX_ENTRY_SIZE; }

static int entry_index(const uint8_t *file, const char *name) {
    for (int i = 0; i < (int)n_sections_of(file); i++)
        if (strcmp((const char *)entry_at(file, i), name) == 0) return i;
    AWQC_PANIC("no section %s", name);
}

// After editing the table: the header's checksum over it, so that the
// reader's later checks are the ones that fire.
static void fix_table_checksum(uint8_t *file) {
    put_u64(file + AWQX_HDR_TABLE_CHECKSUM, XXH3_64bits(file + AWQX_HEADER_SIZE, table_end(file) - AWQX_HEADER_SIZE));
}

// ----------------------------------------------------------------------------
// rebuilding a file with some sections replaced: laid out as the writer does
// (sections on 64 bytes, the weights on a page), with fresh checksums

typedef struct {
    char name[AWQX_NAME_MAX];
    uint8_t *bytes;
    size_t size;
} RawSection;

typedef struct {
    RawSection sec[AWQX_MAX_SECTIONS];
    int n;
} RawFile;

static RawFile raw_split(const uint8_t *file) {
    RawFile r = {.n = (int)n_sections_of(file)};
    for (int i = 0; i < r.n; i++) {
        const uint8_t *e = entry_at(file, i);
        memcpy(r.sec[i].name, e, AWQX_NAME_MAX);
        r.sec[i].size = (size_t)get_u64(e + AWQX_ENT_SIZE);
        r.sec[i].bytes = xmalloc(r.sec[i].size + 1);
        memcpy(r.sec[i].bytes, file + get_u64(e + AWQX_ENT_OFFSET), r.sec[i].size);
    }
    return r;
}

static void raw_free(RawFile *r) {
    for (int i = 0; i < r->n; i++) free(r->sec[i].bytes);
}

static RawSection *raw_find(RawFile *r, const char *name) {
    for (int i = 0; i < r->n; i++)
        if (strcmp(r->sec[i].name, name) == 0) return &r->sec[i];
    AWQC_PANIC("no section %s", name);
}

static void raw_set_text(RawFile *r, const char *name, const char *text) {
    RawSection *s = raw_find(r, name);
    free(s->bytes);
    s->bytes = (uint8_t *)xstrdup(text);
    s->size = strlen(text);
}

static void raw_remove(RawFile *r, const char *name) {
    RawSection *s = raw_find(r, name);
    free(s->bytes);
    memmove(s, s + 1, (size_t)(&r->sec[r->n] - (s + 1)) * sizeof *s);
    r->n--;
}

static size_t align_up(size_t x, size_t a) { return (x + a - 1) / a * a; }

static uint8_t *raw_join(const RawFile *r, size_t *len) {
    size_t at = AWQX_HEADER_SIZE + (size_t)r->n * AWQX_ENTRY_SIZE, offsets[AWQX_MAX_SECTIONS];
    for (int i = 0; i < r->n; i++) {
        at = align_up(at, strcmp(r->sec[i].name, AWQX_SEC_WEIGHTS) == 0 ? AWQX_WEIGHTS_ALIGN : AWQX_ALIGN);
        offsets[i] = at;
        at += r->sec[i].size;
    }
    uint8_t *f = xcalloc(1, at);
    memcpy(f, AWQX_MAGIC, 8);
    put_u32(f + AWQX_HDR_VERSION, AWQX_VERSION);
    put_u32(f + AWQX_HDR_N_SECTIONS, (uint32_t)r->n);
    put_u64(f + AWQX_HDR_TABLE, AWQX_HEADER_SIZE);
    put_u64(f + AWQX_HDR_FILE_SIZE, at);
    for (int i = 0; i < r->n; i++) {
        uint8_t *e = entry_of(f, i);
        memcpy(e, r->sec[i].name, AWQX_NAME_MAX);
        put_u64(e + AWQX_ENT_OFFSET, offsets[i]);
        put_u64(e + AWQX_ENT_SIZE, r->sec[i].size);
        put_u64(e + AWQX_ENT_CHECKSUM, XXH3_64bits(r->sec[i].bytes, r->sec[i].size));
        memcpy(f + offsets[i], r->sec[i].bytes, r->sec[i].size);
    }
    fix_table_checksum(f);
    *len = at;
    return f;
}

// ----------------------------------------------------------------------------
// the fixture: a good artifact of the mixed graph, and where hostile copies go

typedef struct {
    Graph *g;
    Tokenizer *tok;
    char *good_path, *bad_path;
    uint8_t *bytes;
    size_t len;
} Fixture;

static Fixture fixture_new(void) {
    Fixture f = {.g = mixed_graph(), .tok = fixture_tokenizer()};
    f.good_path = tmp_path("good.awqx");
    f.bad_path = tmp_path("hostile.awqx");
    AwqcError err = {{0}};
    if (!artifact_write(f.good_path, f.g, f.tok, &info, &err)) AWQC_PANIC("%s", err.msg);
    f.bytes = (uint8_t *)awqc_read_file(f.good_path, &f.len, &err);
    if (!f.bytes) AWQC_PANIC("%s", err.msg);
    return f;
}

static void fixture_free(Fixture *f) {
    ir_graph_free(f->g);
    tok_free(f->tok);
    free(f->good_path);
    free(f->bad_path);
    free(f->bytes);
}

static uint8_t *copy_of(const Fixture *f) {
    uint8_t *c = xmalloc(f->len);
    memcpy(c, f->bytes, f->len);
    return c;
}

static bool mentions(const char *msg, const char *a, const char *b) {
    return strstr(msg, a) && (!b || strstr(msg, b));
}

// bytes at the hostile path must not open: the error names the file and both needles.
static void expect_open_error(const Fixture *f, const char *label, const uint8_t *bytes, size_t len,
                              const char *needle, const char *needle2) {
    test_write_file(f->bad_path, bytes, len);
    AwqcError err = {{0}};
    Artifact *a = artifact_open(f->bad_path, &err);
    CHECK_MSG(a == NULL, "%s: the file opened", label);
    CHECK_MSG(a || (strstr(err.msg, f->bad_path) && mentions(err.msg, needle, needle2)), "%s: got '%s'", label,
              err.msg);
    artifact_close(a);
}

// bytes open, but their plan must not load.
static void expect_load_error(const Fixture *f, const char *label, const uint8_t *bytes, size_t len,
                              const char *needle, const char *needle2) {
    test_write_file(f->bad_path, bytes, len);
    AwqcError err = {{0}};
    Artifact *a = artifact_open(f->bad_path, &err);
    CHECK_MSG(a != NULL, "%s: does not open: %s", label, err.msg);
    if (!a) return;
    Graph *g = artifact_load_graph(a, &err);
    CHECK_MSG(g == NULL, "%s: the plan loaded", label);
    CHECK_MSG(g || (strstr(err.msg, f->bad_path) && mentions(err.msg, needle, needle2)), "%s: got '%s'", label,
              err.msg);
    ir_graph_free(g);
    artifact_close(a);
}

// ----------------------------------------------------------------------------
// 1. round trip

static void check_same_weight(const Weight *a, const Weight *b) {
    CHECK_MSG(strcmp(a->name, b->name) == 0 && ir_type_equal(&a->type, &b->type), "weight %s", a->name);
    CHECK_MSG(b->borrowed, "@%s is not marked borrowed", b->name);
    CHECK_MSG(!a->data == !b->data && !a->quant == !b->quant && !a->packed == !b->packed, "@%s changed kind", a->name);
    size_t n_f32 = sizeof(float) * (size_t)ir_type_elements(&a->type);
    if (a->data && b->data) CHECK_MSG(memcmp(a->data, b->data, n_f32) == 0, "@%s f32", a->name);
    if (a->packed && b->packed) {
        CHECK_MSG(a->packed_size == b->packed_size && memcmp(a->packed, b->packed, a->packed_size) == 0,
                  "@%s packed bytes", a->name);
        CHECK_MSG(b->layout && strcmp(a->layout, b->layout) == 0, "@%s layout", a->name);
    }
    if (a->quant && b->quant) {
        const QuantMatrix *x = a->quant, *y = b->quant;
        size_t n = (size_t)(x->rows * x->cols), ng = (size_t)(x->rows * quant_n_groups(x));
        CHECK_MSG(x->rows == y->rows && x->cols == y->cols && x->bits == y->bits && x->group == y->group &&
                      memcmp(x->q, y->q, n) == 0 && memcmp(x->scales, y->scales, 2 * ng) == 0 &&
                      memcmp(x->zeros, y->zeros, ng) == 0,
                  "@%s codes", a->name);
    }
    const void *mapped = b->data ? (const void *)b->data : (const void *)b->packed;
    if (mapped) CHECK_MSG((uintptr_t)mapped % AWQX_ALIGN == 0, "@%s at %p", b->name, mapped);
}

static void check_same_logits(const Graph *a, const Graph *b) {
    AwqcError err = {{0}};
    size_t na = 0, nb = 0;
    float *la = interp_eval_logits(a, probe_ids, N_PROBE, 1, &na, &err);
    CHECK_MSG(la != NULL, "%s", err.msg);
    float *lb = interp_eval_logits(b, probe_ids, N_PROBE, 1, &nb, &err);
    CHECK_MSG(lb != NULL, "%s", err.msg);
    CHECK(la && lb && na == nb && na == (size_t)N_PROBE * 256);
    if (la && lb && na == nb) CHECK_MSG(memcmp(la, lb, na * sizeof *la) == 0, "the logits differ");
    free(la);
    free(lb);
}

// Every payload the index names starts on 64 bytes inside the page-aligned
// weights section, and f32 and packed weights point right at it.
static void check_index_layout(const Artifact *a, const Graph *loaded) {
    uint64_t wsize, isize;
    const uint8_t *weights = artifact_find(a, AWQX_SEC_WEIGHTS, &wsize);
    const uint8_t *text = artifact_find(a, AWQX_SEC_WEIGHT_INDEX, &isize);
    CHECK(weights && text && (uintptr_t)weights % AWQX_WEIGHTS_ALIGN == 0);
    cJSON *index = text ? cJSON_ParseWithLength((const char *)text, (size_t)isize) : NULL;
    CHECK(cJSON_GetArraySize(index) == (int)loaded->n_weights);
    const cJSON *e;
    const char *last = "";
    uint64_t end = 0;
    cJSON_ArrayForEach(e, index) {
        const char *name = cJSON_GetObjectItem(e, "name")->valuestring;
        uint64_t off = (uint64_t)cJSON_GetObjectItem(e, "offset")->valuedouble;
        if (off >= end) {
            last = name;
            end = off + (uint64_t)cJSON_GetObjectItem(e, "size")->valuedouble;
        }
        CHECK_MSG(off % AWQX_ALIGN == 0, "@%s at offset %llu", name, (unsigned long long)off);
        const Weight *w = &loaded->weights[ir_find_weight(loaded, name)];
        const void *at = w->data ? (const void *)w->data : (const void *)w->packed;
        CHECK_MSG(!at || at == weights + off, "@%s is not mapped in place", name);
    }
    // test_bad_index moves the last payload past the end.
    CHECK_MSG(strcmp(last, "out_norm") == 0 && align_up(end, AWQX_ALIGN) == wsize, "the last payload is @%s", last);
    cJSON_Delete(index);
}

static void check_sections(const Artifact *a) {
    const char *want[] = {AWQX_SEC_META, AWQX_SEC_PLAN, AWQX_SEC_WEIGHT_INDEX, AWQX_SEC_TOKENIZER,
                          AWQX_SEC_TOKENIZER_CONFIG, AWQX_SEC_WEIGHTS};
    CHECK(artifact_version(a) == AWQX_VERSION);
    CHECK(artifact_section_count(a) == 6);
    for (size_t i = 0; i < 6; i++) {
        uint64_t size;
        CHECK_MSG(artifact_find(a, want[i], &size) != NULL && size > 0, "section %s", want[i]);
    }
    for (size_t i = 0; i < artifact_section_count(a); i++) {
        const ArtifactSection *s = artifact_section_at(a, i);
        CHECK_MSG(s->offset % AWQX_ALIGN == 0, "section %s at %llu", s->name, (unsigned long long)s->offset);
        if (strcmp(s->name, AWQX_SEC_WEIGHTS) == 0) CHECK(s->offset % AWQX_WEIGHTS_ALIGN == 0);
    }
    uint64_t size;
    CHECK(artifact_find(a, "nonexistent", &size) == NULL && size == 0);
}

static void check_meta(const Artifact *a, const Graph *g) {
    const char *target = artifact_meta_string(a, "target");
    CHECK_MSG(target && strcmp(target, TARGET) == 0, "target %s", target ? target : "(null)");
    const char *model = artifact_meta_string(a, "model"), *source = artifact_meta_string(a, "source");
    CHECK(model && strcmp(model, g->name) == 0);
    CHECK(source && strcmp(source, info.source) == 0);
    CHECK(artifact_meta_string(a, "no such key") == NULL);
    CHECK(artifact_meta_string(a, "nodes") == NULL); // a number, not a string
}

static void check_same_tokenizer(const Tokenizer *a, const Tokenizer *b) {
    CHECK(tok_vocab_size(a) == tok_vocab_size(b) && tok_bos(a) == tok_bos(b) && tok_eos(a) == tok_eos(b));
    const char *texts[] = {"Hello world", "The quick brown fox jumps over the lazy dog.", "  spaces\tand\nlines 123",
                           "unicode: héllo wörld ☃"};
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        int32_t *x, *y;
        size_t nx = tok_encode(a, texts[i], strlen(texts[i]), true, false, &x);
        size_t ny = tok_encode(b, texts[i], strlen(texts[i]), true, false, &y);
        CHECK_MSG(nx > 1 && nx == ny && memcmp(x, y, nx * sizeof *x) == 0, "\"%s\" encodes differently", texts[i]);
        free(x);
        free(y);
    }
}

static void test_round_trip(const Fixture *f) {
    CHECK(artifact_is_file(f->good_path));
    CHECK(!artifact_is_file(f->bad_path)); // not written yet
    AwqcError err = {{0}};
    Artifact *a = artifact_open(f->good_path, &err);
    CHECK_MSG(a != NULL, "%s", err.msg);
    if (!a) return;
    CHECK(strcmp(artifact_path(a), f->good_path) == 0);
    check_sections(a);
    check_meta(a, f->g);
    Graph *g = artifact_load_graph(a, &err);
    CHECK_MSG(g != NULL, "%s", err.msg);
    Tokenizer *t = artifact_load_tokenizer(a, &err);
    CHECK_MSG(t != NULL, "%s", err.msg);
    if (g) {
        char *x = ir_print_to_string(f->g), *y = ir_print_to_string(g);
        CHECK_MSG(strcmp(x, y) == 0, "the plan text differs");
        free(x);
        free(y);
        CHECK(g->n_weights == f->g->n_weights);
        for (size_t i = 0; i < g->n_weights && i < f->g->n_weights; i++)
            check_same_weight(&f->g->weights[i], &g->weights[i]);
        check_index_layout(a, g);
        check_same_logits(f->g, g);
    }
    if (t) check_same_tokenizer(f->tok, t);
    tok_free(t);
    ir_graph_free(g);
    artifact_close(a);
}

// The mixed graph really holds all three kinds.
static void test_fixture_kinds(const Fixture *f) {
    int f32 = 0, codes = 0, avx2 = 0, u3 = 0;
    for (size_t i = 0; i < f->g->n_weights; i++) {
        const Weight *w = &f->g->weights[i];
        f32 += w->data != NULL;
        codes += w->quant != NULL;
        avx2 += w->layout && strcmp(w->layout, "avx2-i4") == 0;
        u3 += w->layout && strcmp(w->layout, "u3-packed") == 0;
    }
    CHECK_MSG(f32 > 0 && codes == 2 && avx2 == 5 && u3 == 1, "f32 %d, codes %d, avx2 %d, u3 %d", f32, codes, avx2, u3);
}

// ----------------------------------------------------------------------------
// 2. atomic writes

static int entries_in(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

static char *fresh_dir(const char *name) {
    char *dir = tmp_path(name);
    CHECK(mkdir(dir, 0755) == 0);
    return dir;
}

static void test_missing_directory(const Fixture *f) {
    char *path = tmp_path("missing/sub/m.awqx"), *dir = tmp_path("missing");
    AwqcError err = {{0}};
    CHECK(!artifact_write(path, f->g, f->tok, &info, &err));
    CHECK_MSG(strstr(err.msg, path) != NULL, "got '%s'", err.msg);
    struct stat st;
    CHECK(stat(dir, &st) != 0);
    free(path);
    free(dir);
}

// A graph whose weight @l0.k lost its values (the caller frees it).
static Graph *unbound_graph(void) {
    Graph *g = mixed_graph();
    ir_weight_release(&g->weights[ir_find_weight(g, "l0.k")]);
    return g;
}

static void test_unbound_weight(const Fixture *f) {
    char *dir = fresh_dir("unbound"), *path = awqc_asprintf("%s/m.awqx", dir);
    Graph *g = unbound_graph();
    AwqcError err = {{0}};
    CHECK(!artifact_write(path, g, f->tok, &info, &err));
    CHECK_MSG(mentions(err.msg, path, "@l0.k"), "got '%s'", err.msg);
    CHECK_MSG(entries_in(dir) == 0, "%d files left in %s", entries_in(dir), dir);
    ir_graph_free(g);
    free(path);
    free(dir);
}

// A failed write over an existing artifact leaves it byte for byte.
static void test_failed_overwrite(const Fixture *f) {
    char *dir = fresh_dir("overwrite"), *path = awqc_asprintf("%s/m.awqx", dir);
    test_write_file(path, f->bytes, f->len);
    Graph *g = unbound_graph();
    AwqcError err = {{0}};
    CHECK(!artifact_write(path, g, f->tok, &info, &err));
    size_t len = 0;
    char *now = awqc_read_file(path, &len, &err);
    CHECK(now && len == f->len && memcmp(now, f->bytes, len) == 0);
    CHECK_MSG(entries_in(dir) == 1, "%d files in %s", entries_in(dir), dir);
    Artifact *a = artifact_open(path, &err);
    CHECK_MSG(a != NULL, "%s", err.msg);
    artifact_close(a);
    free(now);
    ir_graph_free(g);
    free(path);
    free(dir);
}

// The last step fails (a directory is in the way of the rename): the
// complete temp file is removed as well.
static void test_failed_rename(const Fixture *f) {
    char *dir = fresh_dir("rename"), *path = awqc_asprintf("%s/m.awqx", dir);
    CHECK(mkdir(path, 0755) == 0);
    AwqcError err = {{0}};
    CHECK(!artifact_write(path, f->g, f->tok, &info, &err));
    CHECK_MSG(strstr(err.msg, path) != NULL, "got '%s'", err.msg);
    CHECK_MSG(entries_in(dir) == 1 && entries_in(path) == 0, "%d files in %s", entries_in(dir), dir);
    free(path);
    free(dir);
}

// ----------------------------------------------------------------------------
// 3. hostile files: the header and the table

static void test_truncations(const Fixture *f) {
    size_t head = table_end(f->bytes);
    for (size_t len = 0; len <= head; len++) {
        char label[64];
        snprintf(label, sizeof label, "truncated to %zu bytes", len);
        expect_open_error(f, label, f->bytes, len, "truncated", NULL);
    }
    for (int i = 0; i < (int)n_sections_of(f->bytes); i++) {
        const uint8_t *e = entry_at(f->bytes, i);
        uint64_t off = get_u64(e + AWQX_ENT_OFFSET), size = get_u64(e + AWQX_ENT_SIZE);
        uint64_t cuts[] = {off - 1, off, off + 1, off + size / 2, off + size - 1, off + size};
        for (size_t k = 0; k < sizeof cuts / sizeof *cuts; k++) {
            if (cuts[k] >= f->len) continue;
            char label[96];
            snprintf(label, sizeof label, "truncated to %llu bytes (section %s)", (unsigned long long)cuts[k],
                     (const char *)e);
            expect_open_error(f, label, f->bytes, (size_t)cuts[k], "truncated", NULL);
        }
    }
    expect_open_error(f, "one byte short", f->bytes, f->len - 1, "truncated", NULL);
}

static void test_flipped_bytes(const Fixture *f) {
    uint8_t *c = copy_of(f);
    for (int i = 0; i < (int)n_sections_of(c); i++) {
        const uint8_t *e = entry_at(c, i);
        uint64_t off = get_u64(e + AWQX_ENT_OFFSET), size = get_u64(e + AWQX_ENT_SIZE);
        uint64_t at[] = {off, off + size / 3, off + size - 1};
        char want[64];
        snprintf(want, sizeof want, "section '%s'", (const char *)e);
        for (size_t k = 0; k < 3; k++) {
            c[at[k]] ^= 0x10;
            char label[96];
            snprintf(label, sizeof label, "byte %llu flipped", (unsigned long long)at[k]);
            expect_open_error(f, label, c, f->len, want, "checksum");
            c[at[k]] ^= 0x10;
        }
    }
    free(c);
}

// One header or table edit: apply, expect the error, restore.
static void header_case(const Fixture *f, uint8_t *c, const char *label, bool fix_checksum, const char *needle,
                        const char *needle2) {
    if (fix_checksum) fix_table_checksum(c);
    expect_open_error(f, label, c, f->len, needle, needle2);
    memcpy(c, f->bytes, table_end(f->bytes));
}

static void test_bad_header(const Fixture *f) {
    uint8_t *c = copy_of(f);
    c[0] = 'X';
    header_case(f, c, "bad magic", false, "bad magic", NULL);
    put_u32(c + AWQX_HDR_VERSION, 2);
    header_case(f, c, "version 2", false, "version 2", NULL);
    put_u64(c + AWQX_HDR_FILE_SIZE, f->len + 4096);
    header_case(f, c, "file size too big", false, "the header says", "truncated");
    put_u64(c + AWQX_HDR_FILE_SIZE, f->len - 1);
    header_case(f, c, "file size too small", false, "the header says", "trailing");
    c[33] ^= 1;
    header_case(f, c, "table checksum", false, "section table's checksum", NULL);
    c[AWQX_HEADER_SIZE + AWQX_ENT_SIZE] ^= 1; // a section's size, checksum left stale
    header_case(f, c, "edited table", false, "section table's checksum", NULL);
    put_u32(c + AWQX_HDR_N_SECTIONS, AWQX_MAX_SECTIONS + 1);
    header_case(f, c, "too many sections", false, "section table", "does not fit");
    put_u32(c + AWQX_HDR_N_SECTIONS, 0xffffffffu);
    header_case(f, c, "2^32-1 sections", false, "section table", "does not fit");
    put_u64(c + AWQX_HDR_TABLE, 128);
    header_case(f, c, "table elsewhere", false, "section table", "does not fit");
    put_u32(c + AWQX_HDR_N_SECTIONS, n_sections_of(c) + 1); // the next 64 bytes read as an entry
    header_case(f, c, "one entry too many", true, "no valid name", NULL);
    free(c);
}

static void test_bad_entries(const Fixture *f) {
    uint8_t *c = copy_of(f);
    uint8_t *plan = entry_of(c, entry_index(c, AWQX_SEC_PLAN));
    uint64_t off = get_u64(plan + AWQX_ENT_OFFSET);
    put_u64(plan + AWQX_ENT_OFFSET, align_up(f->len, 64) + 64);
    header_case(f, c, "offset past the end", true, "section 'plan'", "outside");
    put_u64(plan + AWQX_ENT_OFFSET, off + 1);
    header_case(f, c, "unaligned offset", true, "section 'plan'", "aligned");
    put_u64(plan + AWQX_ENT_SIZE, UINT64_MAX - off + 1 + 64); // offset + size wraps around to 64
    header_case(f, c, "size wrapping around", true, "section 'plan'", "outside");
    put_u64(plan + AWQX_ENT_OFFSET, UINT64_MAX - 63);
    header_case(f, c, "offset near 2^64", true, "section 'plan'", "outside");
    memcpy(plan, AWQX_SEC_META, sizeof AWQX_SEC_META);
    header_case(f, c, "duplicated name", true, "section 'meta'", "twice");
    memset(plan, 0, AWQX_NAME_MAX);
    header_case(f, c, "empty name", true, "no valid name", NULL);
    memset(plan, 'a', AWQX_NAME_MAX);
    header_case(f, c, "unterminated name", true, "no valid name", NULL);
    free(c);
}

// Every single-byte change of the table, with a fresh table checksum, fails
// cleanly or loads: never a crash (ASan watches). Some open: the padding after
// a name and the entry's last 8 bytes are not read, and a renamed
// tokenizer_config.json is an optional section gone.
static void test_table_mutations(const Fixture *f) {
    uint8_t *c = copy_of(f);
    int opened = 0;
    for (size_t at = AWQX_HEADER_SIZE; at < table_end(f->bytes); at++) {
        c[at] ^= 0x81;
        fix_table_checksum(c);
        test_write_file(f->bad_path, c, f->len);
        AwqcError err = {{0}};
        Artifact *a = artifact_open(f->bad_path, &err);
        CHECK_MSG(a || strstr(err.msg, f->bad_path), "byte %zu: got '%s'", at, err.msg);
        if (a) {
            opened++;
            Graph *g = artifact_load_graph(a, &err);
            CHECK_MSG(g || strstr(err.msg, f->bad_path), "byte %zu: got '%s'", at, err.msg);
            ir_graph_free(g);
        }
        artifact_close(a);
        memcpy(c, f->bytes, table_end(f->bytes));
    }
    printf("%d of %zu mutated tables opened\n", opened, table_end(f->bytes) - AWQX_HEADER_SIZE);
    free(c);
}

// ----------------------------------------------------------------------------
// 3. hostile files: sections rewritten with valid checksums

static uint8_t *rebuilt(const Fixture *f, const char *section, const char *text, size_t *len) {
    RawFile r = raw_split(f->bytes);
    if (text) raw_set_text(&r, section, text);
    else raw_remove(&r, section);
    uint8_t *out = raw_join(&r, len);
    raw_free(&r);
    return out;
}

static void section_case(const Fixture *f, const char *section, const char *text, bool at_open, const char *needle,
                         const char *needle2) {
    size_t len;
    uint8_t *b = rebuilt(f, section, text, &len);
    char label[96];
    snprintf(label, sizeof label, "section %s %s", section, text ? "rewritten" : "removed");
    if (at_open) expect_open_error(f, label, b, len, needle, needle2);
    else expect_load_error(f, label, b, len, needle, needle2);
    free(b);
}

static void expect_tokenizer_error(const Fixture *f, const char *section, const char *text, const char *needle) {
    size_t len;
    uint8_t *b = rebuilt(f, section, text, &len);
    test_write_file(f->bad_path, b, len);
    AwqcError err = {{0}};
    Artifact *a = artifact_open(f->bad_path, &err);
    CHECK_MSG(a != NULL, "%s", err.msg);
    Tokenizer *t = a ? artifact_load_tokenizer(a, &err) : NULL;
    CHECK_MSG(a && !t && mentions(err.msg, f->bad_path, needle), "tokenizer from a bad %s: got '%s'", section,
              err.msg);
    tok_free(t);
    artifact_close(a);
    free(b);
}

static void test_bad_sections(const Fixture *f) {
    // The rebuild itself is faithful: with nothing changed the file loads.
    size_t len;
    RawFile r = raw_split(f->bytes);
    uint8_t *same = raw_join(&r, &len);
    raw_free(&r);
    CHECK(len == f->len && memcmp(same, f->bytes, len) == 0);
    free(same);
    section_case(f, AWQX_SEC_META, NULL, true, "no 'meta' section", NULL);
    section_case(f, AWQX_SEC_META, "{\"target\": ", true, "section 'meta'", "invalid JSON");
    section_case(f, AWQX_SEC_META, "[1, 2]", true, "section 'meta'", "not a JSON object");
    section_case(f, AWQX_SEC_PLAN, NULL, false, "no 'plan' section", NULL);
    section_case(f, AWQX_SEC_PLAN, "graph @x {", false, ":plan", NULL);
    section_case(f, AWQX_SEC_WEIGHTS, NULL, false, "no 'weights' section", NULL);
    section_case(f, AWQX_SEC_WEIGHT_INDEX, NULL, false, "no 'weights.index' section", NULL);
    section_case(f, AWQX_SEC_WEIGHT_INDEX, "[{\"name\": ", false, "weights.index", "invalid JSON");
    section_case(f, AWQX_SEC_WEIGHT_INDEX, "{}", false, "weights.index", "not a JSON array");
    section_case(f, AWQX_SEC_WEIGHT_INDEX, "[]", false, "has no bytes in the index", NULL);
    expect_tokenizer_error(f, AWQX_SEC_TOKENIZER, NULL, "no 'tokenizer.json' section");
    expect_tokenizer_error(f, AWQX_SEC_TOKENIZER, "{\"model\": ", "tokenizer.json");
    expect_tokenizer_error(f, AWQX_SEC_TOKENIZER, "{}", "tokenizer.json");
}

// ----------------------------------------------------------------------------
// 3. hostile files: weights.index entries

typedef enum { SET_STRING, SET_NUMBER, ADD_NUMBER, DELETE_FIELD, DUPLICATE, REMOVE } EditKind;

typedef struct {
    const char *weight; // the entry edited
    EditKind kind;
    const char *field;
    const char *s;
    double x;
    const char *needle, *needle2;
} IndexEdit;

static const IndexEdit index_edits[] = {
    {"l0.q", SET_STRING, "name", "nope", 0, "@nope", "not in the plan"},
    {"l0.gate", DUPLICATE, NULL, NULL, 0, "@l0.gate", "indexed twice"},
    {"l0.k", REMOVE, NULL, NULL, 0, "@l0.k", "no bytes in the index"},
    {"l0.attn_norm", SET_STRING, "kind", "codes", 0, "@l0.attn_norm", "codes for a weight of type f32"},
    {"l0.attn_norm", SET_STRING, "kind", "packed", 0, "@l0.attn_norm", "no layout"},
    {"l0.q", SET_STRING, "kind", "f32", 0, "@l0.q", "f32"},
    {"l0.q", SET_STRING, "kind", "codes", 0, "@l0.q", "avx2-i4"},
    {"l0.gate", SET_STRING, "kind", "packed", 0, "@l0.gate", "no layout"},
    {"l0.gate", SET_STRING, "kind", "f32", 0, "@l0.gate", "f32"},
    {"l0.q", SET_STRING, "kind", "bf16", 0, "@l0.q", "unknown kind 'bf16'"},
    {"embd", SET_NUMBER, "offset", NULL, 1 << 30, "@embd", "outside"},
    {"out_norm", ADD_NUMBER, "offset", NULL, 64, "@out_norm", "outside"}, // the last payload: now past the end
    {"l0.q", SET_NUMBER, "offset", NULL, 1e30, "@l0.q", "outside"},
    {"l0.q", SET_NUMBER, "size", NULL, 1.8446744073709552e19, "@l0.q", "outside"},
    {"l0.q", ADD_NUMBER, "offset", NULL, 1, "@l0.q", "aligned"},
    {"l0.q", SET_NUMBER, "offset", NULL, -64, "@l0.q", "non-negative"},
    {"l0.q", ADD_NUMBER, "size", NULL, 0.5, "@l0.q", "whole"},
    {"l0.q", SET_STRING, "offset", "0", 0, "entry", "offset"},
    {"l0.q", DELETE_FIELD, "name", NULL, 0, "entry", "name"},
    {"l0.q", DELETE_FIELD, "size", NULL, 0, "entry", "size"},
    {"l0.attn_norm", ADD_NUMBER, "size", NULL, -4, "@l0.attn_norm", "bytes of f32"},
    {"embd", ADD_NUMBER, "size", NULL, 4, "@embd", "bytes of f32"},
    {"l0.gate", ADD_NUMBER, "size", NULL, 1, "@l0.gate", "bytes of codes"},
    {"l1.down", ADD_NUMBER, "size", NULL, -1, "@l1.down", "bytes of codes"},
    {"l0.q", ADD_NUMBER, "size", NULL, -1, "@l0.q", "packed bytes"},
    {"l0.up", ADD_NUMBER, "size", NULL, 3, "@l0.up", "packed bytes"},
};

static cJSON *entry_named(cJSON *index, const char *name) {
    cJSON *e;
    cJSON_ArrayForEach(e, index) {
        if (strcmp(cJSON_GetObjectItem(e, "name")->valuestring, name) == 0) return e;
    }
    AWQC_PANIC("no index entry %s", name);
}

static void apply_edit(cJSON *index, const IndexEdit *ed) {
    cJSON *e = entry_named(index, ed->weight);
    switch (ed->kind) {
    case SET_STRING: cJSON_ReplaceItemInObject(e, ed->field, cJSON_CreateString(ed->s)); break;
    case SET_NUMBER: cJSON_ReplaceItemInObject(e, ed->field, cJSON_CreateNumber(ed->x)); break;
    case ADD_NUMBER: {
        double was = cJSON_GetObjectItem(e, ed->field)->valuedouble;
        cJSON_ReplaceItemInObject(e, ed->field, cJSON_CreateNumber(was + ed->x));
        break;
    }
    case DELETE_FIELD: cJSON_DeleteItemFromObject(e, ed->field); break;
    case DUPLICATE: cJSON_AddItemToArray(index, cJSON_Duplicate(e, true)); break;
    case REMOVE: cJSON_Delete(cJSON_DetachItemViaPointer(index, e)); break;
    }
}

static void test_bad_index(const Fixture *f) {
    RawFile r = raw_split(f->bytes);
    const RawSection *s = raw_find(&r, AWQX_SEC_WEIGHT_INDEX);
    char *good = xmalloc(s->size + 1);
    memcpy(good, s->bytes, s->size);
    good[s->size] = '\0';
    raw_free(&r);
    for (size_t i = 0; i < sizeof index_edits / sizeof *index_edits; i++) {
        const IndexEdit *ed = &index_edits[i];
        cJSON *index = cJSON_Parse(good);
        apply_edit(index, ed);
        char *text = cJSON_PrintUnformatted(index);
        cJSON_Delete(index);
        size_t len;
        uint8_t *b = rebuilt(f, AWQX_SEC_WEIGHT_INDEX, text, &len);
        char label[96];
        snprintf(label, sizeof label, "index edit %zu (@%s %s)", i, ed->weight, ed->field ? ed->field : "");
        expect_load_error(f, label, b, len, ed->needle, ed->needle2);
        free(b);
        cJSON_free(text);
    }
    free(good);
}

// ----------------------------------------------------------------------------
// 4. the real model: its artifact gives the same logits

static void test_real_model(void) {
    const char *gguf = test_model_or_skip();
    mkdir(test_tmpdir(), 0700); // main removed it with the small files
    char *models = awqc_asprintf("%s/models", test_source_dir()), *path = tmp_path("smollm2.awqx");
    ModelLoadOptions o = {.models_dir = models, .load_weights = true, .quiet = true};
    AwqcError err = {{0}};
    Model *src = model_load(gguf, &o, &err);
    if (!src) AWQC_PANIC("%s", err.msg);
    bool ok = artifact_write(path, src->graph, src->tok, &(ArtifactInfo){.target = TARGET, .source = gguf}, &err);
    CHECK_MSG(ok, "%s", err.msg);
    struct stat st;
    if (ok && stat(path, &st) == 0) printf("real model: %lld-byte artifact\n", (long long)st.st_size);
    Model *back = ok ? model_load(path, &o, &err) : NULL;
    CHECK_MSG(!ok || back != NULL, "%s", err.msg);
    if (back) {
        CHECK(back->artifact != NULL && back->ckpt == NULL && back->tok != NULL);
        const int32_t ids[4] = {1, 504, 3032, 28};
        size_t na = 0, nb = 0;
        float *la = interp_eval_logits(src->graph, ids, 4, 0, &na, &err);
        float *lb = interp_eval_logits(back->graph, ids, 4, 0, &nb, &err);
        CHECK_MSG(la && lb && na == nb && na == 4 * 49152, "%s", err.msg);
        if (la && lb && na == nb) CHECK_MSG(memcmp(la, lb, na * sizeof *la) == 0, "the real model's logits differ");
        free(la);
        free(lb);
    }
    model_free(back);
    model_free(src);
    remove(path); // hundreds of megabytes
    rmdir(test_tmpdir());
    free(path);
    free(models);
}

// ----------------------------------------------------------------------------

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) { return remove(path); }

int main(void) {
    Fixture f = fixture_new();
    test_fixture_kinds(&f);
    test_round_trip(&f);
    test_missing_directory(&f);
    test_unbound_weight(&f);
    test_failed_overwrite(&f);
    test_failed_rename(&f);
    test_truncations(&f);
    test_flipped_bytes(&f);
    test_bad_header(&f);
    test_bad_entries(&f);
    test_table_mutations(&f);
    test_bad_sections(&f);
    test_bad_index(&f);
    fixture_free(&f);
    nftw(test_tmpdir(), remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    // Skipping for a missing model must not hide a failure above.
    char *model = awqc_default_model_path();
    if (test_failures == 0 || access(model, R_OK) == 0) test_real_model();
    free(model);
    return test_result();
}
