// safetensors_write.c: the safetensors writer (safetensors_write.h). The
// header is built with cJSON and padded with spaces to a multiple of 8 bytes
// so the data that follows is aligned, as the reference implementation does;
// dtype names and sizes come from the reader's table (safetensors.c).
#include "frontend/ckpt/safetensors_write.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/ckpt/ckpt_internal.h"

static uint64_t tensor_bytes(const StOutTensor *t, size_t elem) {
    uint64_t n = elem;
    for (int d = 0; d < t->rank; d++) n *= (uint64_t)t->shape[d];
    return n;
}

// ----------------------------------------------------------------------------
// header

static cJSON *tensor_entry(const StOutTensor *t, const char *dtype, uint64_t begin, uint64_t bytes) {
    cJSON *e = cJSON_CreateObject(), *shape = cJSON_AddArrayToObject(e, "shape");
    cJSON_AddStringToObject(e, "dtype", dtype);
    for (int d = 0; d < t->rank; d++) cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->shape[d]));
    cJSON *offsets = cJSON_AddArrayToObject(e, "data_offsets");
    cJSON_AddItemToArray(offsets, cJSON_CreateNumber((double)begin));
    cJSON_AddItemToArray(offsets, cJSON_CreateNumber((double)(begin + bytes)));
    return e;
}

// The padded header; bytes[i] receives tensor i's data size.
static char *build_header(const StOutTensor *t, size_t n, uint64_t *bytes, size_t *len, AwqcError *err) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(cJSON_AddObjectToObject(root, "__metadata__"), "format", "pt");
    uint64_t offset = 0;
    for (size_t i = 0; i < n; i++) {
        const char *dtype;
        size_t elem;
        if (!safetensors_dtype_of(t[i].type, &dtype, &elem) || t[i].rank < 0 || t[i].rank > CKPT_MAX_RANK) {
            cJSON_Delete(root);
            awqc_fail(err, "tensor '%s': cannot store type %s, rank %d", t[i].name, ckpt_storage_name(t[i].type),
                      t[i].rank);
            return NULL;
        }
        bytes[i] = tensor_bytes(&t[i], elem);
        cJSON_AddItemToObject(root, t[i].name, tensor_entry(&t[i], dtype, offset, bytes[i]));
        offset += bytes[i];
    }
    char *json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    size_t raw = strlen(json), padded = (raw + 7) / 8 * 8;
    char *h = xmalloc(padded + 1);
    memcpy(h, json, raw);
    memset(h + raw, ' ', padded - raw);
    h[padded] = '\0';
    free(json);
    *len = padded;
    return h;
}

// ----------------------------------------------------------------------------
// the file

typedef struct {
    const StOutTensor *t;
    const uint64_t *bytes;
    size_t n;
    const char *header;
    size_t header_len;
} StFile;

static bool write_all(FILE *f, void *user) {
    const StFile *s = user;
    uint8_t len_le[8];
    for (int b = 0; b < 8; b++) len_le[b] = (uint8_t)((uint64_t)s->header_len >> (8 * b));
    bool ok = fwrite(len_le, 1, 8, f) == 8 && fwrite(s->header, 1, s->header_len, f) == s->header_len;
    for (size_t i = 0; ok && i < s->n; i++) ok = s->bytes[i] == 0 || fwrite(s->t[i].data, 1, s->bytes[i], f) == s->bytes[i];
    return ok;
}

bool st_write_file(const char *path, const StOutTensor *t, size_t n, AwqcError *err) {
    uint64_t *bytes = xmalloc(sizeof(uint64_t) * (n + 1));
    StFile file = {t, bytes, n, NULL, 0};
    file.header = build_header(t, n, bytes, &file.header_len, err);
    bool ok = file.header && awqc_write_atomic_with(path, write_all, &file, err);
    if (!file.header) awqc_error_prefix(err, "%s", path);
    free((char *)file.header);
    free(bytes);
    return ok;
}
