// hf.c: Hugging Face checkpoints: a folder with config.json (its top-level
// scalars and flat arrays become metadata) and either model.safetensors or
// shards listed in model.safetensors.index.json; or a lone .safetensors file.
#include "frontend/ckpt/ckpt_internal.h"
#include "common/json.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// ----------------------------------------------------------------------------
// JSON helpers

// Integers beyond int64 (or with a fraction) stay floats.
static bool json_is_int(const cJSON *v) {
    double d = v->valuedouble;
    return isfinite(d) && floor(d) == d && fabs(d) < 9.2e18;
}

static bool array_all(const cJSON *arr, cJSON_bool (*pred)(const cJSON *)) {
    for (const cJSON *v = arr->child; v; v = v->next)
        if (!pred(v)) return false;
    return true;
}

// ----------------------------------------------------------------------------
// config.json -> metadata

static void set_number_array(CkptMeta *m, const cJSON *arr, size_t n) {
    bool all_int = true;
    for (const cJSON *v = arr->child; v; v = v->next) all_int = all_int && json_is_int(v);
    void *vals = xmalloc(n * 8); // int64_t or double: both 8 bytes
    size_t k = 0;
    for (const cJSON *v = arr->child; v; v = v->next, k++) {
        if (all_int) ((int64_t *)vals)[k] = (int64_t)v->valuedouble;
        else ((double *)vals)[k] = v->valuedouble;
    }
    m->arr_storage = vals;
    m->arr.elem_kind = all_int ? META_INT : META_FLOAT;
    if (all_int) m->arr.ints = vals;
    else m->arr.floats = vals;
}

static void set_string_array(CkptMeta *m, const cJSON *arr, size_t n) {
    size_t total = 0;
    for (const cJSON *v = arr->child; v; v = v->next) total += strlen(v->valuestring);
    StrPack pack = strpack_new(n, total);
    for (const cJSON *v = arr->child; v; v = v->next) strpack_add(&pack, v->valuestring, strlen(v->valuestring));
    ckpt_meta_take_strings(m, &pack);
}

// Whether v is one of the kinds config metadata keeps as a value (nulls and
// mixed or nested arrays are skipped; objects are flattened by the caller).
static bool config_value_kept(const cJSON *v) {
    if (cJSON_IsBool(v) || cJSON_IsNumber(v) || cJSON_IsString(v)) return true;
    return cJSON_IsArray(v) && (array_all(v, cJSON_IsNumber) || array_all(v, cJSON_IsString));
}

static void set_config_value(CkptMeta *m, const cJSON *v) {
    if (cJSON_IsBool(v)) {
        m->kind = META_INT;
        m->i = cJSON_IsTrue(v) ? 1 : 0;
    } else if (cJSON_IsNumber(v)) {
        m->kind = json_is_int(v) ? META_INT : META_FLOAT;
        m->i = m->kind == META_INT ? (int64_t)v->valuedouble : 0;
        m->f = v->valuedouble;
    } else if (cJSON_IsString(v)) {
        m->kind = META_STRING;
        m->s = xstrdup(v->valuestring);
    } else {
        size_t n = (size_t)cJSON_GetArraySize(v);
        m->kind = META_ARRAY;
        m->arr.len = n;
        // An empty array has no element kind of its own; call it INT.
        if (n == 0) m->arr.elem_kind = META_INT;
        else if (cJSON_IsNumber(v->child)) set_number_array(m, v, n);
        else set_string_array(m, v, n);
    }
}

// Adds the kept values of one JSON object; nested objects become dotted keys
// ("rope_parameters.rope_theta", as transformers 5 writes RoPE settings), so
// model descriptions can name them.
static bool add_config_object(Checkpoint *c, const cJSON *obj, const char *prefix, const char *path,
                              AwqcError *err) {
    for (const cJSON *v = obj->child; v; v = v->next) {
        char *key = prefix ? awqc_asprintf("%s.%s", prefix, v->string) : xstrdup(v->string);
        bool ok = true;
        if (cJSON_IsObject(v)) {
            ok = add_config_object(c, v, key, path, err);
        } else if (config_value_kept(v)) {
            CkptMeta *m = ckpt_add_meta(c, xstrdup(key), err);
            if (m) set_config_value(m, v);
            else awqc_error_prefix(err, "%s", path), ok = false;
        }
        free(key);
        if (!ok) return false;
    }
    return true;
}

static bool read_config(Checkpoint *c, const char *path, AwqcError *err) {
    cJSON *root = awqc_json_read_object(path, err);
    if (!root) return false;
    bool ok = add_config_object(c, root, NULL, path, err);
    cJSON_Delete(root);
    return ok;
}

// ----------------------------------------------------------------------------
// Safetensors files

static bool file_exists(const char *path) { return access(path, F_OK) == 0; }

static bool add_safetensors(Checkpoint *c, const char *path, int64_t *map_out, AwqcError *err) {
    int64_t mi = ckpt_add_map(c, path, err);
    if (mi < 0 || !safetensors_read(c, (uint32_t)mi, err)) return false;
    if (map_out) *map_out = mi;
    return true;
}

// Shard names are plain file names beside the index, never paths.
static bool valid_shard_name(const char *s) {
    return *s && !strchr(s, '/') && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

// Opens the shard named by a weight_map entry (once per distinct file) and
// returns its map index in *mi.
static bool open_shard(Checkpoint *c, const char *dir, const char *index_path, const cJSON *entry,
                       NameIndex *shards, int64_t *mi, AwqcError *err) {
    if (!cJSON_IsString(entry) || !valid_shard_name(entry->valuestring))
        return awqc_fail(err, "%s: weight_map: tensor '%s': shard is not a plain file name", index_path,
                         entry->string);
    *mi = name_index_find(shards, entry->valuestring);
    if (*mi >= 0) return true;
    char *path = awqc_asprintf("%s/%s", dir, entry->valuestring);
    bool ok = add_safetensors(c, path, mi, err);
    free(path);
    if (ok) name_index_insert(shards, entry->valuestring, (uint32_t)*mi);
    return ok;
}

// Every tensor the index names must sit in the shard it names.
static bool check_listed(const Checkpoint *c, const char *index_path, const cJSON *entry, int64_t mi,
                         AwqcError *err) {
    const CkptTensor *t = ckpt_find_tensor(c, entry->string);
    if (!t || ((const CkptEntry *)t)->map != (uint32_t)mi)
        return awqc_fail(err, "%s: weight_map: tensor '%s' is not in shard '%s'", index_path, entry->string,
                         entry->valuestring);
    return true;
}

static bool read_index(Checkpoint *c, const char *dir, const char *index_path, AwqcError *err) {
    cJSON *root = awqc_json_read_object(index_path, err);
    if (!root) return false;
    const cJSON *map = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    bool ok = cJSON_IsObject(map) || awqc_fail(err, "%s: no \"weight_map\" object", index_path);
    NameIndex shards = {0};
    int64_t mi = -1;
    // A shard is read whole when first named, so each listed tensor can be
    // checked right away.
    for (const cJSON *e = ok ? map->child : NULL; ok && e; e = e->next)
        ok = open_shard(c, dir, index_path, e, &shards, &mi, err) && check_listed(c, index_path, e, mi, err);
    name_index_free(&shards);
    cJSON_Delete(root);
    return ok;
}

// ----------------------------------------------------------------------------
// Entry points

static bool read_hf_dir(Checkpoint *c, const char *dir, AwqcError *err) {
    char *config = awqc_asprintf("%s/config.json", dir);
    char *single = awqc_asprintf("%s/model.safetensors", dir);
    char *index = awqc_asprintf("%s/model.safetensors.index.json", dir);
    bool ok;
    if (!file_exists(config))
        ok = awqc_fail(err, "%s: no config.json: not a Hugging Face checkpoint folder", dir);
    else if (!read_config(c, config, err))
        ok = false;
    else if (file_exists(single))
        ok = add_safetensors(c, single, NULL, err) && ckpt_add_awq_tensors(c, err);
    else if (file_exists(index))
        ok = read_index(c, dir, index, err) && ckpt_add_awq_tensors(c, err);
    else
        ok = awqc_fail(err, "%s: neither model.safetensors nor model.safetensors.index.json found", dir);
    free(config);
    free(single);
    free(index);
    return ok;
}

Checkpoint *hf_open_dir(const char *dir, AwqcError *err) {
    Checkpoint *c = ckpt_new(CKPT_HF, dir, dir);
    if (!read_hf_dir(c, dir, err)) {
        ckpt_close(c);
        return NULL;
    }
    return c;
}

Checkpoint *hf_open_safetensors(const char *file, AwqcError *err) {
    char *dir = ckpt_dirname(file);
    char *config = awqc_asprintf("%s/config.json", dir);
    Checkpoint *c = ckpt_new(CKPT_HF, file, dir);
    bool ok = (!file_exists(config) || read_config(c, config, err)) && add_safetensors(c, file, NULL, err);
    free(config);
    free(dir);
    if (!ok) {
        ckpt_close(c);
        return NULL;
    }
    return c;
}
