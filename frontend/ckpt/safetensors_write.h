// safetensors_write.h: writes a safetensors file (8-byte little-endian header
// length, a JSON header of dtype/shape/data_offsets per tensor, then the data)
// that the reader here, the `safetensors` library and transformers all load.
#ifndef AWQC_SAFETENSORS_WRITE_H
#define AWQC_SAFETENSORS_WRITE_H

#include "frontend/ckpt/checkpoint.h"

typedef struct {
    const char *name;
    StorageType type; // F32, F16, BF16, I32, I8 or U8
    int rank;
    int64_t shape[CKPT_MAX_RANK];
    const void *data; // the elements, little-endian, row-major
} StOutTensor;

// Writes the tensors in the order given, with "__metadata__" {"format": "pt"}.
// The file appears at path only when complete (temp file + rename); on failure
// nothing is left behind and err names the path.
bool st_write_file(const char *path, const StOutTensor *t, size_t n, AwqcError *err);

#endif
