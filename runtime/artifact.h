// artifact.h: the compiled model file (.awqx) that `awqc compile` writes and
// the runtime loads: a header, a section table, and sections holding the plan
// (IR text), the weights (64-byte aligned, mapped in place), the tokenizer and
// metadata, each with its own checksum. docs/artifact.md describes the bytes.
#ifndef AWQC_ARTIFACT_H
#define AWQC_ARTIFACT_H

#include <cjson/cJSON.h>

#include "common/util.h"
#include "ir/ir.h"
#include "runtime/tokenizer/tokenizer.h"

#define AWQX_MAGIC "AWQX\r\n\x1a\n" // 8 bytes; the CR LF and ^Z catch text-mode copies
#define AWQX_VERSION 1
#define AWQX_HEADER_SIZE 64
#define AWQX_ENTRY_SIZE 64
#define AWQX_NAME_MAX 32   // bytes of a section name, NUL padding included
#define AWQX_MAX_SECTIONS 64
#define AWQX_ALIGN 64      // every section and every weight starts on this boundary
#define AWQX_WEIGHTS_ALIGN 4096 // the weights section starts on a page

// Header fields (byte offsets; little-endian): u32 version, u32 section count,
// u64 table offset, u64 file size, u64 table checksum, then zeros.
#define AWQX_HDR_VERSION 8
#define AWQX_HDR_N_SECTIONS 12
#define AWQX_HDR_TABLE 16
#define AWQX_HDR_FILE_SIZE 24
#define AWQX_HDR_TABLE_CHECKSUM 32
#define AWQX_HDR_RESERVED 40
// Table entry fields: the name (AWQX_NAME_MAX bytes, NUL-padded) at 0, then
// u64 offset, u64 size, u64 checksum, then zeros.
#define AWQX_ENT_OFFSET 32
#define AWQX_ENT_SIZE 40
#define AWQX_ENT_CHECKSUM 48
#define AWQX_ENT_RESERVED 56

// Section names.
#define AWQX_SEC_META "meta"                 // JSON object: target, model, quantization, sizes
#define AWQX_SEC_PLAN "plan"                 // the lowered graph as IR text (ir/print.c)
#define AWQX_SEC_WEIGHT_INDEX "weights.index" // JSON array: {name, kind, offset, size}
#define AWQX_SEC_WEIGHTS "weights"           // the weight payloads
#define AWQX_SEC_TOKENIZER "tokenizer.json"  // Hugging Face tokenizer.json
#define AWQX_SEC_TOKENIZER_CONFIG "tokenizer_config.json" // special tokens, chat template

// ----------------------------------------------------------------------------
// writing

// A section the compiler adds beside the standard ones (code for a target:
// "code.x86-64.so", "code.cuda.sm_87.ptx", ...); the bytes stay the caller's.
typedef struct {
    const char *name; // shorter than AWQX_NAME_MAX
    const void *data;
    size_t size;
} ArtifactBlob;
#define AWQX_MAX_EXTRA 16

typedef struct {
    const char *target;        // the target the plan was compiled for, e.g. "x86-64-avx2"
    const char *source;        // the model path it was compiled from
    const char *awqc_version;  // of the compiler
    int64_t planned_ctx;       // context length the memory plan is sized for
    const ArtifactBlob *extra; // n_extra more sections, written after the tokenizer
    size_t n_extra;
} ArtifactInfo;

// Writes g (bound: every weight has f32 data, codes or packed bytes) and tok
// to path, atomically (a temp file beside it, then rename): a failure leaves
// nothing at path. False with err naming the path or the unbound weight.
bool artifact_write(const char *path, const Graph *g, const Tokenizer *tok, const ArtifactInfo *info,
                    AwqcError *err);

// ----------------------------------------------------------------------------
// reading

typedef struct Artifact Artifact;

typedef struct {
    char name[AWQX_NAME_MAX];
    uint64_t offset, size, checksum; // checksum: XXH3-64 of the section's bytes
} ArtifactSection;

// Whether path starts with the artifact magic (false when unreadable).
bool artifact_is_file(const char *path);

// Maps path read-only and checks the header, the section table, every
// section's bounds and checksum. NULL with err naming the file and what is
// wrong ("m.awqx: truncated: ...", "m.awqx: section 'plan': checksum ...").
Artifact *artifact_open(const char *path, AwqcError *err);
void artifact_close(Artifact *a);

const char *artifact_path(const Artifact *a);
uint32_t artifact_version(const Artifact *a);
uint64_t artifact_file_size(const Artifact *a);
size_t artifact_section_count(const Artifact *a);
const ArtifactSection *artifact_section_at(const Artifact *a, size_t i);
// The bytes of a section (inside the mapping), or NULL when absent.
const uint8_t *artifact_find(const Artifact *a, const char *name, uint64_t *size);

// The plan as a graph whose weights point into the mapping (Weight.borrowed;
// valid until artifact_close), checked by ir_verify. NULL with err.
Graph *artifact_load_graph(const Artifact *a, AwqcError *err);
Tokenizer *artifact_load_tokenizer(const Artifact *a, AwqcError *err);
// A section parsed as JSON (free with cJSON_Delete); NULL with err naming the
// file and the section when absent or malformed.
cJSON *artifact_section_json(const Artifact *a, const char *name, AwqcError *err);
// The meta section (an object, parsed and checked by artifact_open), and its
// string value of key ("target", "model", ...) or NULL. Both live until
// artifact_close.
const cJSON *artifact_meta(const Artifact *a);
const char *artifact_meta_string(const Artifact *a, const char *key);

#endif
