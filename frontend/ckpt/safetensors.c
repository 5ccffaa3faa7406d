// safetensors.c: reader for one .safetensors file: an 8-byte little-endian
// header length, a JSON header mapping tensor names to dtype, shape and
// data_offsets, then the data. Every entry is checked against the data size
// and against its own shape before it becomes a tensor.
#include "frontend/ckpt/ckpt_internal.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ST_MAX_HEADER (100u << 20) // the format's own cap on header size
#define JSON_MAX_EXACT 9007199254740992.0 // 2^53: larger JSON integers are inexact

typedef struct {
    const char *name;
    StorageType st;
    uint32_t size; // bytes per element
} Dtype;

static const Dtype DTYPES[] = {
    {"F32", ST_F32, 4},     {"F16", ST_F16, 2},     {"BF16", ST_BF16, 2},    {"I32", ST_I32, 4},
    {"I8", ST_I8, 1},       {"F64", ST_OTHER, 8},   {"I64", ST_OTHER, 8},    {"I16", ST_OTHER, 2},
    {"U8", ST_U8, 1},       {"U16", ST_OTHER, 2},   {"U32", ST_OTHER, 4},    {"U64", ST_OTHER, 8},
    {"BOOL", ST_OTHER, 1},  {"F8_E4M3", ST_OTHER, 1}, {"F8_E5M2", ST_OTHER, 1},
};
#define N_DTYPES (sizeof DTYPES / sizeof DTYPES[0])

const char *safetensors_dtype_name(int raw_type) {
    return raw_type >= 0 && (size_t)raw_type < N_DTYPES ? DTYPES[raw_type].name : "?";
}

bool safetensors_dtype_of(StorageType t, const char **name, size_t *size) {
    for (size_t i = 0; i < N_DTYPES; i++)
        if (t != ST_OTHER && DTYPES[i].st == t) {
            *name = DTYPES[i].name;
            *size = DTYPES[i].size;
            return true;
        }
    return false;
}

static int find_dtype(const char *name) {
    for (size_t i = 0; i < N_DTYPES; i++)
        if (strcmp(DTYPES[i].name, name) == 0) return (int)i;
    return -1;
}

// ----------------------------------------------------------------------------
// Header entries

// A JSON number that is a whole, non-negative, exactly representable integer.
static bool json_count(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v)) return false;
    double d = v->valuedouble;
    if (!(d >= 0 && d <= JSON_MAX_EXACT) || floor(d) != d) return false;
    *out = (uint64_t)d;
    return true;
}

static bool read_shape(const char *path, const char *name, const cJSON *shape, CkptTensor *t, AwqcError *err) {
    if (!cJSON_IsArray(shape)) return awqc_fail(err, "%s: tensor '%s': \"shape\" is not an array", path, name);
    int rank = cJSON_GetArraySize(shape);
    if (rank > CKPT_MAX_RANK)
        return awqc_fail(err, "%s: tensor '%s': rank %d exceeds %d", path, name, rank, CKPT_MAX_RANK);
    t->rank = rank;
    int d = 0;
    for (const cJSON *dim = shape->child; dim; dim = dim->next, d++) {
        uint64_t v;
        if (!json_count(dim, &v))
            return awqc_fail(err, "%s: tensor '%s': shape[%d] is not a non-negative integer", path, name, d);
        t->shape[d] = (int64_t)v;
    }
    if (!ckpt_checked_product(t->shape, t->rank, &t->n_elements))
        return awqc_fail(err, "%s: tensor '%s': element count overflows", path, name);
    return true;
}

static bool read_offsets(const char *path, const char *name, const cJSON *offs, uint64_t data_size,
                         uint64_t *begin, uint64_t *end, AwqcError *err) {
    if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2 || !json_count(offs->child, begin) ||
        !json_count(offs->child->next, end))
        return awqc_fail(err, "%s: tensor '%s': \"data_offsets\" is not two non-negative integers", path, name);
    if (*end < *begin)
        return awqc_fail(err, "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 ") end before begin", path,
                         name, *begin, *end);
    if (*end > data_size)
        return awqc_fail(err, "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64
                         ") beyond end of data (%" PRIu64 " bytes)", path, name, *begin, *end, data_size);
    return true;
}

// Checks the byte span matches shape x dtype size: a header that lies about
// sizes would otherwise make loads read neighbouring tensors.
static bool check_span(const char *path, const char *name, const CkptTensor *t, const Dtype *dt, uint64_t span,
                       AwqcError *err) {
    uint64_t n = (uint64_t)t->n_elements;
    if (n > UINT64_MAX / dt->size || n * dt->size != span)
        return awqc_fail(err, "%s: tensor '%s': data_offsets span %" PRIu64 " bytes but %" PRIu64
                         " elements of %s need %" PRIu64, path, name, span, n, dt->name,
                         n > UINT64_MAX / dt->size ? UINT64_MAX : n * dt->size);
    return true;
}

static bool read_entry(Checkpoint *c, uint32_t mi, const cJSON *item, uint64_t data_start, uint64_t data_size,
                       AwqcError *err) {
    const char *path = c->maps[mi].path, *name = item->string;
    if (!cJSON_IsObject(item)) return awqc_fail(err, "%s: tensor '%s': header entry is not an object", path, name);
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    if (!cJSON_IsString(dtype)) return awqc_fail(err, "%s: tensor '%s': \"dtype\" is not a string", path, name);
    int di = find_dtype(dtype->valuestring);
    if (di < 0) return awqc_fail(err, "%s: tensor '%s': unknown dtype '%s'", path, name, dtype->valuestring);
    CkptTensor t = {0};
    uint64_t begin = 0, end = 0;
    if (!read_shape(path, name, cJSON_GetObjectItemCaseSensitive(item, "shape"), &t, err)) return false;
    if (!read_offsets(path, name, cJSON_GetObjectItemCaseSensitive(item, "data_offsets"), data_size, &begin, &end,
                      err))
        return false;
    if (!check_span(path, name, &t, &DTYPES[di], end - begin, err)) return false;
    CkptEntry *e = ckpt_add_tensor(c, xstrdup(name), err);
    if (!e) {
        awqc_error_prefix(err, "%s", path);
        return false;
    }
    t.name = e->info.name;
    t.type = DTYPES[di].st;
    t.nbytes = end - begin;
    e->info = t;
    e->map = mi;
    e->offset = data_start + begin;
    e->raw_type = di;
    return true;
}

// ----------------------------------------------------------------------------
// File

static bool read_header_len(const CkptMap *m, uint64_t *len, AwqcError *err) {
    if (m->size < 8)
        return awqc_fail(err, "%s: offset 0: truncated file: the 8-byte header length is missing (file has %zu bytes)",
                         m->path, m->size);
    uint64_t n = awqc_load_le(m->data, 8);
    if (n > m->size - 8)
        return awqc_fail(err, "%s: offset 0: header length %" PRIu64 " exceeds file size (%zu)", m->path, n, m->size);
    if (n > ST_MAX_HEADER)
        return awqc_fail(err, "%s: offset 0: header length %" PRIu64 " exceeds the 100 MiB limit", m->path, n);
    *len = n;
    return true;
}

static cJSON *parse_header(const CkptMap *m, uint64_t len, AwqcError *err) {
    const char *json = (const char *)m->data + 8, *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, (size_t)len, &end, false);
    if (!root) {
        size_t at = 8 + (end && end >= json ? (size_t)(end - json) : 0);
        awqc_fail(err, "%s: offset %zu: invalid JSON in the safetensors header", m->path, at);
        return NULL;
    }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        awqc_fail(err, "%s: offset 8: the safetensors header is not a JSON object", m->path);
        return NULL;
    }
    return root;
}

static int by_offset(const void *a, const void *b) {
    const CkptEntry *x = *(const CkptEntry *const *)a, *y = *(const CkptEntry *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

// Two tensors sharing bytes would alias: writing or quantizing one changes the
// other, so a file that claims it is refused (the format forbids it too).
static bool check_no_overlap(const Checkpoint *c, uint32_t mi, size_t first, AwqcError *err) {
    size_t n = c->n_tensors - first;
    const CkptEntry **e = xmalloc((n ? n : 1) * sizeof *e);
    for (size_t i = 0; i < n; i++) e[i] = &c->tensors[first + i];
    qsort(e, n, sizeof *e, by_offset);
    bool ok = true;
    for (size_t i = 1; ok && i < n; i++) {
        const CkptEntry *a = e[i - 1], *b = e[i];
        if (a->info.nbytes && b->info.nbytes && b->offset < a->offset + a->info.nbytes)
            ok = awqc_fail(err, "%s: tensors '%s' and '%s' overlap: their data_offsets share bytes", c->maps[mi].path,
                           a->info.name, b->info.name);
    }
    free(e);
    return ok;
}

bool safetensors_read(Checkpoint *c, uint32_t mi, AwqcError *err) {
    const CkptMap *m = &c->maps[mi];
    uint64_t len = 0;
    if (!read_header_len(m, &len, err)) return false;
    cJSON *root = parse_header(m, len, err);
    if (!root) return false;
    uint64_t data_start = 8 + len, data_size = m->size - data_start;
    size_t first = c->n_tensors;
    bool ok = true;
    for (const cJSON *item = root->child; ok && item; item = item->next) {
        if (strcmp(item->string, "__metadata__") == 0) {
            // Free-form string pairs; config.json carries the model metadata.
            if (!cJSON_IsObject(item)) ok = awqc_fail(err, "%s: \"__metadata__\" is not an object", m->path);
            continue;
        }
        ok = read_entry(c, mi, item, data_start, data_size, err);
    }
    cJSON_Delete(root);
    return ok && check_no_overlap(c, mi, first, err);
}
