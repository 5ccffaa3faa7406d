// artifact.c: opens a .awqx file (artifact.h) for the runtime: maps it, checks
// every header field, section bound and checksum before anything is used,
// then rebuilds the plan with its weights pointing into the mapping, and the
// tokenizer. Every error names the file and the section or weight.
#include "runtime/artifact.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "common/json.h"
#include "ir/layout.h"

struct Artifact {
    char *path;
    const uint8_t *base;
    size_t size;
    uint32_t version;
    ArtifactSection *sections;
    size_t n_sections;
    cJSON *meta;
};

static uint64_t get_le(const uint8_t *p, int field, int n) { return awqc_load_le(p + field, n); }

// ----------------------------------------------------------------------------
// mapping

bool artifact_is_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    char magic[8];
    bool yes = fread(magic, 1, 8, f) == 8 && memcmp(magic, AWQX_MAGIC, 8) == 0;
    fclose(f);
    return yes;
}

static bool map_file(Artifact *a, AwqcError *err) {
    int fd = open(a->path, O_RDONLY);
    if (fd < 0) return awqc_fail(err, "%s: cannot open: %s", a->path, strerror(errno));
    struct stat st;
    bool ok = fstat(fd, &st) == 0;
    if (ok && st.st_size < AWQX_HEADER_SIZE) {
        close(fd);
        return awqc_fail(err, "%s: truncated: %lld bytes, shorter than the %d-byte header", a->path,
                         (long long)st.st_size, AWQX_HEADER_SIZE);
    }
    void *p = ok ? mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
    int saved = errno;
    close(fd);
    if (p == MAP_FAILED) return awqc_fail(err, "%s: cannot map: %s", a->path, strerror(saved));
    a->base = p;
    a->size = (size_t)st.st_size;
    return true;
}

// ----------------------------------------------------------------------------
// header and section table

// Reserved and padding bytes are zero: a flipped one there is corruption too.
static bool all_zero(const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i]) return false;
    return true;
}

static bool check_header(Artifact *a, uint32_t *n_sections, AwqcError *err) {
    const uint8_t *h = a->base;
    if (memcmp(h, AWQX_MAGIC, 8) != 0) return awqc_fail(err, "%s: not an awqc artifact (bad magic)", a->path);
    a->version = (uint32_t)get_le(h, AWQX_HDR_VERSION, 4);
    if (a->version != AWQX_VERSION)
        return awqc_fail(err, "%s: artifact format version %u, this awqc reads version %d: compile the model again",
                         a->path, a->version, AWQX_VERSION);
    uint64_t file_size = get_le(h, AWQX_HDR_FILE_SIZE, 8);
    if (file_size != a->size)
        return awqc_fail(err, "%s: %s: the header says %llu bytes, the file has %zu", a->path,
                         file_size > a->size ? "truncated" : "trailing bytes", (unsigned long long)file_size, a->size);
    if (!all_zero(h + AWQX_HDR_RESERVED, AWQX_HEADER_SIZE - AWQX_HDR_RESERVED))
        return awqc_fail(err, "%s: offset %d: reserved header bytes are not zero (the file is corrupt)", a->path,
                         AWQX_HDR_RESERVED);
    *n_sections = (uint32_t)get_le(h, AWQX_HDR_N_SECTIONS, 4);
    uint64_t table = get_le(h, AWQX_HDR_TABLE, 8);
    if (table != AWQX_HEADER_SIZE || *n_sections > AWQX_MAX_SECTIONS ||
        table + (uint64_t)*n_sections * AWQX_ENTRY_SIZE > a->size)
        return awqc_fail(err, "%s: offset %d: a section table of %u entries at %llu does not fit", a->path,
                         AWQX_HDR_N_SECTIONS, *n_sections, (unsigned long long)table);
    if (XXH3_64bits(h + table, (size_t)*n_sections * AWQX_ENTRY_SIZE) != get_le(h, AWQX_HDR_TABLE_CHECKSUM, 8))
        return awqc_fail(err, "%s: the section table's checksum does not match (the file is corrupt)", a->path);
    return true;
}

static bool read_entry(const Artifact *a, size_t i, ArtifactSection *s, AwqcError *err) {
    const uint8_t *e = a->base + AWQX_HEADER_SIZE + i * AWQX_ENTRY_SIZE;
    size_t at = AWQX_HEADER_SIZE + i * AWQX_ENTRY_SIZE;
    const uint8_t *nul = memchr(e, 0, AWQX_NAME_MAX);
    if (!nul || e[0] == 0 || !all_zero(nul, (size_t)(e + AWQX_NAME_MAX - nul)))
        return awqc_fail(err, "%s: offset %zu: section %zu has no valid name", a->path, at, i);
    if (!all_zero(e + AWQX_ENT_RESERVED, AWQX_ENTRY_SIZE - AWQX_ENT_RESERVED))
        return awqc_fail(err, "%s: offset %zu: reserved bytes of section %zu are not zero", a->path,
                         at + AWQX_ENT_RESERVED, i);
    memcpy(s->name, e, AWQX_NAME_MAX);
    s->offset = get_le(e, AWQX_ENT_OFFSET, 8);
    s->size = get_le(e, AWQX_ENT_SIZE, 8);
    s->checksum = get_le(e, AWQX_ENT_CHECKSUM, 8);
    if (s->offset % AWQX_ALIGN)
        return awqc_fail(err, "%s: offset %zu: section '%s' at %llu is not %d-byte aligned", a->path, at, s->name,
                         (unsigned long long)s->offset, AWQX_ALIGN);
    if (s->offset > a->size || s->size > a->size - s->offset)
        return awqc_fail(err, "%s: offset %zu: section '%s' at %llu (+%llu bytes) lies outside the %zu-byte file",
                         a->path, at, s->name, (unsigned long long)s->offset, (unsigned long long)s->size, a->size);
    for (size_t j = 0; j < i; j++)
        if (strcmp(a->sections[j].name, s->name) == 0)
            return awqc_fail(err, "%s: offset %zu: section '%s' appears twice", a->path, at, s->name);
    if (XXH3_64bits(a->base + s->offset, (size_t)s->size) != s->checksum)
        return awqc_fail(err, "%s: section '%s': checksum mismatch (the file is corrupt)", a->path, s->name);
    return true;
}

static bool read_table(Artifact *a, uint32_t n, AwqcError *err) {
    a->sections = xcalloc(n ? n : 1, sizeof *a->sections);
    for (size_t i = 0; i < n; i++) {
        if (!read_entry(a, i, &a->sections[i], err)) return false;
        a->n_sections = i + 1;
    }
    return true;
}

cJSON *artifact_section_json(const Artifact *a, const char *name, AwqcError *err) {
    uint64_t size;
    const uint8_t *text = artifact_find(a, name, &size);
    if (!text) {
        awqc_fail(err, "%s: no '%s' section", a->path, name);
        return NULL;
    }
    char *origin = awqc_asprintf("%s: section '%s'", a->path, name);
    cJSON *root = awqc_json_parse((const char *)text, (size_t)size, origin, err);
    free(origin);
    return root;
}

static bool read_meta(Artifact *a, AwqcError *err) {
    a->meta = artifact_section_json(a, AWQX_SEC_META, err);
    if (a->meta && !cJSON_IsObject(a->meta))
        return awqc_fail(err, "%s: section '%s': the top level is not a JSON object", a->path, AWQX_SEC_META);
    return a->meta != NULL;
}

Artifact *artifact_open(const char *path, AwqcError *err) {
    Artifact *a = xcalloc(1, sizeof *a);
    a->path = xstrdup(path);
    uint32_t n = 0;
    bool ok = map_file(a, err) && check_header(a, &n, err) && read_table(a, n, err) && read_meta(a, err);
    if (!ok) {
        artifact_close(a);
        return NULL;
    }
    return a;
}

void artifact_close(Artifact *a) {
    if (!a) return;
    if (a->base) munmap((void *)a->base, a->size);
    cJSON_Delete(a->meta);
    free(a->sections);
    free(a->path);
    free(a);
}

const char *artifact_path(const Artifact *a) { return a->path; }
uint32_t artifact_version(const Artifact *a) { return a->version; }
uint64_t artifact_file_size(const Artifact *a) { return a->size; }
size_t artifact_section_count(const Artifact *a) { return a->n_sections; }
const ArtifactSection *artifact_section_at(const Artifact *a, size_t i) {
    AWQC_ASSERT(i < a->n_sections);
    return &a->sections[i];
}

const uint8_t *artifact_find(const Artifact *a, const char *name, uint64_t *size) {
    for (size_t i = 0; i < a->n_sections; i++)
        if (strcmp(a->sections[i].name, name) == 0) {
            *size = a->sections[i].size;
            return a->base + a->sections[i].offset;
        }
    *size = 0;
    return NULL;
}

const cJSON *artifact_meta(const Artifact *a) { return a->meta; }

const char *artifact_meta_string(const Artifact *a, const char *key) {
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a->meta, key));
}

// ----------------------------------------------------------------------------
// the plan and its weights

// A section as a NUL-terminated heap string (the parsers want one).
static char *section_text(const Artifact *a, const char *name, AwqcError *err) {
    uint64_t size;
    const uint8_t *p = artifact_find(a, name, &size);
    if (!p) {
        awqc_fail(err, "%s: no '%s' section", a->path, name);
        return NULL;
    }
    char *s = xmalloc((size_t)size + 1);
    memcpy(s, p, (size_t)size);
    s[size] = '\0';
    return s;
}

typedef struct {
    const Artifact *a;
    const uint8_t *bytes; // the weights section
    uint64_t size;
} WeightSource;

static bool bind_f32(const WeightSource *src, Weight *w, const uint8_t *p, uint64_t size, AwqcError *err) {
    uint64_t want = sizeof(float) * (uint64_t)ir_type_elements(&w->type);
    if (w->type.dtype != DT_F32 || size != want)
        return awqc_fail(err, "%s: weight @%s: %llu bytes of f32, but its type %s needs %llu", src->a->path, w->name,
                         (unsigned long long)size, ir_dtype_name(w->type.dtype), (unsigned long long)want);
    w->data = (float *)(uintptr_t)p; // the mapping is read-only; nothing writes bound weights
    return true;
}

// Whether the blob's size is what the layout makes of the weight's type is
// the verifier's check (ir_packed_matches_type), run once everything is bound.
static bool bind_packed(const WeightSource *src, Weight *w, const uint8_t *p, uint64_t size, AwqcError *err) {
    if (!w->layout)
        return awqc_fail(err, "%s: weight @%s: packed bytes but the plan gives it no layout", src->a->path, w->name);
    w->packed = (uint8_t *)(uintptr_t)p;
    w->packed_size = (size_t)size;
    return true;
}

// Codes are copied: a QuantMatrix owns its arrays.
static bool bind_codes(const WeightSource *src, Weight *w, const uint8_t *p, uint64_t size, AwqcError *err) {
    const Type *t = &w->type;
    if (w->layout)
        return awqc_fail(err, "%s: weight @%s: codes, but the plan packs it as %s", src->a->path, w->name, w->layout);
    int bits;
    int64_t rows, cols;
    AwqcError why;
    if (!ir_quant_shape(w, &bits, &rows, &cols, &why))
        return awqc_fail(err, "%s: weight @%s: codes for a weight of type %s", src->a->path, w->name,
                         ir_dtype_name(t->dtype));
    QuantMatrix *m = xcalloc(1, sizeof *m);
    if (!quant_matrix_init(m, rows, cols, bits, t->group, err)) {
        free(m);
        awqc_error_prefix(err, "%s: weight @%s", src->a->path, w->name);
        return false;
    }
    size_t codes = (size_t)(m->rows * m->cols), groups = (size_t)(m->rows * quant_n_groups(m));
    if (size != codes + 3 * groups) {
        quant_matrix_free(m);
        free(m);
        return awqc_fail(err, "%s: weight @%s: %llu bytes of codes, expected %zu", src->a->path, w->name,
                         (unsigned long long)size, codes + 3 * groups);
    }
    memcpy(m->q, p, codes);
    memcpy(m->scales, p + codes, 2 * groups);
    memcpy(m->zeros, p + codes + 2 * groups, groups);
    w->quant = m;
    return true;
}

static bool whole_count(const cJSON *v) { return v->valuedouble >= 0 && floor(v->valuedouble) == v->valuedouble; }

// An entry's byte range, checked as doubles before any conversion: a JSON
// number past 2^64 does not convert to an integer.
static bool entry_range(const WeightSource *src, const char *name, const cJSON *off, const cJSON *sz,
                        uint64_t *offset, uint64_t *size, AwqcError *err) {
    double o = off->valuedouble, s = sz->valuedouble, limit = (double)src->size;
    if (!whole_count(off) || !whole_count(sz))
        return awqc_fail(err, "%s: weight @%s: offset %.17g and size %.17g must be whole, non-negative byte counts",
                         src->a->path, name, o, s);
    if (o > limit || s > limit - o)
        return awqc_fail(err, "%s: weight @%s: %.17g bytes at offset %.17g lie outside the %llu-byte weights section",
                         src->a->path, name, s, o, (unsigned long long)src->size);
    *offset = (uint64_t)o;
    *size = (uint64_t)s;
    if (*offset % AWQX_ALIGN)
        return awqc_fail(err, "%s: weight @%s: offset %llu is not %d-byte aligned", src->a->path, name,
                         (unsigned long long)*offset, AWQX_ALIGN);
    return true;
}

static bool bind_entry(const WeightSource *src, Graph *g, const cJSON *e, size_t i, AwqcError *err) {
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "name"));
    const char *kind = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "kind"));
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(e, "offset"), *sz = cJSON_GetObjectItemCaseSensitive(e, "size");
    if (!name || !kind || !cJSON_IsNumber(off) || !cJSON_IsNumber(sz))
        return awqc_fail(err, "%s: section '%s': entry %zu needs name, kind, offset and size", src->a->path,
                         AWQX_SEC_WEIGHT_INDEX, i);
    uint64_t offset = 0, size = 0;
    if (!entry_range(src, name, off, sz, &offset, &size, err)) return false;
    int w = ir_find_weight(g, name);
    if (w < 0) return awqc_fail(err, "%s: weight @%s is in the index but not in the plan", src->a->path, name);
    Weight *wt = &g->weights[w];
    if (wt->data || wt->packed || wt->quant)
        return awqc_fail(err, "%s: weight @%s is indexed twice", src->a->path, name);
    const uint8_t *p = src->bytes + offset;
    wt->borrowed = true;
    if (strcmp(kind, "f32") == 0) return bind_f32(src, wt, p, size, err);
    if (strcmp(kind, "packed") == 0) return bind_packed(src, wt, p, size, err);
    if (strcmp(kind, "codes") == 0) return bind_codes(src, wt, p, size, err);
    return awqc_fail(err, "%s: weight @%s: unknown kind '%s'", src->a->path, name, kind);
}

static bool bind_weights(const Artifact *a, Graph *g, AwqcError *err) {
    WeightSource src = {.a = a};
    src.bytes = artifact_find(a, AWQX_SEC_WEIGHTS, &src.size);
    if (!src.bytes) return awqc_fail(err, "%s: no '%s' section", a->path, AWQX_SEC_WEIGHTS);
    cJSON *index = artifact_section_json(a, AWQX_SEC_WEIGHT_INDEX, err);
    bool ok = index && (cJSON_IsArray(index) ||
                        awqc_fail(err, "%s: section '%s': not a JSON array", a->path, AWQX_SEC_WEIGHT_INDEX));
    for (int i = 0; ok && i < cJSON_GetArraySize(index); i++)
        ok = bind_entry(&src, g, cJSON_GetArrayItem(index, i), (size_t)i, err);
    for (size_t i = 0; ok && i < g->n_weights; i++)
        if (!ir_weight_bound(&g->weights[i]))
            ok = awqc_fail(err, "%s: weight @%s of the plan has no bytes in the index", a->path, g->weights[i].name);
    cJSON_Delete(index);
    return ok;
}

Graph *artifact_load_graph(const Artifact *a, AwqcError *err) {
    char *text = section_text(a, AWQX_SEC_PLAN, err);
    if (!text) return NULL;
    char *origin = awqc_asprintf("%s:plan", a->path);
    Graph *g = ir_parse(text, origin, err);
    free(origin);
    free(text);
    if (!g) return NULL;
    bool ok = bind_weights(a, g, err);
    if (ok && !ir_verify(g, err)) ok = (awqc_error_prefix(err, "%s", a->path), false);
    if (ok) return g;
    ir_graph_free(g);
    return NULL;
}

Tokenizer *artifact_load_tokenizer(const Artifact *a, AwqcError *err) {
    uint64_t size;
    const uint8_t *json = artifact_find(a, AWQX_SEC_TOKENIZER, &size);
    if (!json) {
        awqc_fail(err, "%s: no '%s' section", a->path, AWQX_SEC_TOKENIZER);
        return NULL;
    }
    char *config = NULL;
    uint64_t config_size;
    if (artifact_find(a, AWQX_SEC_TOKENIZER_CONFIG, &config_size) &&
        !(config = section_text(a, AWQX_SEC_TOKENIZER_CONFIG, err)))
        return NULL;
    char *origin = awqc_asprintf("%s: section '%s'", a->path, AWQX_SEC_TOKENIZER);
    Tokenizer *t = tok_from_hf_text((const char *)json, (size_t)size, config, origin, err);
    free(origin);
    free(config);
    return t;
}
