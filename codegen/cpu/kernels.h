// kernels.h: the kernel emitters of the CPU code generator, one family per
// file (linear.c, attention.c, elementwise.c). Each writes the phase
// functions (abi.h) of one plan node, specialised for its constant shapes.
#ifndef AWQC_CODEGEN_KERNELS_H
#define AWQC_CODEGEN_KERNELS_H

#include "codegen/cpu/ll.h"
#include "common/util.h"
#include "ir/ir.h"

#define KERNEL_MAX_PHASES 4

typedef struct {
    LLVMValueRef fn[KERNEL_MAX_PHASES];
    int n;
} NodeKernels;

// A node's emission context: the graph, the node and where its phases go.
typedef struct {
    Ll *l;
    const Graph *g;
    int index;
    const Node *n;
    NodeKernels *out;
} KernelJob;

// Starts the next phase function of the node ("awqc_k<node>_<phase>").
void kernel_phase_begin(KernelJob *j);

// The width (last dimension) of operand i, and whether it is a weight.
int64_t kernel_operand_width(const KernelJob *j, int i);
const Weight *kernel_operand_weight(const KernelJob *j, int i); // NULL for a node value
// Operand i as a typed pointer, loaded from the kernel's arguments.
LLVMValueRef kernel_operand(KernelJob *j, int i, LLVMTypeRef elem);
// Fails with "%N = op: MESSAGE" naming the node.
bool kernel_fail(const KernelJob *j, AwqcError *err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

// Emitters; false with err when the node's form is not supported.
// The 4-bit layout this target's kernels read (exported as AWQC_SYM_LAYOUT4).
const char *cpu_native_layout4(const Ll *l);

bool emit_linear(KernelJob *j, AwqcError *err);      // linear, rms_norm_linear, linear_add
bool emit_attention(KernelJob *j, AwqcError *err);   // rope_attention, attention, rope
bool emit_elementwise(KernelJob *j, AwqcError *err); // embedding, norms, unary/binary, silu_mul, softmax, ...

// y[0..K) = x[0..K) normalised by its RMS then times g, as the interpreter
// does (sum of squares in double).
void kernel_rms_norm_row(Ll *l, LLVMValueRef x, LLVMValueRef g, LLVMValueRef y, int64_t K, double eps);

#endif
