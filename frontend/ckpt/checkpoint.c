// checkpoint.c: the public face of the checkpoint readers: picks the reader
// for a path (folder, GGUF magic, .safetensors), answers metadata and tensor
// queries, and converts tensor data to f32.
#include "frontend/ckpt/ckpt_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

// ----------------------------------------------------------------------------
// Opening

static bool has_suffix(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

// Reads up to 4 leading bytes; false (with err) when the file cannot be read.
static bool read_magic(const char *path, char magic[4], size_t *got, AwqcError *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return awqc_fail(err, "%s: cannot open: %s", path, strerror(errno));
    *got = fread(magic, 1, 4, f);
    fclose(f);
    return true;
}

Checkpoint *ckpt_open(const char *path, AwqcError *err) {
    struct stat st;
    if (stat(path, &st) != 0) {
        awqc_fail(err, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    if (S_ISDIR(st.st_mode)) return hf_open_dir(path, err);
    char magic[4];
    size_t got = 0;
    if (!read_magic(path, magic, &got, err)) return NULL;
    // A .gguf name goes to the GGUF reader even without the magic, so a
    // truncated or damaged file gets its specific error.
    if ((got == 4 && memcmp(magic, "GGUF", 4) == 0) || has_suffix(path, ".gguf")) return gguf_open(path, err);
    if (has_suffix(path, ".safetensors")) return hf_open_safetensors(path, err);
    awqc_fail(err,
              "%s: not a checkpoint: expected a GGUF file, a .safetensors file, "
              "or a Hugging Face folder with config.json",
              path);
    return NULL;
}

static void meta_free(CkptMeta *m) {
    free(m->key);
    free(m->s);
    free(m->arr_storage);
}

void ckpt_close(Checkpoint *c) {
    if (!c) return;
    for (size_t i = 0; i < c->n_meta; i++) meta_free(&c->meta[i]);
    for (size_t i = 0; i < c->n_tensors; i++) free((char *)c->tensors[i].info.name);
    for (size_t i = 0; i < c->n_maps; i++) ckpt_unmap(&c->maps[i]);
    name_index_free(&c->meta_index);
    name_index_free(&c->tensor_index);
    free(c->meta);
    free(c->tensors);
    free(c->maps);
    free(c->path);
    free(c->dir);
    free(c);
}

CkptFormat ckpt_format(const Checkpoint *c) { return c->format; }
const char *ckpt_path(const Checkpoint *c) { return c->path; }
const char *ckpt_dir(const Checkpoint *c) { return c->dir; }

const char *ckpt_storage_name(StorageType t) {
    switch (t) {
    case ST_F32: return "F32";
    case ST_F16: return "F16";
    case ST_BF16: return "BF16";
    case ST_Q8_0: return "Q8_0";
    case ST_Q4_0: return "Q4_0";
    case ST_Q4_1: return "Q4_1";
    case ST_I32: return "I32";
    case ST_I8: return "I8";
    case ST_U8: return "U8";
    case ST_AWQ_GEMM4: return "AWQ-GEMM-INT4";
    case ST_AWQC_U3: return "AWQC-INT3";
    case ST_OTHER: return "other";
    }
    return "?";
}

// ----------------------------------------------------------------------------
// Metadata

static const CkptMeta *find_meta(const Checkpoint *c, const char *key) {
    int64_t i = name_index_find(&c->meta_index, key);
    return i < 0 ? NULL : &c->meta[i];
}

MetaKind ckpt_meta_kind(const Checkpoint *c, const char *key) {
    const CkptMeta *m = find_meta(c, key);
    return m ? m->kind : META_NONE;
}

bool ckpt_meta_int(const Checkpoint *c, const char *key, int64_t *out) {
    const CkptMeta *m = find_meta(c, key);
    if (!m || m->kind != META_INT) return false;
    *out = m->i;
    return true;
}

bool ckpt_meta_float(const Checkpoint *c, const char *key, double *out) {
    const CkptMeta *m = find_meta(c, key);
    if (!m || (m->kind != META_FLOAT && m->kind != META_INT)) return false;
    *out = m->kind == META_FLOAT ? m->f : (double)m->i;
    return true;
}

bool ckpt_meta_string(const Checkpoint *c, const char *key, const char **out) {
    const CkptMeta *m = find_meta(c, key);
    if (!m || m->kind != META_STRING) return false;
    *out = m->s;
    return true;
}

bool ckpt_meta_array(const Checkpoint *c, const char *key, MetaArray *out) {
    const CkptMeta *m = find_meta(c, key);
    if (!m || m->kind != META_ARRAY) return false;
    *out = m->arr;
    return true;
}

size_t ckpt_meta_count(const Checkpoint *c) { return c->n_meta; }

const char *ckpt_meta_key_at(const Checkpoint *c, size_t i) {
    return i < c->n_meta ? c->meta[i].key : NULL;
}

// ----------------------------------------------------------------------------
// Tensors

size_t ckpt_tensor_count(const Checkpoint *c) { return c->n_tensors; }

const CkptTensor *ckpt_tensor_at(const Checkpoint *c, size_t i) {
    return i < c->n_tensors ? &c->tensors[i].info : NULL;
}

const CkptTensor *ckpt_find_tensor(const Checkpoint *c, const char *name) {
    int64_t i = name_index_find(&c->tensor_index, name);
    return i < 0 ? NULL : &c->tensors[i].info;
}

// Maps a CkptTensor handed out by this checkpoint back to its entry; a pointer
// from elsewhere is a caller bug.
static const CkptEntry *entry_of(const Checkpoint *c, const CkptTensor *t) {
    const CkptEntry *e = (const CkptEntry *)t;
    AWQC_ASSERT(c->n_tensors > 0 && e >= c->tensors && e < c->tensors + c->n_tensors);
    return e;
}

const void *ckpt_raw_data(const Checkpoint *c, const CkptTensor *t) {
    const CkptEntry *e = entry_of(c, t);
    if (e->parts[0] >= 0) return NULL; // virtual
    const CkptMap *m = &c->maps[e->map];
    // Readers checked offset (+ nbytes when known) against the file size.
    return m->data ? m->data + e->offset : NULL;
}

static void convert_halves(const uint8_t *src, float *dst, int64_t n, float (*conv)(uint16_t)) {
    for (int64_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, src + 2 * i, 2);
        dst[i] = conv(h);
    }
}

#define LOADABLE_TYPES "F32, F16, BF16, Q8_0, Q4_0, Q4_1"

bool ckpt_tensor_loadable(const CkptTensor *t) {
    switch (t->type) {
    case ST_F32: case ST_F16: case ST_BF16: case ST_Q8_0: case ST_Q4_0: case ST_Q4_1: return true;
    case ST_AWQ_GEMM4: case ST_AWQC_U3: return true;
    default: return false;
    }
}

static bool unsupported(const Checkpoint *c, const CkptEntry *e, AwqcError *err) {
    const CkptMap *m = &c->maps[e->map];
    const char *name = e->info.name;
    if (e->info.type == ST_I32 || e->info.type == ST_I8 || e->info.type == ST_U8)
        return awqc_fail(err, "%s: tensor '%s': storage type %s is not convertible to f32", m->path, name,
                         ckpt_storage_name(e->info.type));
    if (c->format == CKPT_HF)
        return awqc_fail(err, "%s: tensor '%s': dtype %s is not supported (supported: " LOADABLE_TYPES ")", m->path,
                         name, safetensors_dtype_name(e->raw_type));
    const char *type_name = gguf_type_name(e->raw_type);
    if (!type_name)
        return awqc_fail(err, "%s: tensor '%s': ggml type %d is not supported (supported: " LOADABLE_TYPES ")",
                         m->path, name, e->raw_type);
    return awqc_fail(err, "%s: tensor '%s': ggml type %d (%s) is not supported (supported: " LOADABLE_TYPES ")",
                     m->path, name, e->raw_type, type_name);
}

bool ckpt_tensor_is_awq(const CkptTensor *t) { return t->type == ST_AWQ_GEMM4 || t->type == ST_AWQC_U3; }

bool ckpt_load_codes(const Checkpoint *c, const CkptTensor *t, QuantMatrix *out, AwqcError *err) {
    const CkptEntry *e = entry_of(c, t);
    if (!ckpt_tensor_is_awq(t))
        return awqc_fail(err, "%s: tensor '%s' (%s) has no quantized codes", c->maps[e->map].path, t->name,
                         ckpt_storage_name(t->type));
    return ckpt_awq_codes(c, e, out, err);
}

bool ckpt_load_f32(const Checkpoint *c, const CkptTensor *t, float *dst, AwqcError *err) {
    const CkptEntry *e = entry_of(c, t);
    if (!ckpt_tensor_loadable(t)) return unsupported(c, e, err);
    if (ckpt_tensor_is_awq(t)) {
        ckpt_dequant_awq(c, e, dst);
        return true;
    }
    const uint8_t *src = ckpt_raw_data(c, t);
    int64_t n = t->n_elements;
    if (n == 0) return true;
    AWQC_ASSERT(src != NULL);
    switch (t->type) {
    case ST_F32: memcpy(dst, src, (size_t)n * sizeof(float)); return true;
    case ST_F16: convert_halves(src, dst, n, awqc_f16_to_f32); return true;
    case ST_BF16: convert_halves(src, dst, n, awqc_bf16_to_f32); return true;
    case ST_Q8_0: dequant_q8_0(src, dst, n); return true;
    case ST_Q4_0: dequant_q4_0(src, dst, n); return true;
    case ST_Q4_1: dequant_q4_1(src, dst, n); return true;
    default: AWQC_PANIC("storage type %d passed ckpt_tensor_loadable", (int)t->type);
    }
}
