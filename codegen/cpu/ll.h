// ll.h: a thin layer over the LLVM C API for writing kernels: the types the
// kernels use, constants, loads and stores by element index, counted loops
// with loop-carried values, and the few intrinsics (fma, sqrt, exp, ...).
// Kernels read like the loops they are instead of like block plumbing.
#ifndef AWQC_CODEGEN_LL_H
#define AWQC_CODEGEN_LL_H

#include <llvm-c/Core.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct {
    LLVMContextRef ctx;
    LLVMModuleRef mod;
    LLVMBuilderRef b;
    LLVMValueRef fn; // the function being written
    LLVMTypeRef i1, i8, i16, i32, i64, f16, f32, f64, v;
    LLVMTypeRef p8, p32f, pi32, p16; // i8*, float*, i32*, half*
    int vw;          // f32 lanes of the target's widest vector (8 or 16; 4 on NEON)
    bool vnni;       // the target has AVX-512 VNNI (vpdpbusd)
} Ll;

void ll_init(Ll *l, LLVMContextRef ctx, LLVMModuleRef mod, int vector_lanes);
void ll_dispose(Ll *l);

// A new kernel function void NAME(i8* args, i64 ith, i64 nth), positioned at
// its entry block.
LLVMValueRef ll_kernel_begin(Ll *l, const char *name);
void ll_kernel_end(Ll *l); // adds the return

// Constants.
LLVMValueRef ll_i64(Ll *l, int64_t v);
LLVMValueRef ll_i32(Ll *l, int32_t v);
LLVMValueRef ll_f32(Ll *l, double v);
LLVMValueRef ll_splat(Ll *l, LLVMValueRef scalar, int lanes);

// The kernel's arguments (abi.h): a pointer field as elem*, an integer field.
LLVMValueRef ll_arg_ptr(Ll *l, int field, LLVMTypeRef elem);
LLVMValueRef ll_arg_int(Ll *l, int field);
LLVMValueRef ll_ith(Ll *l);
LLVMValueRef ll_nth(Ll *l);

// Element access: p[i] of type elem (p is elem*).
LLVMValueRef ll_at(Ll *l, LLVMTypeRef elem, LLVMValueRef p, LLVMValueRef i);
LLVMValueRef ll_load(Ll *l, LLVMTypeRef elem, LLVMValueRef p, LLVMValueRef i);
void ll_store(Ll *l, LLVMTypeRef elem, LLVMValueRef p, LLVMValueRef i, LLVMValueRef v);
// lanes elements of type elem from p[i] as a vector (unaligned), and back.
LLVMValueRef ll_vload(Ll *l, LLVMTypeRef elem, int lanes, LLVMValueRef p, LLVMValueRef i);
void ll_vstore(Ll *l, LLVMTypeRef elem, LLVMValueRef p, LLVMValueRef i, LLVMValueRef v);
LLVMValueRef ll_cast_ptr(Ll *l, LLVMValueRef p, LLVMTypeRef elem);

// Integer arithmetic on i64.
LLVMValueRef ll_add(Ll *l, LLVMValueRef a, LLVMValueRef b);
LLVMValueRef ll_sub(Ll *l, LLVMValueRef a, LLVMValueRef b);
LLVMValueRef ll_mul(Ll *l, LLVMValueRef a, LLVMValueRef b);
LLVMValueRef ll_min(Ll *l, LLVMValueRef a, LLVMValueRef b);

// Intrinsics (scalar or vector, by the type of the operands).
LLVMValueRef ll_fma(Ll *l, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c);
LLVMValueRef ll_unary_intrinsic(Ll *l, const char *name, LLVMValueRef x); // "llvm.sqrt", "llvm.floor", ...
LLVMValueRef ll_binary_intrinsic(Ll *l, const char *name, LLVMValueRef a, LLVMValueRef b); // "llvm.maxnum", ...
// A target intrinsic with no overloaded types ("llvm.x86.avx512.vpdpbusd.512").
LLVMValueRef ll_target_intrinsic(Ll *l, const char *name, LLVMValueRef *args, int n);
// e^x of a float or float vector, inline (llvm.exp becomes one libm call per lane).
LLVMValueRef ll_exp(Ll *l, LLVMValueRef x);
LLVMValueRef ll_reduce_fadd(Ll *l, LLVMValueRef v);                      // sum of a float vector's lanes
LLVMValueRef ll_reduce_fmax(Ll *l, LLVMValueRef v);
// The lane sums of n vectors (n a power of two, at most their lanes) as one
// n-lane vector, lane i the sum of v[i]: pairs of vectors are folded into one
// by halves, so n sums cost about 3n shuffles and adds instead of n trees.
LLVMValueRef ll_reduce_each(Ll *l, const LLVMValueRef *v, int n);
// lanes [first, first + count) of a vector as a count-lane vector.
LLVMValueRef ll_subvector(Ll *l, LLVMValueRef v, int first, int count);
// The first n (< lanes) elements from p[i] as a vector, the other lanes 0
// and not read: the tail of a row whose length is not a whole number of vectors.
LLVMValueRef ll_vload_first(Ll *l, LLVMTypeRef elem, int lanes, int n, LLVMValueRef p, LLVMValueRef i);

// A counted loop: for (iv = start; iv < end; iv += step), with values carried
// from one iteration to the next. Between begin and end the builder is in
// the body; after end it is after the loop, where ll_loop_result gives each
// carried value's final value.
#define LL_MAX_CARRIED 16 // a prefill tile carries its 4 x 4 accumulators
typedef struct {
    LLVMValueRef iv, end, step;
    LLVMBasicBlockRef header, body, exit, pre;
    int n_carried;
    LLVMValueRef carried[LL_MAX_CARRIED]; // phis in the header
    LLVMValueRef next[LL_MAX_CARRIED];
} LlLoop;

void ll_loop_begin(Ll *l, LlLoop *lp, LLVMValueRef start, LLVMValueRef end, LLVMValueRef step, int n_carried,
                   const LLVMValueRef *init);
void ll_loop_set(LlLoop *lp, int k, LLVMValueRef next); // the carried value k for the next iteration
void ll_loop_end(Ll *l, LlLoop *lp);
static inline LLVMValueRef ll_loop_result(const LlLoop *lp, int k) { return lp->carried[k]; }

// if (cond) { ... } : ll_if_begin positions in the then-block, ll_if_end after.
typedef struct {
    LLVMBasicBlockRef then, after;
} LlIf;
void ll_if_begin(Ll *l, LlIf *c, LLVMValueRef cond);
void ll_if_end(Ll *l, LlIf *c);

// This thread's share [lo, hi) of n items handed out in chunks of `align`.
void ll_share(Ll *l, LLVMValueRef n, int64_t align, LLVMValueRef *lo, LLVMValueRef *hi);

// sum_k a[k] * b[k] for k in [0, n) (n a compile-time constant): vectors of
// l->vw lanes with several accumulators, then a scalar tail.
LLVMValueRef ll_dot(Ll *l, LLVMValueRef a, LLVMValueRef b, int64_t n);

#endif
