// kernel_common.c: what every kernel emitter shares: phase functions named
// after their node, operands read from the kernel arguments, and errors that
// name the node.
#include <stdarg.h>
#include <stdio.h>

#include "codegen/cpu/abi.h"
#include "codegen/cpu/kernels.h"

void kernel_phase_begin(KernelJob *j) {
    AWQC_ASSERT(j->out->n < KERNEL_MAX_PHASES);
    char name[64];
    snprintf(name, sizeof name, "awqc_k%d_%d", j->index, j->out->n);
    j->out->fn[j->out->n++] = ll_kernel_begin(j->l, name);
}

int64_t kernel_operand_width(const KernelJob *j, int i) {
    const Type *t = ir_operand_type(j->g, j->n->in[i]);
    return t->dims[t->rank - 1].size;
}

const Weight *kernel_operand_weight(const KernelJob *j, int i) {
    Operand o = j->n->in[i];
    return o.kind == OPND_WEIGHT ? &j->g->weights[o.index] : NULL;
}

LLVMValueRef kernel_operand(KernelJob *j, int i, LLVMTypeRef elem) {
    AWQC_ASSERT(i >= 0 && i < j->n->n_in && i < AWQC_CPU_MAX_OPERANDS);
    return ll_arg_ptr(j->l, AWQC_ARG_OPND + i, elem);
}

bool kernel_fail(const KernelJob *j, AwqcError *err, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return awqc_fail(err, "%%%d = %s: %s", j->index, ir_op_name(j->n->op), msg);
}
