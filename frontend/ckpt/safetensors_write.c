// safetensors_write.c: the safetensors writer (safetensors_write.h). The
// header is built with cJSON and padded with spaces to a multiple of 8 bytes
// so the data that follows is aligned, as the reference implementation does.
#include "frontend/ckpt/safetensors_write.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static size_t element_size(StorageType t) {
    switch (t) {
    case ST_F32: case ST_I32: return 4;
    case ST_F16: case ST_BF16: return 2;
    case ST_I8: case ST_U8: return 1;
    default: return 0;
    }
}

static uint64_t tensor_bytes(const StOutTensor *t) {
    uint64_t n = element_size(t->type);
    for (int d = 0; d < t->rank; d++) n *= (uint64_t)t->shape[d];
    return n;
}

// ----------------------------------------------------------------------------
// header

static cJSON *tensor_entry(const StOutTensor *t, uint64_t begin) {
    cJSON *e = cJSON_CreateObject(), *shape = cJSON_AddArrayToObject(e, "shape");
    cJSON_AddStringToObject(e, "dtype", ckpt_storage_name(t->type));
    for (int d = 0; d < t->rank; d++) cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->shape[d]));
    cJSON *offsets = cJSON_AddArrayToObject(e, "data_offsets");
    cJSON_AddItemToArray(offsets, cJSON_CreateNumber((double)begin));
    cJSON_AddItemToArray(offsets, cJSON_CreateNumber((double)(begin + tensor_bytes(t))));
    return e;
}

static char *build_header(const StOutTensor *t, size_t n, size_t *len, AwqcError *err) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddItemToObject(root, "__metadata__", cJSON_CreateObject());
    cJSON_AddStringToObject(cJSON_GetObjectItem(root, "__metadata__"), "format", "pt");
    uint64_t offset = 0;
    for (size_t i = 0; i < n; i++) {
        if (!element_size(t[i].type) || t[i].rank < 0 || t[i].rank > CKPT_MAX_RANK) {
            cJSON_Delete(root);
            awqc_fail(err, "tensor '%s': cannot store type %s, rank %d", t[i].name, ckpt_storage_name(t[i].type),
                      t[i].rank);
            return NULL;
        }
        cJSON_AddItemToObject(root, t[i].name, tensor_entry(&t[i], offset));
        offset += tensor_bytes(&t[i]);
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

static bool write_all(FILE *f, const StOutTensor *t, size_t n, const char *header, size_t header_len) {
    uint8_t len_le[8];
    for (int b = 0; b < 8; b++) len_le[b] = (uint8_t)((uint64_t)header_len >> (8 * b));
    bool ok = fwrite(len_le, 1, 8, f) == 8 && fwrite(header, 1, header_len, f) == header_len;
    for (size_t i = 0; ok && i < n; i++) {
        size_t bytes = (size_t)tensor_bytes(&t[i]);
        ok = bytes == 0 || fwrite(t[i].data, 1, bytes, f) == bytes;
    }
    return ok;
}

bool st_write_file(const char *path, const StOutTensor *t, size_t n, AwqcError *err) {
    size_t header_len;
    char *header = build_header(t, n, &header_len, err);
    if (!header) {
        awqc_error_prefix(err, "%s: ", path);
        return false;
    }
    char *tmp = awqc_asprintf("%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    bool ok = f != NULL;
    if (!ok) awqc_fail(err, "%s: cannot create: %s", tmp, strerror(errno));
    bool written = ok && write_all(f, t, n, header, header_len);
    if (ok && !((fclose(f) == 0) && written)) {
        ok = false;
        awqc_fail(err, "%s: write failed: %s", path, strerror(errno));
    }
    if (ok && rename(tmp, path) != 0) ok = awqc_fail(err, "%s: cannot rename into place: %s", path, strerror(errno));
    if (!ok && f) remove(tmp);
    free(tmp);
    free(header);
    return ok;
}
