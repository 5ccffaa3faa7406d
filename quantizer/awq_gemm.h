// awq_gemm.h: the AutoAWQ interchange layouts of a 4-bit QuantMatrix
// (AWQ-SPEC.md section 6). "GEMM", the one vLLM and transformers load, packs
// along the output dimension in nibble order [0,2,4,6,1,3,5,7]; "GEMV" packs
// the input dimension in plain order. Both round-trip bit-exactly. Also
// awqc's own INT3 packing, which AutoAWQ's layouts cannot hold.
#ifndef AWQC_AWQ_GEMM_H
#define AWQC_AWQ_GEMM_H

#include "frontend/ckpt/checkpoint.h"
#include "quantizer/quant.h"

// ----------------------------------------------------------------------------
// GEMM layout. Note the transposition: a QuantMatrix is [out, in], the AutoAWQ
// tensors are input-major:
//   qweight int32 [in, out/8]       nibble i (bits 4i..4i+3) of packed column c
//   qzeros  int32 [in/group, out/8]   holds output column 8c + ORDER[i]
//   scales  f16   [in/group, out]     (ORDER and the packing: ir/layout.h)
// Values are stored little-endian, as in safetensors.

#define AWQ_PACK 8 // 4-bit values per int32

typedef struct {
    int64_t in, out; // in_features, out_features
    int group;
    int32_t *qweight; // [in, out/8]
    int32_t *qzeros;  // [in/group, out/8]
    uint16_t *scales; // [in/group, out], f16 bit patterns
} AwqGemm;

// Packs m (4 bits, rows = out a multiple of 8) into p, whose arrays are
// allocated here. False with a message when m cannot be expressed.
bool awq_gemm_pack(const QuantMatrix *m, AwqGemm *p, AwqcError *err);
void awq_gemm_free(AwqGemm *p);

// Unpacks p back into a 4-bit QuantMatrix (allocated here). Checks the
// dimensions (out a multiple of 8, group dividing in).
bool awq_gemm_unpack(const AwqGemm *p, QuantMatrix *out, AwqcError *err);

// The three tensors of one quantized linear as found in a checkpoint (e.g.
// "model.layers.0.self_attn.q_proj.qweight"), with their raw bytes
// (ckpt_raw_data; any alignment).
typedef struct {
    const CkptTensor *qweight, *qzeros, *scales;
    const void *qweight_data, *qzeros_data, *scales_data;
} AwqGemmTensors;

// Checks the storage types (I32, I32, F16), ranks and shapes of t against each
// other and the group size (from quantization_config), naming the offending
// tensor, then unpacks into out. in/out are taken from qweight's shape.
bool awq_gemm_import(const AwqGemmTensors *t, int group, QuantMatrix *out, AwqcError *err);

// ----------------------------------------------------------------------------
// GEMV layout, qweight only: int32 [out, in/8], nibble i of packed column c
// holds input column 8c + i. (Its zeros/scales tensors are padded in AutoAWQ in
// ways the spec does not pin down; not handled yet.)

// Packs m->q (4 bits, in a multiple of 8) into a fresh int32 [out, in/8] array.
bool awq_gemv_pack_qweight(const QuantMatrix *m, int32_t **qweight, AwqcError *err);
// Fills m->q (already shaped, 4 bits) from qweight [m->rows, m->cols/8].
bool awq_gemv_unpack_qweight(const int32_t *qweight, QuantMatrix *m, AwqcError *err);

// ----------------------------------------------------------------------------
// awqc's INT3 layout (docs/awqc-int3.md): 8 codes of a row in 3 bytes, code k
// in bits 3k..3k+2 of the little-endian 24-bit word.

// Returns [rows, cols*3/8] bytes (heap); m is 3-bit with cols % 8 == 0.
uint8_t *awqc_u3_pack(const QuantMatrix *m);

#endif
