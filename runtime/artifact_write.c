// artifact_write.c: writes a compiled model as one .awqx file (artifact.h):
// the small sections are built in memory, the weights are streamed from the
// graph in place; all offsets and checksums are known before the first byte
// is written, and the file only appears at its path once complete.
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "common/json.h"
#include "ir/layout.h"
#include "runtime/artifact.h"
#include "runtime/tokenizer/tok_export.h"

// ----------------------------------------------------------------------------
// the weight payloads

// One weight's bytes: up to three pieces (codes, scales, zeros) laid end to end.
typedef struct {
    const char *kind; // "f32", "packed" or "codes"
    const void *piece[3];
    size_t piece_size[3];
    uint64_t offset, size; // within the weights section
} Payload;

static uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

static bool payload_of(const Weight *w, Payload *p, AwqcError *err) {
    *p = (Payload){0};
    if (w->packed) {
        *p = (Payload){.kind = "packed", .piece = {w->packed}, .piece_size = {w->packed_size}};
    } else if (w->quant) {
        const QuantMatrix *m = w->quant;
        size_t codes = (size_t)(m->rows * m->cols), groups = (size_t)(m->rows * quant_n_groups(m));
        *p = (Payload){.kind = "codes",
                       .piece = {m->q, m->scales, m->zeros},
                       .piece_size = {codes, groups * sizeof *m->scales, groups}};
    } else if (w->data && w->type.dtype == DT_F32) {
        size_t bytes = sizeof(float) * (size_t)ir_type_elements(&w->type);
        *p = (Payload){.kind = "f32", .piece = {w->data}, .piece_size = {bytes}};
    } else {
        return awqc_fail(err, "weight @%s is not bound (no data, codes or packed bytes): only a loaded model compiles",
                         w->name);
    }
    for (int k = 0; k < 3; k++) p->size += p->piece_size[k];
    return true;
}

static Payload *plan_payloads(const Graph *g, uint64_t *total, AwqcError *err) {
    Payload *p = xcalloc(g->n_weights ? g->n_weights : 1, sizeof *p);
    uint64_t at = 0;
    for (size_t i = 0; i < g->n_weights; i++) {
        if (!payload_of(&g->weights[i], &p[i], err)) {
            free(p);
            return NULL;
        }
        p[i].offset = at;
        at = align_up(at + p[i].size, AWQX_ALIGN);
    }
    *total = at;
    return p;
}

static cJSON *weight_index_json(const Graph *g, const Payload *p) {
    cJSON *list = cJSON_CreateArray();
    for (size_t i = 0; i < g->n_weights; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", g->weights[i].name);
        cJSON_AddStringToObject(o, "kind", p[i].kind);
        cJSON_AddNumberToObject(o, "offset", (double)p[i].offset);
        cJSON_AddNumberToObject(o, "size", (double)p[i].size);
        cJSON_AddItemToArray(list, o);
    }
    return list;
}

// ----------------------------------------------------------------------------
// the metadata

static void add_quantization(cJSON *meta, const Graph *g) {
    int bits = 0, group = 0;
    size_t quantized = 0;
    for (size_t i = 0; i < g->n_weights; i++) {
        const Type *t = &g->weights[i].type;
        if (!ir_dtype_bits(t->dtype)) continue;
        if (!quantized++) { // the body's: the first in graph order (a --head q8/q4 comes last)
            bits = ir_dtype_bits(t->dtype);
            group = t->group;
        }
    }
    if (!quantized) {
        cJSON_AddNullToObject(meta, "quantization");
        return;
    }
    cJSON *q = cJSON_AddObjectToObject(meta, "quantization");
    cJSON_AddNumberToObject(q, "bits", bits);
    cJSON_AddNumberToObject(q, "group_size", group);
    cJSON_AddNumberToObject(q, "quantized_weights", (double)quantized);
}

static cJSON *meta_json(const Graph *g, const ArtifactInfo *info, uint64_t weight_bytes) {
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "format", "awqx");
    cJSON_AddNumberToObject(m, "format_version", AWQX_VERSION);
    cJSON_AddStringToObject(m, "awqc_version", info->awqc_version ? info->awqc_version : "");
    cJSON_AddStringToObject(m, "target", info->target ? info->target : "");
    cJSON_AddStringToObject(m, "model", g->name ? g->name : "");
    cJSON_AddStringToObject(m, "source", info->source ? info->source : "");
    cJSON_AddNumberToObject(m, "planned_ctx", (double)info->planned_ctx);
    cJSON_AddNumberToObject(m, "nodes", (double)g->n_nodes);
    cJSON_AddNumberToObject(m, "weights", (double)g->n_weights);
    cJSON_AddNumberToObject(m, "weight_bytes", (double)weight_bytes);
    add_quantization(m, g);
    return m;
}

// ----------------------------------------------------------------------------
// sections and the file

typedef struct {
    const char *name;
    char *owned;         // bytes this writer made (freed after), or NULL
    const uint8_t *data; // an in-memory section (owned or the caller's), or NULL for the weights
    uint64_t size, offset, checksum;
} Section;

typedef struct {
    Section sec[8 + AWQX_MAX_EXTRA];
    int n;
    const Graph *g;
    const Payload *payloads;
} Layout;

static void add_text(Layout *l, const char *name, char *text) {
    AWQC_ASSERT(l->n < (int)(sizeof l->sec / sizeof *l->sec));
    l->sec[l->n++] = (Section){.name = name, .owned = text, .data = (const uint8_t *)text, .size = strlen(text)};
}

static void add_blob(Layout *l, const ArtifactBlob *b) {
    AWQC_ASSERT(l->n < (int)(sizeof l->sec / sizeof *l->sec));
    l->sec[l->n++] = (Section){.name = b->name, .data = b->data, .size = b->size};
}

static char *json_text(cJSON *root) {
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    AWQC_ASSERT(s != NULL);
    char *copy = xstrdup(s);
    cJSON_free(s);
    return copy;
}

static const uint8_t zeros[AWQX_WEIGHTS_ALIGN];

static uint64_t weights_checksum(const Layout *l, uint64_t size) {
    XXH3_state_t *st = XXH3_createState();
    AWQC_ASSERT(st != NULL);
    XXH3_64bits_reset(st);
    uint64_t at = 0;
    for (size_t i = 0; i < l->g->n_weights; i++) {
        const Payload *p = &l->payloads[i];
        XXH3_64bits_update(st, zeros, p->offset - at);
        for (int k = 0; k < 3; k++) XXH3_64bits_update(st, p->piece[k], p->piece_size[k]);
        at = p->offset + p->size;
    }
    XXH3_64bits_update(st, zeros, size - at);
    uint64_t h = XXH3_64bits_digest(st);
    XXH3_freeState(st);
    return h;
}

// Offsets: header, table, then the sections in order, each aligned; the
// weights on a page so the runtime maps them in place.
static uint64_t place_sections(Layout *l) {
    uint64_t at = AWQX_HEADER_SIZE + (uint64_t)l->n * AWQX_ENTRY_SIZE;
    for (int i = 0; i < l->n; i++) {
        Section *s = &l->sec[i];
        at = align_up(at, s->data ? AWQX_ALIGN : AWQX_WEIGHTS_ALIGN);
        s->offset = at;
        s->checksum = s->data ? XXH3_64bits(s->data, s->size) : weights_checksum(l, s->size);
        at += s->size;
    }
    return at;
}

// Header and table as one block; the header's checksum covers the table.
static uint8_t *header_bytes(const Layout *l, uint64_t file_size, size_t *len) {
    *len = AWQX_HEADER_SIZE + (size_t)l->n * AWQX_ENTRY_SIZE;
    uint8_t *b = xcalloc(1, *len);
    memcpy(b, AWQX_MAGIC, 8);
    awqc_store_le(b + AWQX_HDR_VERSION, AWQX_VERSION, 4);
    awqc_store_le(b + AWQX_HDR_N_SECTIONS, (uint64_t)l->n, 4);
    awqc_store_le(b + AWQX_HDR_TABLE, AWQX_HEADER_SIZE, 8);
    awqc_store_le(b + AWQX_HDR_FILE_SIZE, file_size, 8);
    for (int i = 0; i < l->n; i++) {
        uint8_t *e = b + AWQX_HEADER_SIZE + (size_t)i * AWQX_ENTRY_SIZE;
        AWQC_ASSERT(strlen(l->sec[i].name) < AWQX_NAME_MAX);
        memcpy(e, l->sec[i].name, strlen(l->sec[i].name));
        awqc_store_le(e + AWQX_ENT_OFFSET, l->sec[i].offset, 8);
        awqc_store_le(e + AWQX_ENT_SIZE, l->sec[i].size, 8);
        awqc_store_le(e + AWQX_ENT_CHECKSUM, l->sec[i].checksum, 8);
    }
    awqc_store_le(b + AWQX_HDR_TABLE_CHECKSUM, XXH3_64bits(b + AWQX_HEADER_SIZE, *len - AWQX_HEADER_SIZE), 8);
    return b;
}

static bool pad_to(FILE *f, uint64_t *at, uint64_t target) {
    AWQC_ASSERT(target >= *at && target - *at <= sizeof zeros);
    size_t n = (size_t)(target - *at);
    *at = target;
    return fwrite(zeros, 1, n, f) == n;
}

static bool write_weights(FILE *f, const Layout *l, const Section *s, uint64_t *at) {
    for (size_t i = 0; i < l->g->n_weights; i++) {
        const Payload *p = &l->payloads[i];
        if (!pad_to(f, at, s->offset + p->offset)) return false;
        for (int k = 0; k < 3; k++)
            if (p->piece_size[k] && fwrite(p->piece[k], 1, p->piece_size[k], f) != p->piece_size[k]) return false;
        *at += p->size;
    }
    return pad_to(f, at, s->offset + s->size);
}

typedef struct {
    const Layout *layout;
    uint64_t file_size;
} WriteJob;

static bool write_file(FILE *f, void *user) {
    const WriteJob *job = user;
    const Layout *l = job->layout;
    size_t hlen;
    uint8_t *header = header_bytes(l, job->file_size, &hlen);
    bool ok = fwrite(header, 1, hlen, f) == hlen;
    free(header);
    uint64_t at = hlen;
    for (int i = 0; ok && i < l->n; i++) {
        const Section *s = &l->sec[i];
        ok = pad_to(f, &at, s->offset);
        if (ok && s->data) {
            ok = fwrite(s->data, 1, s->size, f) == s->size;
            at += s->size;
        } else if (ok) {
            ok = write_weights(f, l, s, &at);
        }
    }
    return ok && at == job->file_size;
}

// ----------------------------------------------------------------------------

static bool tokenizer_sections(Layout *l, const Tokenizer *tok, const ArtifactInfo *info, AwqcError *err) {
    char *json = NULL, *config = NULL;
    if (!tok_to_hf_text(tok, info->planned_ctx, &json, &config, err)) return false;
    add_text(l, AWQX_SEC_TOKENIZER, json);
    add_text(l, AWQX_SEC_TOKENIZER_CONFIG, config);
    return true;
}

bool artifact_write(const char *path, const Graph *g, const Tokenizer *tok, const ArtifactInfo *info,
                    AwqcError *err) {
    uint64_t weight_bytes = 0;
    Payload *payloads = plan_payloads(g, &weight_bytes, err);
    if (!payloads) {
        awqc_error_prefix(err, "%s", path);
        return false;
    }
    Layout l = {.g = g, .payloads = payloads};
    add_text(&l, AWQX_SEC_META, json_text(meta_json(g, info, weight_bytes)));
    add_text(&l, AWQX_SEC_PLAN, ir_print_to_string(g));
    add_text(&l, AWQX_SEC_WEIGHT_INDEX, json_text(weight_index_json(g, payloads)));
    bool ok = tokenizer_sections(&l, tok, info, err);
    AWQC_ASSERT(info->n_extra <= AWQX_MAX_EXTRA);
    for (size_t i = 0; ok && i < info->n_extra; i++) add_blob(&l, &info->extra[i]);
    if (ok) {
        l.sec[l.n++] = (Section){.name = AWQX_SEC_WEIGHTS, .size = weight_bytes};
        WriteJob job = {&l, place_sections(&l)};
        ok = awqc_write_atomic_with(path, write_file, &job, err);
    } else {
        awqc_error_prefix(err, "%s: tokenizer", path);
    }
    for (int i = 0; i < l.n; i++) free(l.sec[i].owned);
    free(payloads);
    return ok;
}
