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
    int bits;         // the code width it packs (4 or 3)
    // Whether a matrix of this shape can take the layout (e.g. rows a multiple
    // of 8); false with a message naming the reason.
    bool (*fits)(int64_t rows, int64_t cols, int group, AwqcError *err);
    size_t (*packed_size)(int64_t rows, int64_t cols, int group);
    void (*pack)(const QuantMatrix *m, uint8_t *out);           // out: packed_size bytes
    void (*unpack)(const uint8_t *in, QuantMatrix *m);          // m allocated with the shape set
} WeightLayout;

// NULL when no layout has that name.
const WeightLayout *ir_find_layout(const char *name);
// All layouts, NULL-terminated.
const WeightLayout *const *ir_layouts(void);

// Packs w's codes into layout l: w->packed, w->layout set, w->quant freed.
// False (w unchanged) when l does not fit w's shape or bits, or w has no codes.
bool ir_pack_weight(Weight *w, const WeightLayout *l, AwqcError *err);
// The codes of a quantized weight, whether held as codes or packed: a fresh
// QuantMatrix in out (free with quant_matrix_free). False when w has neither,
// names an unknown layout, or its packed size disagrees with its type.
bool ir_weight_codes(const Weight *w, QuantMatrix *out, AwqcError *err);

#endif
