// json.c: see json.h.
#include "json.h"

#include <stdlib.h>
#include <string.h>

cJSON *awqc_json_parse(const char *text, size_t len, const char *origin, AwqcError *err) {
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, false);
    if (!root) {
        size_t at = end && end >= text ? (size_t)(end - text) : 0;
        awqc_fail(err, "%s: offset %zu: invalid JSON", origin, at);
    }
    return root;
}

cJSON *awqc_json_parse_object(const char *text, size_t len, const char *origin, AwqcError *err) {
    cJSON *root = awqc_json_parse(text, len, origin, err);
    if (root && !cJSON_IsObject(root)) {
        awqc_fail(err, "%s: the top level is not a JSON object", origin);
        cJSON_Delete(root);
        root = NULL;
    }
    return root;
}

cJSON *awqc_json_read_object(const char *path, AwqcError *err) {
    size_t len;
    char *text = awqc_read_file(path, &len, err);
    if (!text) return NULL;
    cJSON *root = awqc_json_parse_object(text, len, path, err);
    free(text);
    return root;
}

bool awqc_json_write(const char *path, cJSON *root, bool pretty, AwqcError *err) {
    char *text = pretty ? cJSON_Print(root) : cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!text) return awqc_fail(err, "%s: out of memory while printing the JSON", path);
    char *with_newline = awqc_asprintf("%s\n", text);
    bool ok = awqc_write_file_atomic(path, with_newline, strlen(with_newline), err);
    free(with_newline);
    cJSON_free(text);
    return ok;
}
