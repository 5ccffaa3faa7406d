// cuda_emu.hpp: runs the kernels of codegen/cuda/kernels.cuh on the CPU, so
// the mock driver (mock_emu.c) can compute what a GPU would and the GPU tests
// compare every kernel with the reference interpreter on machines without one.
// The mock compiles kernels.cuh as C++ with this header included first
// (-DAWQC_EMU), plus one extern "C" entry per kernel the runtime looked up.
//
// Each CUDA thread of a block is a fiber on the calling thread; blocks run
// one after another, so `__shared__` can be a function-local static. A fiber
// is made once (makecontext, started with setcontext) and then runs the
// kernel body of block after block, switched with GCC's __builtin_setjmp and
// __builtin_longjmp: swapcontext would cost a system call per switch, and
// both it and libc's longjmp are intercepted by AddressSanitizer, which warns
// about (and slows down on) stacks it does not know. A fiber runs until it reaches a barrier: __syncthreads waits for
// every live thread of the block, a warp operation (shuffle, mma) for the 32
// lanes of its warp. A barrier that can never open (threads of one block or
// warp waiting at different barriers, or a warp operation in a warp that lost
// lanes) fails the launch with a message instead of hanging: on a GPU it is
// undefined behaviour. Between barriers the fibers run one after another,
// in thread order in even blocks and in reverse order in odd ones, so a
// kernel that reads what another thread writes without a barrier between
// them computes different results in the two kinds of block (and fails its
// comparison with the reference) instead of passing by luck of the order.
// Likewise about half the launches run their blocks in reverse order. A
// cp.async lands only when its thread waits for its commit group (until then
// its destination reads as all-ones bits). Loads and copies check their addresses' alignment.
// Shuffles and mma exchange values through a per-warp
// buffer, two of them used in turn, so a lane's next warp operation cannot
// overwrite what a slower lane has still to read.
#ifndef AWQC_CUDA_EMU_HPP
#define AWQC_CUDA_EMU_HPP

#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <sys/mman.h>
#include <ucontext.h>

#define __device__
#define __global__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
#define __shared__ static
#define DYNAMIC_SHARED(type, name) type *name = (type *)awqc_emu::dyn_smem

struct AwqcDim3 {
    unsigned x, y, z;
};
inline AwqcDim3 threadIdx, blockIdx, blockDim, gridDim;

namespace awqc_emu {

enum Wait { RUNNABLE, AT_SYNCTHREADS, AT_WARP_OP, DONE };
enum { MAX_THREADS = 1024, WARP = 32, STACK = 64 * 1024, SLOT_WORDS = 8, DYN_SMEM = 228 * 1024, MAX_PENDING = 64 };

struct PendingCopy { // a cp.async not yet waited for
    void *dst;
    const void *src;
    unsigned bytes;
    unsigned long long group; // the commit group it joins: the thread's commits before it
};

struct Fiber {
    ucontext_t ctx; // where it starts
    void *at[5];    // where it stopped (a __builtin_setjmp buffer)
    bool started;
    AwqcDim3 tid;
    Wait wait;
    unsigned long long warp_ops; // parity picks the exchange buffer
    PendingCopy pending[MAX_PENDING];
    int n_pending;
    unsigned long long commits; // cp.async.commit_group so far
};

inline Fiber fibers[MAX_THREADS];
inline int n_fibers, n_made, current;
inline void *scheduler[5];
inline char *stacks;
alignas(16) inline unsigned char dyn_smem[DYN_SMEM];
inline uint32_t exchange[2][MAX_THREADS / WARP][WARP][SLOT_WORDS];
inline char failure[512];
inline void (*kernel)(const void *);
inline const void *kernel_args;

inline void fail(const char *fmt, ...) {
    if (failure[0]) return; // the first problem is the one to report
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(failure, sizeof failure, fmt, ap);
    va_end(ap);
}

// A fiber's index is its thread's flat id (x fastest), so lane = current % WARP.
inline int lane() { return current % WARP; }

// __builtin_longjmp may not be called in the function that set its buffer.
__attribute__((noinline)) inline void jump_to(void **buf) { __builtin_longjmp(buf, 1); }

inline void to_scheduler() {
    if (__builtin_setjmp(fibers[current].at) == 0) jump_to(scheduler);
}

// Parks the running fiber at a barrier and returns once the scheduler opens it.
inline void wait_at(Wait w) {
    fibers[current].wait = w;
    to_scheduler();
}

// The exchange slot this lane writes for its next warp operation, and the
// buffer of the warp to read from after the barrier.
inline uint32_t *my_slot(uint32_t (**warp_buf)[SLOT_WORDS]) {
    int parity = (int)(fibers[current].warp_ops++ & 1);
    *warp_buf = exchange[parity][current / WARP];
    return exchange[parity][current / WARP][lane()];
}

// A fiber's life: the kernel's body for each block it is given.
inline void fiber_main() {
    for (;;) {
        kernel(kernel_args);
        if (fibers[current].n_pending)
            fail("thread %d returned with %d cp.async not waited for", current, fibers[current].n_pending);
        fibers[current].wait = DONE;
        to_scheduler();
    }
}

inline void make_fiber(Fiber &f, int i) {
    getcontext(&f.ctx);
    f.ctx.uc_stack.ss_sp = stacks + (size_t)i * STACK;
    f.ctx.uc_stack.ss_size = STACK;
    f.ctx.uc_link = nullptr;
    makecontext(&f.ctx, fiber_main, 0);
    f.started = false;
}

// Runs fiber i until it waits or finishes its block.
inline void resume(int i) {
    current = i;
    threadIdx = fibers[i].tid;
    if (__builtin_setjmp(scheduler) != 0) return; // it came back
    if (fibers[i].started) jump_to(fibers[i].at);
    fibers[i].started = true;
    setcontext(&fibers[i].ctx); // returns through the __builtin_setjmp above
}

// Opens the barriers that every thread they concern has reached (some thread
// still waits: run_block returns once all are done); false when none can open.
inline bool open_barriers() {
    bool opened = false;
    for (int w0 = 0; w0 < n_fibers; w0 += WARP) {
        int lanes = n_fibers - w0 < WARP ? n_fibers - w0 : WARP, at_op = 0, other = -1;
        for (int l = 0; l < lanes; l++) {
            if (fibers[w0 + l].wait == AT_WARP_OP) at_op++;
            else other = w0 + l;
        }
        if (at_op == 0) continue;
        if (at_op < WARP) {
            fail("warp %d: %d of its lanes are at a shuffle or mma, but thread %d %s (every lane of the warp "
                 "must take part)", w0 / WARP, at_op, other < 0 ? w0 + lanes : other,
                 other < 0 ? "does not exist (a partial warp)"
                           : fibers[other].wait == DONE ? "has returned" : "waits at __syncthreads");
            return false;
        }
        for (int l = 0; l < WARP; l++) fibers[w0 + l].wait = RUNNABLE;
        opened = true;
    }
    if (opened) return true;
    // __syncthreads: threads that returned no longer count, as on the GPU.
    for (int i = 0; i < n_fibers; i++)
        if (fibers[i].wait == AT_SYNCTHREADS) fibers[i].wait = RUNNABLE, opened = true;
    return opened;
}

inline bool run_block(bool backwards) {
    for (; n_made < n_fibers; n_made++) make_fiber(fibers[n_made], n_made);
    for (int i = 0; i < n_fibers; i++) {
        Fiber &f = fibers[i];
        f.tid = {(unsigned)i % blockDim.x, (unsigned)i / blockDim.x % blockDim.y, (unsigned)i / (blockDim.x * blockDim.y)};
        f.wait = RUNNABLE;
        f.warp_ops = 0;
        f.n_pending = 0;
        f.commits = 0;
    }
    for (;;) {
        for (int k = 0; k < n_fibers; k++) {
            int i = backwards ? n_fibers - 1 - k : k;
            if (fibers[i].wait == RUNNABLE) resume(i);
        }
        if (failure[0]) return false;
        int done = 0;
        for (int i = 0; i < n_fibers; i++) done += fibers[i].wait == DONE;
        if (done == n_fibers) return true;
        if (!open_barriers()) {
            if (!failure[0]) fail("threads wait at barriers that cannot open");
            return false;
        }
    }
}

} // namespace awqc_emu

// ----------------------------------------------------------------------------
// CUDA built-ins the kernels use

inline void __syncthreads() { awqc_emu::wait_at(awqc_emu::AT_SYNCTHREADS); }

// A GPU faults on an access not aligned to its size (a 16-byte load at an
// address that is a multiple of 8, say); the CPU would not notice.
namespace awqc_emu {
inline void check_aligned(const void *p, size_t align, const char *what) {
    if ((uintptr_t)p % align)
        fail("thread %d: %s of %zu bytes at %p, which is not a multiple of %zu (a misaligned address on a GPU)",
             current, what, align, p, align);
}
} // namespace awqc_emu

template <class T> inline T __ldg(const T *p) {
    awqc_emu::check_aligned(p, alignof(T), "__ldg");
    return *p;
}
template <class T> inline T __ldcg(const T *p) {
    awqc_emu::check_aligned(p, alignof(T), "__ldcg");
    return *p;
}

struct alignas(16) uint4 {
    unsigned x, y, z, w;
};
struct alignas(8) uint2 {
    unsigned x, y;
};
struct alignas(8) float2 {
    float x, y;
};
struct alignas(16) float4 {
    float x, y, z, w;
};
inline float2 make_float2(float x, float y) { return {x, y}; }

// cp.async: the copy is held back until the thread waits for its group, and
// until then its destination holds all-ones bits (NaN as a float, nibbles
// of 15), so a kernel that reads a copy before waiting for it, or issues a
// copy into a buffer it is still reading, computes garbage instead of
// passing because the copy happened to be done.
template <int VW> inline void copy_async(unsigned *dst, const unsigned *src) {
    using namespace awqc_emu;
    Fiber &f = fibers[current];
    if (f.n_pending == MAX_PENDING) return fail("thread %d: more than %d cp.async in flight", current, MAX_PENDING);
    check_aligned(dst, 4 * VW, "cp.async to shared memory");
    check_aligned(src, 4 * VW, "cp.async from global memory");
    f.pending[f.n_pending++] = {dst, src, 4 * VW, f.commits};
    memset(dst, 0xff, 4 * VW);
}
inline void copy_async_commit() { awqc_emu::fibers[awqc_emu::current].commits++; }
// Lands the copies of every committed group but the newest N (copies not yet
// committed are not waited for, as on the GPU).
template <int N> inline void copy_async_wait_group() {
    awqc_emu::Fiber &f = awqc_emu::fibers[awqc_emu::current];
    int kept = 0;
    for (int i = 0; i < f.n_pending; i++) {
        awqc_emu::PendingCopy &p = f.pending[i];
        if (p.group + N < f.commits) memcpy(p.dst, p.src, p.bytes);
        else f.pending[kept++] = p;
    }
    f.n_pending = kept;
}

// Blocks run one after another on one host thread: every write is seen by
// the next block, and an atomic is a plain update.
inline void __threadfence() {}
inline unsigned atomicAdd(unsigned *p, unsigned v) {
    unsigned old = *p;
    *p = old + v;
    return old;
}

inline float __int_as_float(int i) {
    float f;
    memcpy(&f, &i, 4);
    return f;
}

template <class T> inline T __shfl_xor_sync(unsigned mask, T v, int offset) {
    static_assert(sizeof(T) <= 4 * awqc_emu::SLOT_WORDS, "value too large to exchange");
    if (mask != 0xffffffffu) awqc_emu::fail("__shfl_xor_sync with mask 0x%x: the emulator knows the full mask only", mask);
    uint32_t(*warp)[awqc_emu::SLOT_WORDS];
    memcpy(awqc_emu::my_slot(&warp), &v, sizeof v);
    awqc_emu::wait_at(awqc_emu::AT_WARP_OP);
    T r;
    memcpy(&r, warp[awqc_emu::lane() ^ offset], sizeof r);
    return r;
}

// IEEE binary16 <-> binary32, as cvt.f32.f16 and cvt.rn.f16.f32 do.
inline float h2f(unsigned short h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 31u, man = h & 0x3ffu, bits;
    if (exp == 31) bits = sign | 0x7f800000u | (man << 13); // inf, nan
    else if (exp != 0) bits = sign | ((exp + 112) << 23) | (man << 13);
    else if (man == 0) bits = sign;
    else { // subnormal: normalise
        int e = -1;
        do man <<= 1, e++;
        while (!(man & 0x400u));
        bits = sign | ((uint32_t)(112 - e) << 23) | ((man & 0x3ffu) << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

inline unsigned short f2h(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u, ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) return (unsigned short)(sign | 0x7c00u | (ax > 0x7f800000u ? 0x200u : 0));
    if (ax >= 0x477ff000u) return (unsigned short)(sign | 0x7c00u); // rounds past 65504
    if (ax < 0x38800000u) { // subnormal or zero: scale to units of 2^-24, round to even
        float mag;
        memcpy(&mag, &ax, 4);
        return (unsigned short)(sign | (unsigned)std::nearbyint(mag * 16777216.0f));
    }
    uint32_t r = ax - 0x38000000u; // rebias the exponent by 127 - 15, keep 23 mantissa bits
    uint32_t h = r >> 13, rest = r & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) h++;
    return (unsigned short)(sign | h);
}

inline unsigned pack_h2(float lo, float hi) { return (unsigned)f2h(lo) | ((unsigned)f2h(hi) << 16); }

// v rounded to binary16 once, to nearest even: to a multiple of the half's
// unit at its binade (2^-24 at the least: subnormals), which then converts
// exactly. (h2_fma's double a * b + c is exact, so the fma rounds only here,
// unless c and a * b lie over 2^30 apart, where only a tie could differ.)
inline unsigned short d2h(double v) {
    if (std::isnan(v)) return 0x7e00u;
    double mag = std::fabs(v);
    unsigned short sign = std::signbit(v) ? 0x8000u : 0;
    if (mag >= 65520.0) return (unsigned short)(sign | 0x7c00u); // 65504 + half its unit rounds to even: inf
    int e;
    std::frexp(mag, &e); // mag = m * 2^e, m in [0.5, 1)
    double unit = std::ldexp(1.0, e - 11 > -24 ? e - 11 : -24);
    return (unsigned short)(sign | f2h((float)(std::nearbyint(mag / unit) * unit)));
}

// fma.rn.f16x2 and cvt.rn.f16x2.f32 of the same value twice.
inline unsigned h2_fma(unsigned a, unsigned b, unsigned c) {
    unsigned d = 0;
    for (int h = 0; h < 32; h += 16) {
        double v = (double)h2f((unsigned short)(a >> h)) * h2f((unsigned short)(b >> h)) + h2f((unsigned short)(c >> h));
        d |= (unsigned)d2h(v) << h;
    }
    return d;
}

inline unsigned h2_splat(float v) { return pack_h2(v, v); }

// mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 with the fragment layout
// of the PTX ISA: lane = 4 * groupID + threadID_in_group; A (16x16, row
// major) register r holds row groupID (+8 when r is odd), columns
// 2*tig, 2*tig+1 (+8 when r >= 2); B (16x8, column major) register r holds
// rows 2*tig, 2*tig+1 (+8 when r = 1) of column groupID; C/D element h is
// row groupID (+8 when h >= 2), column 2*tig + (h & 1).
inline float mma_a(uint32_t (*warp)[awqc_emu::SLOT_WORDS], int row, int k) {
    uint32_t reg = warp[(row % 8) * 4 + (k % 8) / 2][(row / 8) + 2 * (k / 8)];
    return h2f((unsigned short)(reg >> (16 * (k & 1))));
}
inline float mma_b(uint32_t (*warp)[awqc_emu::SLOT_WORDS], int k, int col) {
    uint32_t reg = warp[col * 4 + (k % 8) / 2][4 + k / 8];
    return h2f((unsigned short)(reg >> (16 * (k & 1))));
}
inline void mma_16816(float *d, const unsigned *a, const unsigned *b) {
    uint32_t(*warp)[awqc_emu::SLOT_WORDS];
    uint32_t *slot = awqc_emu::my_slot(&warp);
    memcpy(slot, a, 16);
    memcpy(slot + 4, b, 8);
    awqc_emu::wait_at(awqc_emu::AT_WARP_OP);
    int g = awqc_emu::lane() >> 2, t = awqc_emu::lane() & 3;
    for (int h = 0; h < 4; h++) {
        int row = g + 8 * (h >> 1), col = 2 * t + (h & 1);
        float s = d[h];
        for (int k = 0; k < 16; k++) s += mma_a(warp, row, k) * mma_b(warp, k, col);
        d[h] = s;
    }
}

// The mock's entry: runs kernel(args) over the grid; 0, or -1 with the
// reason in why.
extern "C" int awqc_emu_launch(void (*k)(const void *), const unsigned grid[3], const unsigned block[3],
                               unsigned smem, const void *args, char *why, size_t why_size) {
    using namespace awqc_emu;
    int threads = (int)(block[0] * block[1] * block[2]);
    if (threads <= 0 || threads > MAX_THREADS || smem > DYN_SMEM) {
        snprintf(why, why_size, "block of %d threads with %u bytes of shared memory", threads, smem);
        return -1;
    }
    if (!stacks) {
        void *p = mmap(nullptr, (size_t)MAX_THREADS * STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) return snprintf(why, why_size, "no memory for the fibers' stacks"), -1;
        stacks = (char *)p;
    }
    failure[0] = '\0';
    kernel = k, kernel_args = args, n_fibers = threads;
    blockDim = {block[0], block[1], block[2]};
    gridDim = {grid[0], grid[1], grid[2]};
    // About half the launches, picked by a fixed pseudo-random sequence (a
    // graph replays its launches in the same order, so parity would not do),
    // run their blocks last to first: a block that reads what another block
    // of the same launch writes sees it in one order and not in the other
    // (CUDA promises no order).
    static unsigned long long lcg = 1;
    lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
    bool reverse = lcg >> 63;
    for (unsigned zi = 0; zi < grid[2]; zi++)
        for (unsigned yi = 0; yi < grid[1]; yi++)
            for (unsigned xi = 0; xi < grid[0]; xi++) {
                unsigned x = reverse ? grid[0] - 1 - xi : xi, y = reverse ? grid[1] - 1 - yi : yi,
                         z = reverse ? grid[2] - 1 - zi : zi;
                blockIdx = {x, y, z};
                if (!run_block((x + y + z) & 1)) {
                    n_made = 0; // fibers stopped inside the kernel start afresh next time
                    snprintf(why, why_size, "block (%u,%u,%u): %s", x, y, z, failure);
                    return -1;
                }
            }
    return 0;
}

#endif
