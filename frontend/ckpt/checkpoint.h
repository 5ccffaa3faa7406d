// checkpoint.h: one read-only view over model checkpoints, whatever their
// format: a GGUF file (v2/v3) or a Hugging Face folder (config.json plus one
// model.safetensors or shards listed in model.safetensors.index.json).
// Metadata keys are the format's own (GGUF keys, or config.json's top-level
// keys); tensor names are the format's own; shapes are row-major, outermost
// dimension first (a linear weight is [out, in] in both formats, so GGUF's
// ne[] order is reversed here).
#ifndef AWQC_CHECKPOINT_H
#define AWQC_CHECKPOINT_H

#include "common/util.h"
#include "ir/qmatrix.h"

typedef enum {
    CKPT_GGUF, // a .gguf file
    CKPT_HF,   // a Hugging Face folder with config.json and safetensors
} CkptFormat;

// Storage types a tensor may have in a checkpoint.
typedef enum {
    ST_F32,
    ST_F16,
    ST_BF16,
    ST_Q8_0, // GGUF: blocks of 32: f16 d, 32 x int8
    ST_Q4_0, // GGUF: blocks of 32: f16 d, 16 bytes of nibbles, value (q - 8) * d
    ST_Q4_1, // GGUF: blocks of 32: f16 d, f16 m, 16 bytes of nibbles, value q * d + m
    ST_I32,  // safetensors I32 (AutoAWQ qweight/qzeros); not convertible to f32 by ckpt_load_f32
    ST_I8,
    ST_U8,   // safetensors U8 (awqc's INT3 codes and zero points)
    // Virtual tensors: a quantized linear "X.weight" [out, in] that a folder
    // stores as several tensors (awq_tensors.c); ckpt_load_f32 dequantizes
    // it, ckpt_raw_data has no bytes for it.
    ST_AWQ_GEMM4, // AutoAWQ GEMM INT4: X.qweight, X.qzeros, X.scales (AWQ-SPEC.md section 6)
    ST_AWQC_U3,   // awqc INT3: X.qcodes, X.qzeros, X.scales (docs/awqc-int3.md)
    ST_OTHER, // present but not supported for loading
} StorageType;

const char *ckpt_storage_name(StorageType t);

#define CKPT_MAX_RANK 4

typedef struct {
    const char *name;
    StorageType type;
    int rank;
    int64_t shape[CKPT_MAX_RANK]; // row-major, outermost first
    int64_t n_elements;
    uint64_t nbytes; // bytes in the file
} CkptTensor;

typedef enum {
    META_NONE,
    META_INT,    // all integer widths and bool
    META_FLOAT,  // f32 / f64
    META_STRING,
    META_ARRAY,
} MetaKind;

// An array metadata value; elements are all of elem_kind (INT, FLOAT or STRING).
typedef struct {
    MetaKind elem_kind;
    size_t len;
    const int64_t *ints;      // when elem_kind == META_INT
    const double *floats;     // when elem_kind == META_FLOAT
    const char *const *strs;  // when elem_kind == META_STRING (NUL-terminated, may contain any UTF-8)
} MetaArray;

typedef struct Checkpoint Checkpoint;

// Opens path: a .gguf file, a folder holding config.json (+ safetensors), or a
// single .safetensors file (config.json is then looked for beside it). Every
// header offset and size is checked against the file size; on failure returns
// NULL with err naming the file and the place ("x.gguf: offset 1234: ...").
Checkpoint *ckpt_open(const char *path, AwqcError *err);
void ckpt_close(Checkpoint *c);

CkptFormat ckpt_format(const Checkpoint *c);
const char *ckpt_path(const Checkpoint *c); // as given to ckpt_open
const char *ckpt_dir(const Checkpoint *c);  // folder holding the checkpoint (for tokenizer.json etc.)

// Metadata. Getters return false when the key is absent or of another kind
// (an INT is accepted by ckpt_meta_float).
MetaKind ckpt_meta_kind(const Checkpoint *c, const char *key);
bool ckpt_meta_int(const Checkpoint *c, const char *key, int64_t *out);
bool ckpt_meta_float(const Checkpoint *c, const char *key, double *out);
bool ckpt_meta_string(const Checkpoint *c, const char *key, const char **out);
bool ckpt_meta_array(const Checkpoint *c, const char *key, MetaArray *out);
size_t ckpt_meta_count(const Checkpoint *c);
const char *ckpt_meta_key_at(const Checkpoint *c, size_t i);

// Tensors.
size_t ckpt_tensor_count(const Checkpoint *c);
const CkptTensor *ckpt_tensor_at(const Checkpoint *c, size_t i);
const CkptTensor *ckpt_find_tensor(const Checkpoint *c, const char *name); // NULL if absent

// Whether ckpt_load_f32 can convert t's storage type (F32, F16, BF16, Q8_0,
// Q4_0, Q4_1, and the virtual AWQ types). Check it before allocating t->n_elements floats: for other
// types the element count is not bounded by the file's size.
bool ckpt_tensor_loadable(const CkptTensor *t);
// Converts a tensor to f32 (dequantizing GGUF blocks) into dst, which holds
// t->n_elements floats, in row-major order. False (with err naming the file,
// the tensor and its type) when !ckpt_tensor_loadable(t); dst is then not
// touched and may be NULL.
bool ckpt_load_f32(const Checkpoint *c, const CkptTensor *t, float *dst, AwqcError *err);
// A quantized linear of an AWQ folder (the virtual types): its codes, zeros
// and scales as stored, without dequantizing, for passes that keep them
// (merging, packing). out is initialized here; free it with quant_matrix_free.
bool ckpt_tensor_is_awq(const CkptTensor *t);
bool ckpt_load_codes(const Checkpoint *c, const CkptTensor *t, QuantMatrix *out, AwqcError *err);
// The raw bytes of a tensor as stored (mmapped; valid until ckpt_close); NULL
// for a virtual tensor.
const void *ckpt_raw_data(const Checkpoint *c, const CkptTensor *t);

// Dequantizers, exposed for tests and later fast paths: n is a multiple of 32.
void dequant_q8_0(const void *src, float *dst, int64_t n);
void dequant_q4_0(const void *src, float *dst, int64_t n);
void dequant_q4_1(const void *src, float *dst, int64_t n);

// The quantization a folder declares (config.json "quantization_config"):
// bits and group size of its quantized linears; false when it declares none.
bool ckpt_awq_config(const Checkpoint *c, int *bits, int *group);

#endif
