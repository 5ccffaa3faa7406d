// ckpt_internal.h: what the checkpoint readers share behind checkpoint.h: the
// Checkpoint struct, read-only file maps, a name index for keys and tensors,
// and the helpers each format reader uses to add metadata and tensors.
// Private to frontend/ckpt.
#ifndef AWQC_CKPT_INTERNAL_H
#define AWQC_CKPT_INTERNAL_H

#include "common/strmap.h"
#include "frontend/ckpt/checkpoint.h"

// Tensor bytes are copied/reinterpreted as little-endian values.
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "awqc checkpoints assume a little-endian host");

// ----------------------------------------------------------------------------
// Read-only file maps

typedef struct {
    char *path;
    const uint8_t *data; // NULL when size == 0
    size_t size;
} CkptMap;

// mmaps a regular file read-only. False (with err naming path) on failure.
bool ckpt_map_file(const char *path, CkptMap *m, AwqcError *err);
void ckpt_unmap(CkptMap *m);

// ----------------------------------------------------------------------------
// Name index: metadata key / tensor name -> index, over the shared StrMap
// (common/strmap.h) with NUL-terminated keys that stay alive and unchanged.

typedef StrMap NameIndex;

// False when key is already present (the index is left unchanged).
bool name_index_insert(NameIndex *ix, const char *key, uint32_t id);
// The id stored for key, or -1.
int64_t name_index_find(const NameIndex *ix, const char *key);
void name_index_free(NameIndex *ix);

// ----------------------------------------------------------------------------
// Checkpoint contents

typedef struct {
    char *key;
    MetaKind kind;
    int64_t i;
    double f;
    char *s;
    MetaArray arr;
    void *arr_storage; // owns arr.ints / arr.floats / arr.strs and their strings
} CkptMeta;

typedef struct {
    CkptTensor info; // first member: a CkptTensor * handed out maps back here
    uint32_t map;    // index into Checkpoint.maps
    uint64_t offset; // absolute byte offset of the data in that file
    int raw_type;    // the format's own type id (ggml type / dtype index), for error messages
    // A virtual tensor (ST_AWQ_GEMM4, ST_AWQC_U3): the entries it is made of
    // (qweight or qcodes, qzeros, scales) and the group size; parts[0] < 0
    // for a stored tensor.
    int64_t parts[3];
    int group;
} CkptEntry;

struct Checkpoint {
    CkptFormat format;
    char *path, *dir;
    CkptMeta *meta;
    size_t n_meta, cap_meta;
    NameIndex meta_index;
    CkptEntry *tensors;
    size_t n_tensors, cap_tensors;
    NameIndex tensor_index;
    CkptMap *maps;
    size_t n_maps, cap_maps;
};

Checkpoint *ckpt_new(CkptFormat format, const char *path, const char *dir);

// String-array metadata is one block: the pointer table, then the
// NUL-terminated bytes. Start a pack with the count and the total length of
// the strings (NULs not counted), add each string in order, then hand the
// pack to a CkptMeta, which owns it from then on.
typedef struct {
    char **strs;
    char *next; // where the next string's bytes go
    size_t n, added;
} StrPack;

StrPack strpack_new(size_t n, size_t total_len);
void strpack_add(StrPack *p, const char *s, size_t len);
// Makes m a string array holding the pack's strings (all n must be added).
void ckpt_meta_take_strings(CkptMeta *m, StrPack *p);

// Adds an empty metadata entry owning key (a heap string); NULL (with err
// naming the key) when the key is already present.
CkptMeta *ckpt_add_meta(Checkpoint *c, char *key, AwqcError *err);
// Adds a tensor owning name; NULL (with err) when the name is a duplicate.
CkptEntry *ckpt_add_tensor(Checkpoint *c, char *name, AwqcError *err);
// Adds the virtual "X.weight" of every quantized linear a folder's
// quantization_config describes, after checking the parts' types and shapes
// (errors name the tensor); nothing to do without a quantization_config.
bool ckpt_add_awq_tensors(Checkpoint *c, AwqcError *err);
// Dequantizes virtual entry e into dst ([out, in] floats).
void ckpt_dequant_awq(const Checkpoint *c, const CkptEntry *e, float *dst);
// Its codes, zeros and scales (m is initialized here; free with quant_matrix_free).
bool ckpt_awq_codes(const Checkpoint *c, const CkptEntry *e, QuantMatrix *m, AwqcError *err);

// Maps path and appends it; returns its index or -1 (with err).
int64_t ckpt_add_map(Checkpoint *c, const char *path, AwqcError *err);

// Product of dims with overflow and sign checks; false when it does not fit.
bool ckpt_checked_product(const int64_t *dims, int rank, int64_t *out);

// ----------------------------------------------------------------------------
// Format readers: each fills a fresh Checkpoint or returns NULL with err.

Checkpoint *gguf_open(const char *path, AwqcError *err);
Checkpoint *hf_open_dir(const char *dir, AwqcError *err);
Checkpoint *hf_open_safetensors(const char *file, AwqcError *err);

// Reads every tensor header of the safetensors file at map index `map` into c.
bool safetensors_read(Checkpoint *c, uint32_t map, AwqcError *err);
// The safetensors dtype name behind a CkptEntry.raw_type of an HF tensor.
const char *safetensors_dtype_name(int raw_type);
// The safetensors dtype name and element size storing type t; false for the
// types safetensors has no single dtype for (GGUF blocks, virtual tensors).
bool safetensors_dtype_of(StorageType t, const char **name, size_t *size);
// The GGUF specification's name of a ggml type id ("Q4_K"), or NULL if unknown.
const char *gguf_type_name(int id);

// dirname() into a fresh heap string ("." when path has no slash).
char *ckpt_dirname(const char *path);

#endif
