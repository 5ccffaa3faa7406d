// gguf.c: reader for GGUF v2/v3 files: header, metadata key/values, tensor
// infos and the aligned data section, over a read-only mmap. Every count,
// length and offset is checked against the bytes actually left in the file
// before it is used, so a truncated or hostile file yields an error, not a crash.
#include "frontend/ckpt/ckpt_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// GGUF metadata value types (from the format specification).
enum {
    GV_U8 = 0, GV_I8 = 1, GV_U16 = 2, GV_I16 = 3, GV_U32 = 4, GV_I32 = 5, GV_F32 = 6,
    GV_BOOL = 7, GV_STRING = 8, GV_ARRAY = 9, GV_U64 = 10, GV_I64 = 11, GV_F64 = 12,
};

#define GGUF_MAX_KEY_LEN 65535u   // the spec's limit on key length
#define GGUF_MAX_NAME_LEN 65535u  // generous: ggml itself uses 64
#define GGUF_DEFAULT_ALIGNMENT 32

// ----------------------------------------------------------------------------
// Bounded little-endian reader

typedef struct {
    const uint8_t *p;
    size_t size, pos;
    const char *path;
    char ctx[160]; // what is being read, for error messages ("key 'x'")
    AwqcError *err;
} Reader;

static bool rfail(Reader *r, size_t at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static bool rfail(Reader *r, size_t at, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (r->ctx[0]) return awqc_fail(r->err, "%s: offset %zu: %s: %s", r->path, at, r->ctx, msg);
    return awqc_fail(r->err, "%s: offset %zu: %s", r->path, at, msg);
}

static size_t left(const Reader *r) { return r->size - r->pos; }

static bool need(Reader *r, uint64_t n, const char *what) {
    if (n <= left(r)) return true;
    return rfail(r, r->pos, "truncated file: %s needs %" PRIu64 " bytes but only %zu are left", what, n,
                 left(r));
}

static uint64_t take_le(Reader *r, int n) {
    uint64_t v = awqc_load_le(r->p + r->pos, n);
    r->pos += (size_t)n;
    return v;
}

static bool rd_u32(Reader *r, uint32_t *out, const char *what) {
    if (!need(r, 4, what)) return false;
    *out = (uint32_t)take_le(r, 4);
    return true;
}

static bool rd_u64(Reader *r, uint64_t *out, const char *what) {
    if (!need(r, 8, what)) return false;
    *out = take_le(r, 8);
    return true;
}

// A GGUF string: u64 length, then that many bytes (no NUL). Returns a heap copy.
static bool rd_string(Reader *r, uint64_t max_len, char **out, const char *what) {
    size_t at = r->pos;
    uint64_t len;
    if (!rd_u64(r, &len, what)) return false;
    if (len > left(r))
        return rfail(r, at, "%s length %" PRIu64 " exceeds file size (only %zu bytes left)", what, len, left(r));
    if (len > max_len) return rfail(r, at, "%s length %" PRIu64 " exceeds the limit of %" PRIu64, what, len, max_len);
    *out = xstrndup((const char *)r->p + r->pos, (size_t)len);
    r->pos += (size_t)len;
    return true;
}

// ----------------------------------------------------------------------------
// Metadata values

// Smallest encoding of one value of type t (strings: their u64 length); 0 if
// t is not a scalar type.
static uint64_t value_min_size(uint32_t t) {
    switch (t) {
    case GV_U8: case GV_I8: case GV_BOOL: return 1;
    case GV_U16: case GV_I16: return 2;
    case GV_U32: case GV_I32: case GV_F32: return 4;
    case GV_U64: case GV_I64: case GV_F64: case GV_STRING: return 8;
    default: return 0;
    }
}

static MetaKind value_kind(uint32_t t) {
    if (t == GV_F32 || t == GV_F64) return META_FLOAT;
    if (t == GV_STRING) return META_STRING;
    return META_INT;
}

// Reads one fixed-size number of type t (caller checked it fits).
static bool rd_number(Reader *r, uint32_t t, int64_t *i, double *f) {
    size_t at = r->pos;
    int n = (int)value_min_size(t);
    uint64_t raw = take_le(r, n);
    switch (t) {
    case GV_U8: case GV_U16: case GV_U32: *i = (int64_t)raw; return true;
    case GV_I8: *i = (int8_t)raw; return true;
    case GV_I16: *i = (int16_t)raw; return true;
    case GV_I32: *i = (int32_t)raw; return true;
    case GV_I64: *i = (int64_t)raw; return true;
    case GV_BOOL: *i = raw != 0; return true;
    case GV_U64:
        if (raw > INT64_MAX) return rfail(r, at, "u64 value %" PRIu64 " does not fit in int64", raw);
        *i = (int64_t)raw;
        return true;
    case GV_F32: {
        uint32_t b = (uint32_t)raw;
        float v;
        memcpy(&v, &b, 4);
        *f = v;
        return true;
    }
    case GV_F64: memcpy(f, &raw, 8); return true;
    }
    AWQC_PANIC("rd_number: type %u", t);
}

static bool read_scalar(Reader *r, uint32_t t, CkptMeta *m) {
    m->kind = value_kind(t);
    if (t == GV_STRING) return rd_string(r, UINT64_MAX, &m->s, "string");
    if (!need(r, value_min_size(t), "value")) return false;
    return rd_number(r, t, &m->i, &m->f);
}

// String arrays: every length is checked first, then the strings are packed.
static bool read_string_array(Reader *r, uint64_t count, CkptMeta *m) {
    size_t start = r->pos;
    uint64_t total = 0;
    for (uint64_t k = 0; k < count; k++) { // pass 1: validate lengths
        size_t at = r->pos;
        uint64_t len;
        if (!rd_u64(r, &len, "string array element")) return false;
        if (len > left(r))
            return rfail(r, at, "string array element %" PRIu64 ": length %" PRIu64
                         " exceeds file size (only %zu bytes left)", k, len, left(r));
        r->pos += (size_t)len;
        total += len;
    }
    StrPack pack = strpack_new((size_t)count, (size_t)total);
    r->pos = start;
    for (uint64_t k = 0; k < count; k++) { // pass 2: copy
        size_t len = (size_t)take_le(r, 8);
        strpack_add(&pack, (const char *)r->p + r->pos, len);
        r->pos += len;
    }
    ckpt_meta_take_strings(m, &pack);
    return true;
}

static bool read_number_array(Reader *r, uint32_t t, uint64_t count, CkptMeta *m) {
    bool is_float = value_kind(t) == META_FLOAT;
    void *vals = xmalloc((size_t)count * 8); // int64_t or double: both 8 bytes
    m->arr_storage = vals;
    for (uint64_t k = 0; k < count; k++) {
        int64_t i = 0;
        double f = 0;
        if (!rd_number(r, t, &i, &f)) return false;
        if (is_float) ((double *)vals)[k] = f;
        else ((int64_t *)vals)[k] = i;
    }
    if (is_float) m->arr.floats = vals;
    else m->arr.ints = vals;
    return true;
}

static bool read_array(Reader *r, CkptMeta *m) {
    size_t at = r->pos;
    uint32_t t;
    uint64_t count;
    if (!rd_u32(r, &t, "array element type") || !rd_u64(r, &count, "array length")) return false;
    if (t == GV_ARRAY) return rfail(r, at, "nested arrays are not supported");
    uint64_t min = value_min_size(t);
    if (!min) return rfail(r, at, "unknown array element type %u", t);
    if (count > left(r) / min)
        return rfail(r, at + 4, "array length %" PRIu64 " exceeds file size (only %zu bytes left)", count, left(r));
    m->kind = META_ARRAY;
    m->arr.elem_kind = value_kind(t);
    m->arr.len = (size_t)count;
    if (t == GV_STRING) return read_string_array(r, count, m);
    return read_number_array(r, t, count, m);
}

static bool read_kv(Reader *r, Checkpoint *c) {
    size_t at = r->pos;
    char *key;
    uint32_t t;
    if (!rd_string(r, GGUF_MAX_KEY_LEN, &key, "key")) return false;
    snprintf(r->ctx, sizeof r->ctx, "key '%.100s'", key);
    if (!rd_u32(r, &t, "value type")) {
        free(key);
        return false;
    }
    CkptMeta *m = ckpt_add_meta(c, key, r->err);
    if (!m) {
        awqc_error_prefix(r->err, "%s: offset %zu", r->path, at);
        return false;
    }
    if (t == GV_ARRAY) return read_array(r, m);
    if (!value_min_size(t)) return rfail(r, r->pos - 4, "unknown value type %u", t);
    return read_scalar(r, t, m);
}

// ----------------------------------------------------------------------------
// Tensor infos

typedef struct {
    uint32_t id;
    const char *name;
    StorageType st;
    uint32_t block, bytes; // elements per block and bytes per block; 0 if unknown
} GgmlType;

// ggml type ids and names from the GGUF specification, with block geometry
// for the types whose size we can bound-check (loadable or not). Ids the
// format retired (4, 5, 31-33, 36-38) are left out.
static const GgmlType GGML_TYPES[] = {
    {0, "F32", ST_F32, 1, 4},           {1, "F16", ST_F16, 1, 2},         {2, "Q4_0", ST_Q4_0, 32, 18},
    {3, "Q4_1", ST_Q4_1, 32, 20},       {6, "Q5_0", ST_OTHER, 32, 22},    {7, "Q5_1", ST_OTHER, 32, 24},
    {8, "Q8_0", ST_Q8_0, 32, 34},       {9, "Q8_1", ST_OTHER, 32, 36},    {10, "Q2_K", ST_OTHER, 256, 84},
    {11, "Q3_K", ST_OTHER, 256, 110},   {12, "Q4_K", ST_OTHER, 256, 144}, {13, "Q5_K", ST_OTHER, 256, 176},
    {14, "Q6_K", ST_OTHER, 256, 210},   {15, "Q8_K", ST_OTHER, 256, 292}, {16, "IQ2_XXS", ST_OTHER, 0, 0},
    {17, "IQ2_XS", ST_OTHER, 0, 0},     {18, "IQ3_XXS", ST_OTHER, 0, 0},  {19, "IQ1_S", ST_OTHER, 0, 0},
    {20, "IQ4_NL", ST_OTHER, 0, 0},     {21, "IQ3_S", ST_OTHER, 0, 0},    {22, "IQ2_S", ST_OTHER, 0, 0},
    {23, "IQ4_XS", ST_OTHER, 0, 0},     {24, "I8", ST_I8, 1, 1},          {25, "I16", ST_OTHER, 1, 2},
    {26, "I32", ST_I32, 1, 4},          {27, "I64", ST_OTHER, 1, 8},      {28, "F64", ST_OTHER, 1, 8},
    {29, "IQ1_M", ST_OTHER, 0, 0},      {30, "BF16", ST_BF16, 1, 2},      {34, "TQ1_0", ST_OTHER, 0, 0},
    {35, "TQ2_0", ST_OTHER, 0, 0},      {39, "MXFP4", ST_OTHER, 0, 0},
};

static GgmlType ggml_type(uint32_t id) {
    for (size_t i = 0; i < sizeof GGML_TYPES / sizeof GGML_TYPES[0]; i++)
        if (GGML_TYPES[i].id == id) return GGML_TYPES[i];
    return (GgmlType){id, NULL, ST_OTHER, 0, 0};
}

const char *gguf_type_name(int id) {
    return id >= 0 ? ggml_type((uint32_t)id).name : NULL;
}

// Fills shape (reversed to row-major), element count and byte size.
static bool set_tensor_geometry(Reader *r, size_t at, CkptEntry *e, const uint64_t *ne, uint32_t type_id) {
    CkptTensor *t = &e->info;
    for (int d = 0; d < t->rank; d++) {
        if (ne[d] > INT64_MAX) return rfail(r, at, "dimension %d is %" PRIu64 ", too large", d, ne[d]);
        t->shape[t->rank - 1 - d] = (int64_t)ne[d];
    }
    if (!ckpt_checked_product(t->shape, t->rank, &t->n_elements))
        return rfail(r, at, "element count overflows");
    GgmlType gt = ggml_type(type_id);
    t->type = gt.st;
    e->raw_type = (int)type_id;
    if (!gt.block) return true; // unknown type: size cannot be checked; loading will refuse it
    uint64_t row = t->rank > 0 ? ne[0] : 1; // blocks run along the innermost dimension
    if (row % gt.block != 0)
        return rfail(r, at, "row length %" PRIu64 " is not a multiple of the block size %u", row, gt.block);
    if ((uint64_t)t->n_elements / gt.block > UINT64_MAX / gt.bytes) return rfail(r, at, "byte size overflows");
    t->nbytes = (uint64_t)t->n_elements / gt.block * gt.bytes;
    return true;
}

static bool read_tensor_info(Reader *r, Checkpoint *c, uint64_t index) {
    size_t at = r->pos;
    char *name;
    snprintf(r->ctx, sizeof r->ctx, "tensor info %" PRIu64, index);
    if (!rd_string(r, GGUF_MAX_NAME_LEN, &name, "tensor name")) return false;
    CkptEntry *e = ckpt_add_tensor(c, name, r->err);
    if (!e) {
        awqc_error_prefix(r->err, "%s: offset %zu", r->path, at);
        return false;
    }
    snprintf(r->ctx, sizeof r->ctx, "tensor '%.100s'", name);
    uint32_t n_dims, type_id;
    uint64_t ne[CKPT_MAX_RANK];
    if (!rd_u32(r, &n_dims, "n_dims")) return false;
    if (n_dims > CKPT_MAX_RANK) return rfail(r, r->pos - 4, "n_dims %u exceeds %d", n_dims, CKPT_MAX_RANK);
    e->info.rank = (int)n_dims;
    for (uint32_t d = 0; d < n_dims; d++)
        if (!rd_u64(r, &ne[d], "dimension")) return false;
    if (!rd_u32(r, &type_id, "ggml type") || !rd_u64(r, &e->offset, "data offset")) return false;
    return set_tensor_geometry(r, at, e, ne, type_id);
}

// ----------------------------------------------------------------------------
// Header and data section

static bool read_header(Reader *r, uint64_t *n_tensors, uint64_t *n_kv) {
    uint32_t version;
    if (!need(r, 4, "magic")) return false;
    if (memcmp(r->p, "GGUF", 4) != 0) return rfail(r, 0, "not a GGUF file (bad magic)");
    r->pos = 4;
    if (!rd_u32(r, &version, "version")) return false;
    if (version == 0x02000000u || version == 0x03000000u)
        return rfail(r, 4, "big-endian GGUF files are not supported");
    if (version != 2 && version != 3) return rfail(r, 4, "GGUF version %u is not supported (only 2 and 3)", version);
    if (!rd_u64(r, n_tensors, "tensor count") || !rd_u64(r, n_kv, "metadata count")) return false;
    // 13 bytes: the smallest key/value pair (empty key, type, one u8).
    if (*n_kv > left(r) / 13)
        return rfail(r, 16, "metadata count %" PRIu64 " exceeds file size (only %zu bytes left)", *n_kv, left(r));
    return true;
}

static bool get_alignment(Reader *r, const Checkpoint *c, uint64_t *align) {
    int64_t v;
    *align = GGUF_DEFAULT_ALIGNMENT;
    MetaKind kind = ckpt_meta_kind(c, "general.alignment");
    if (kind == META_NONE) return true;
    if (!ckpt_meta_int(c, "general.alignment", &v)) return rfail(r, 0, "general.alignment is not an integer");
    if (v <= 0 || v > (1 << 24) || (v & (v - 1)) != 0)
        return rfail(r, 0, "general.alignment %" PRId64 " is not a power of two", v);
    *align = (uint64_t)v;
    return true;
}

// Turns relative offsets into absolute ones and checks each tensor's bytes
// lie inside the file.
static bool place_tensors(Reader *r, Checkpoint *c, uint64_t align) {
    uint64_t data_start = ((uint64_t)r->pos + align - 1) / align * align;
    r->ctx[0] = 0;
    for (size_t i = 0; i < c->n_tensors; i++) {
        CkptEntry *e = &c->tensors[i];
        const char *name = e->info.name;
        if (e->offset % align != 0)
            return awqc_fail(r->err, "%s: tensor '%s': data offset %" PRIu64 " is not aligned to %" PRIu64,
                             r->path, name, e->offset, align);
        uint64_t begin = data_start + e->offset, end = begin + e->info.nbytes;
        if (e->offset > UINT64_MAX - data_start || end < begin || end > r->size)
            return awqc_fail(r->err, "%s: tensor '%s': data [%" PRIu64 ", %" PRIu64 ") beyond end of file (size %zu)",
                             r->path, name, begin, end, r->size);
        e->offset = begin;
    }
    return true;
}

static bool parse_gguf(Reader *r, Checkpoint *c) {
    uint64_t n_tensors = 0, n_kv = 0, align;
    if (!read_header(r, &n_tensors, &n_kv)) return false;
    for (uint64_t k = 0; k < n_kv; k++) {
        r->ctx[0] = 0;
        if (!read_kv(r, c)) return false;
    }
    r->ctx[0] = 0;
    // 24 bytes: the smallest tensor info (empty name, n_dims 0, type, offset).
    if (n_tensors > left(r) / 24 || n_tensors > INT32_MAX)
        return rfail(r, 8, "tensor count %" PRIu64 " exceeds file size (only %zu bytes left)", n_tensors, left(r));
    for (uint64_t k = 0; k < n_tensors; k++)
        if (!read_tensor_info(r, c, k)) return false;
    r->ctx[0] = 0;
    return get_alignment(r, c, &align) && place_tensors(r, c, align);
}

Checkpoint *gguf_open(const char *path, AwqcError *err) {
    char *dir = ckpt_dirname(path);
    Checkpoint *c = ckpt_new(CKPT_GGUF, path, dir);
    free(dir);
    if (ckpt_add_map(c, path, err) < 0) {
        ckpt_close(c);
        return NULL;
    }
    Reader r = {.p = c->maps[0].data, .size = c->maps[0].size, .path = path, .err = err};
    if (!parse_gguf(&r, c)) {
        ckpt_close(c);
        return NULL;
    }
    return c;
}
