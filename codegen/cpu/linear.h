// linear.h: what the two emitters of the linear family share (linear.c for
// f32, avx2-i4, neon-i4, u8-rows and u3-packed weights; linear_vnni.c for
// vnni-i4 and vnni-i8 weights with 8-bit activations): the node's form, its pointers and
// the epilogue that adds bias and residual.
#ifndef AWQC_CODEGEN_CPU_LINEAR_H
#define AWQC_CODEGEN_CPU_LINEAR_H

#include "codegen/cpu/kernels.h"

typedef struct {
    int x, g, w, bias, res; // operand indices (-1: absent)
    int64_t K, N;
    double eps;
    const Weight *W;
    int bits, group;
    int half;      // 4-bit layouts: codes per half block (32 avx2-i4, 16 neon-i4)
    bool vnni;     // vnni-i4/i8 weights: the node's act_q8 rounds its inputs to 8 bits
} LinearShape;

typedef struct {
    LLVMValueRef x, w, bias, res, out; // activations, weight (f32* or i8*), optional bias/res, output
    LLVMValueRef T, row0;
} LinearArgs;

// A packed weight's three parts, in that order in every layout the CPU
// kernels read (codes, then f16 scales and u8 zeros, one per row and group;
// how each is ordered inside is the layout's).
typedef struct {
    LLVMValueRef codes;  // i8*: the codes
    LLVMValueRef scales; // half*: N * K/group
    LLVMValueRef zeros;  // i8*: N * K/group
} PackedParts;

PackedParts linear_packed_parts(Ll *l, const LinearShape *s, LLVMValueRef base);

// The outputs of rows [n, n + lanes) for token t at once (lanes > 1), with
// bias and residual added.
void linear_store_results(Ll *l, const LinearShape *s, const LinearArgs *a, LLVMValueRef t, LLVMValueRef n,
                          LLVMValueRef v, int lanes);

// [start, end) in steps of `step`, then what is left one at a time: the
// value where the single steps begin.
LLVMValueRef linear_whole_steps_end(Ll *l, LLVMValueRef start, LLVMValueRef end, int step);

// The vnni-i4/i8 form of the node: rows [lo, hi) (multiples of 16) of token
// rows [row0, T), the 8-bit activations rounded into scratch.
void emit_linear_vnni(Ll *l, const LinearShape *s, const LinearArgs *a, LLVMValueRef lo, LLVMValueRef hi,
                      LLVMValueRef scratch);

#endif
