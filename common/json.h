// json.h: reading JSON files (config.json, tokenizer.json, safetensors index)
// with cJSON, the project's JSON library, with errors that name the file and
// the byte offset where parsing stopped; and writing them atomically.
#ifndef AWQC_JSON_H
#define AWQC_JSON_H

#include <cjson/cJSON.h>

#include "common/util.h"

// Parses len bytes of JSON text (any top level). NULL with err "origin:
// offset N: invalid JSON" otherwise.
cJSON *awqc_json_parse(const char *text, size_t len, const char *origin, AwqcError *err);

// The same, when the top level must be an object ("origin: the top level is
// not a JSON object" otherwise).
cJSON *awqc_json_parse_object(const char *text, size_t len, const char *origin, AwqcError *err);

// Parses a file whose top level must be a JSON object. NULL with err otherwise.
cJSON *awqc_json_read_object(const char *path, AwqcError *err);

// Prints root (freed here, also on failure) to path atomically, indented when
// pretty, with a final newline. False with err naming the path.
bool awqc_json_write(const char *path, cJSON *root, bool pretty, AwqcError *err);

#endif
