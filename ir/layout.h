// layout.h: packed weight layouts, the byte forms pack-weights gives quantized
// weights for one target (AWQ-SPEC.md sections 6-7): which nibble sits where
// is chosen by the target's vector width, never by the model. Every layout
// packs a QuantMatrix (codes, f16 scales, zero points) into one blob and
// unpacks it back exactly, so the reference interpreter runs packed plans.
#ifndef AWQC_IR_LAYOUT_H
#define AWQC_IR_LAYOUT_H

#include "ir/ir.h"

typedef struct {
    const char *name; // as printed in the IR: weight @w : q4g64[N, K] {layout = "NAME"}
    const char *what; // one line for --help and docs
    int bits;         // the code width it packs (4, 3 or 8)
    bool acts8;       // its kernels read 8-bit activations (act_q8, passes/quantize_acts.c)
    // Whether a matrix of this shape can take the layout (e.g. rows a multiple
    // of 8); false with a message naming the reason.
    bool (*fits)(int64_t rows, int64_t cols, int group, AwqcError *err);
    size_t (*packed_size)(int64_t rows, int64_t cols, int group);
    void (*pack)(const QuantMatrix *m, uint8_t *out);           // out: packed_size bytes
    void (*unpack)(const uint8_t *in, QuantMatrix *m);          // m allocated with the shape set
} WeightLayout;

// Codes per row in one 64-byte block of vnni-i4 (8: 4 low nibbles, 4 high)
// and vnni-i8 (4 bytes); the kernels walk the blocks with it.
static inline int ir_vnni_chunk_codes(int bits) { return bits == 4 ? 8 : 4; }

// NULL when no layout has that name.
const WeightLayout *ir_find_layout(const char *name);
// Whether w (NULL: no) is q4 packed as awq-gemm, the one form the CUDA q4
// kernels read.
bool ir_weight_is_q4_gemm(const Weight *w);
// All layouts, NULL-terminated.
const WeightLayout *const *ir_layouts(void);

// The bits and [rows, cols] a quantized weight's type declares (q4/q3/q8 with a
// constant 2-d shape); false with a message naming w otherwise.
bool ir_quant_shape(const Weight *w, int *bits, int64_t *rows, int64_t *cols, AwqcError *err);

// Whether codes m have the bits, group and shape w's type declares (what a
// packed blob will be unpacked with); false with a message naming w.
bool ir_quant_matches_type(const Weight *w, const QuantMatrix *m, AwqcError *err);

// Whether w's layout can hold its type: a known layout of the type's bit
// width that fits its shape and group, and, when the bytes are bound, exactly
// the layout's size of them (nothing unpacks past a short blob). The verifier
// and every unpacking check it; false with a message naming w.
bool ir_packed_matches_type(const Weight *w, AwqcError *err);

// Codes m of the weight called `name` packed into layout l: a fresh blob in
// *out of *size bytes. False when l packs another bit width or does not fit
// m's shape (the message names the weight).
bool ir_pack_codes(const QuantMatrix *m, const char *name, const WeightLayout *l, uint8_t **out, size_t *size,
                   AwqcError *err);
// Packs w's codes into layout l: w->packed, w->layout set, w->quant freed.
// False (w unchanged) when l does not fit w's shape or bits, or w has no codes.
bool ir_pack_weight(Weight *w, const WeightLayout *l, AwqcError *err);
// The codes of a quantized weight, whether held as codes or packed: a fresh
// QuantMatrix in out (free with quant_matrix_free). False when w has neither,
// names an unknown layout, or its packed size disagrees with its type.
bool ir_weight_codes(const Weight *w, QuantMatrix *out, AwqcError *err);

// ----------------------------------------------------------------------------
// The checkpoint layouts' pieces (the one place their bit order is written):
// the AutoAWQ GEMM tensors and awqc's INT3 codes. Arrays are little-endian
// bytes at any alignment, as in safetensors; m is [rows = out, cols = in].

// GEMM (AWQ-SPEC.md section 6), 4-bit, rows % 8 == 0:
//   qweight u32 [cols, rows/8]: nibble i of word (k, c) = code (8c + ORDER[i], k),
//   ORDER = {0, 2, 4, 6, 1, 3, 5, 7}; qzeros u32 [cols/group, rows/8] alike;
//   scales f16 [cols/group, rows].
void ir_gemm_pack_parts(const QuantMatrix *m, uint8_t *qweight, uint8_t *qzeros, uint8_t *scales);
// Fills m, already shaped (quant_matrix_init), from the three arrays.
void ir_gemm_unpack_parts(const uint8_t *qweight, const uint8_t *qzeros, const uint8_t *scales, QuantMatrix *m);

// INT3 codes (docs/awqc-int3.md), cols % 8 == 0: [rows, cols / 8 * 3] bytes,
// each 8 codes of a row a little-endian 24-bit word, code i in bits 3i..3i+2.
void ir_u3_pack_codes(const QuantMatrix *m, uint8_t *out);
void ir_u3_unpack_codes(const uint8_t *in, QuantMatrix *m);

#endif
