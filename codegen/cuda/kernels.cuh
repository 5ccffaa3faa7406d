// kernels.cuh: the kernel templates every generated .cu starts with; the code
// generator (emit.c) appends one extern "C" wrapper per shape that
// instantiates them with the plan's constants. Self-contained CUDA C++ for
// NVRTC: no system headers, f16 decoded with one PTX instruction.
// Activations are f32 [T, width] rows; accumulation in f32 (norms in f64).
// The GPU tests also run these kernels on the CPU (AWQC_EMU, with
// tests/mock_cuda/cuda_emu.hpp providing the built-ins and the PTX
// instructions below: cvt f16 both ways, mma.sync, cp.async and its wait,
// fma.rn.f16x2 and cvt.rn.f16x2.f32).

typedef unsigned int u32;
typedef unsigned short u16;

// Every kernel takes this one struct, filled per node by the runtime: the
// node's output buffer, its operands (node buffers or weights on the device),
// the KV cache of an attention node, the scratch buffer, token ids and the
// position (in device memory, so a captured decode graph can be replayed).
struct KArgs {
    float *out;
    const void *in[4];
    float *kc, *vc;
    float *scratch;
    float *part; // split kernels' partial sums (q4 GEMV, attention_step), and their arrival counts
    u32 *done;   // (zero between launches)
    const int *ids;
    const int *pos;
    int *out_i;
    int T;
    float eps, theta;
};

#define FULL_MASK 0xffffffffu
#ifndef INFINITY
#define INFINITY __int_as_float(0x7f800000)
#endif
#ifndef DYNAMIC_SHARED
#define DYNAMIC_SHARED(type, name) extern __shared__ type name[]
#endif

// ----------------------------------------------------------------------------
// helpers

#ifndef AWQC_EMU
__device__ __forceinline__ float h2f(u16 h) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
    return f;
}
#endif

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(FULL_MASK, v, o);
    return v;
}

__device__ __forceinline__ double warp_sum_d(double v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(FULL_MASK, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(FULL_MASK, v, o));
    return v;
}

__device__ __forceinline__ int flat_tid() { return threadIdx.x + threadIdx.y * blockDim.x; }
__device__ __forceinline__ int flat_threads() { return blockDim.x * blockDim.y; }

// (Functions that are not templates are inline: bench/gpu_kernels.py links
// several translation units that include this file.)

// Sum over the block (a multiple of 32 threads); every thread gets it. The
// warps' partials are added in a fixed order so runs repeat exactly.
__device__ inline double block_sum_d(double v, double *red) {
    v = warp_sum_d(v);
    __syncthreads(); // red may still be read by a previous call
    if ((flat_tid() & 31) == 0) red[flat_tid() >> 5] = v;
    __syncthreads();
    double s = 0;
    for (int w = 0; w < flat_threads() / 32; w++) s += red[w];
    return s;
}

__device__ inline float block_max_f(float v, float *red) {
    v = warp_max(v);
    __syncthreads();
    if ((flat_tid() & 31) == 0) red[flat_tid() >> 5] = v;
    __syncthreads();
    float m = -INFINITY;
    for (int w = 0; w < flat_threads() / 32; w++) m = fmaxf(m, red[w]);
    return m;
}

// Split kernels (gemv_q4, attention_step): called by every thread of a block
// once it has written its partial; true in the last of `blocks` blocks to
// arrive at *count, which then resets it for the next launch (the others
// have all arrived). Only that block reads the partials, in a fixed order.
__device__ inline bool last_to_arrive(u32 *count, u32 blocks) {
    __shared__ int last;
    __threadfence(); // the partial is visible to every block before the count says so
    __syncthreads();
    if (flat_tid() == 0) last = atomicAdd(count, 1u) == blocks - 1;
    __syncthreads();
    if (last && flat_tid() == 0) *count = 0;
    return last;
}

// 1 / rms of a row, as the reference computes it (sum of squares in f64).
template <int D>
__device__ float rms_inv(const float *x, float eps, double *red) {
    double ss = 0;
    for (int i = flat_tid(); i < D; i += flat_threads()) ss += (double)x[i] * x[i];
    ss = block_sum_d(ss, red);
    return (float)(1.0 / sqrt(ss / (double)D + eps));
}

__device__ __forceinline__ float silu_f(float v) { return v / (1.0f + expf(-v)); }

// x[k], normalised when the node carries an RMSNorm gain g.
__device__ __forceinline__ float norm_x(const float *x, const float *g, float inv, int k) {
    return g ? x[k] * inv * g[k] : x[k];
}

// ----------------------------------------------------------------------------
// embedding, norms

template <int D>
__device__ void embedding(const KArgs &a) {
    int t = blockIdx.y;
    const float *row = (const float *)a.in[0] + (size_t)a.ids[t] * D;
    for (int i = threadIdx.x; i < D; i += blockDim.x) a.out[(size_t)t * D + i] = row[i];
}

// in: x, gain. Writes out (or scratch when TO_SCRATCH: the first half of an
// unfused-on-the-device rms_norm_linear).
template <int D, bool TO_SCRATCH>
__device__ void rms_norm(const KArgs &a) {
    __shared__ double red[32];
    int t = blockIdx.y;
    const float *x = (const float *)a.in[0] + (size_t)t * D, *g = (const float *)a.in[1];
    float *y = (TO_SCRATCH ? a.scratch : a.out) + (size_t)t * D;
    float inv = rms_inv<D>(x, a.eps, red);
    for (int i = threadIdx.x; i < D; i += blockDim.x) y[i] = x[i] * inv * g[i];
}

template <int D>
__device__ void layer_norm(const KArgs &a) {
    __shared__ double red[32];
    int t = blockIdx.y;
    const float *x = (const float *)a.in[0] + (size_t)t * D, *w = (const float *)a.in[1],
                *b = (const float *)a.in[2];
    double s = 0;
    for (int i = threadIdx.x; i < D; i += blockDim.x) s += x[i];
    double mean = block_sum_d(s, red) / (double)D, v = 0;
    for (int i = threadIdx.x; i < D; i += blockDim.x) v += (x[i] - mean) * (x[i] - mean);
    float inv = (float)(1.0 / sqrt(block_sum_d(v, red) / (double)D + a.eps));
    for (int i = threadIdx.x; i < D; i += blockDim.x)
        a.out[(size_t)t * D + i] = (float)(x[i] - mean) * inv * w[i] + (b ? b[i] : 0.0f);
}

// ----------------------------------------------------------------------------
// W4A16 GEMV on the awq-gemm bytes: qweight u32 [K, N/8] (nibble i of word
// (k, c) is row 8c + order(i)), qzeros u32 [K/G, N/8] alike, scales f16
// [K/G, N]. Decode is bound by reading the weights once per token, so the
// shape keeps many loads in flight and few instructions per weight:
// - a thread loads VW words of a k row at once (a 4-, 8- or 16-byte load),
//   for R consecutive rows of one group (a "unit"); a block of 32/VW x 8*VW
//   threads covers 32 words (256 outputs) and 8*VW units, every warp reading
//   whole 128-byte lines;
// - S blocks split K's units. Each block adds its threads' sums in a fixed
//   order and writes a partial; the last of the S to arrive adds the S
//   partials in order (the same result every run). So N = 4096 still gives
//   hundreds of blocks;
// - a nibble becomes a float with no conversion instruction: or-ed into the
//   mantissa of 2^23 (0x4b000000) it reads 2^23 + q * 16^p, minus the zero
//   made the same way leaves (q - z) * 16^p exactly, and x comes scaled by
//   16^-p: an and/or, a subtract and an fma per weight. Nibbles 0..4 sit at
//   p = i of the word, 5..7 at p = i - 3 of the word shifted by 12.
// Operands: x, (gain when NORM), packed W, residual when RES, bias when BIAS.
// SILU: operand 0 is a gate|up row [T, 2K] and x = silu(gate) * up (a folded
// silu_mul).
// A norm's 1/rms is one factor of the whole sum, applied at the end; the
// gain is applied to x. One token per blockIdx.y.
// F16 (the node's act_f16, awqc compile --act f16): the same loads and sums
// in f16x2 arithmetic, about half the instructions per weight (gemv_unit_f16).
// Only the GEMV has it: from CUDA_MMA_MIN_T tokens the tensor-core GEMM runs,
// which rounds x to f16 anyway.
// STAGES (the graph's cuda_gemv_stages, awqc compile --gemv-stages): 1 copies
// a batch of rows and computes it in turn, 2 double-buffers (rows_at).

__device__ __forceinline__ int gemm_order(int i) { return (i & 3) * 2 + (i >> 2); }

// VW consecutive words in one load (the caller keeps them VW-aligned).
template <int VW>
__device__ __forceinline__ void load_words(const u32 *p, u32 *w) {
    if constexpr (VW == 4) {
        uint4 v = __ldg((const uint4 *)p);
        w[0] = v.x, w[1] = v.y, w[2] = v.z, w[3] = v.w;
    } else if constexpr (VW == 2) {
        uint2 v = __ldg((const uint2 *)p);
        w[0] = v.x, w[1] = v.y;
    } else {
        w[0] = __ldg(p);
    }
}

// cp.async of VW words (4, 8 or 16 bytes) from global to shared memory; a
// commit closes the copies issued since the last one into a group, and
// wait_group<N> returns once at most N of the thread's groups are still in
// flight (sm_80 and later). The "memory" clobbers keep the compiler from
// moving shared-memory reads across them.
#ifndef AWQC_EMU
template <int VW>
__device__ __forceinline__ void copy_async(u32 *dst, const u32 *src) {
    u32 d = (u32)__cvta_generic_to_shared(dst);
    if (VW == 4) asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(d), "l"(src) : "memory");
    else if (VW == 2) asm volatile("cp.async.ca.shared.global [%0], [%1], 8;" ::"r"(d), "l"(src) : "memory");
    else asm volatile("cp.async.ca.shared.global [%0], [%1], 4;" ::"r"(d), "l"(src) : "memory");
}

__device__ __forceinline__ void copy_async_commit() { asm volatile("cp.async.commit_group;" ::: "memory"); }

template <int N>
__device__ __forceinline__ void copy_async_wait_group() { asm volatile("cp.async.wait_group %0;" ::"n"(N) : "memory"); }
#endif

// 2^23 + nibble i of w * 16^p (p = i, or i - 3 for i >= 5), as a float.
__device__ __forceinline__ float nibble_f(u32 w, int i) {
    u32 m = i < 5 ? w & (15u << (4 * i)) : (w >> 12) & (15u << (4 * (i - 3)));
    return __int_as_float((int)(0x4b000000u | m));
}

__device__ __forceinline__ int nibble_pos(int i) { return i < 5 ? i : i - 3; }

// Rows of a unit go through shared memory in batches of B, copied
// asynchronously: all of a batch's loads are in flight at once (a compiler
// schedules register loads next to their use). Each thread reads back only
// its own copies: row kk of a slot at kk * 256 * VW words from its first.
// STAGES 1: batches of up to 8 rows, each copied, waited for and computed in
// turn, so a warp's loads and its arithmetic alternate (and, with every
// warp of a launch doing the same, so do the whole GPU's). STAGES 2 (double
// buffering): batches of up to 4 rows in two slots, batch b + 1 in flight
// while batch b is computed. Either way a thread's rows take at most 8 of
// gemv_q4's buffer rows.
__device__ constexpr int unit_batch(int R, int STAGES) {
    return R % 8 == 0 && STAGES == 1 ? 8 : R % 4 == 0 ? 4 : R % 2 == 0 ? 2 : 1;
}

template <int NW, int VW, int B>
__device__ __forceinline__ void issue_rows(u32 *slot, const u32 *qw, int k, int c) {
    for (int kk = 0; kk < B; kk++) copy_async<VW>(slot + kk * 256 * VW, qw + (size_t)(k + kk) * NW + c);
    copy_async_commit();
}

// A unit's rows k0 .. k0+R-1 of the thread's VW words, batch by batch in
// order: start_rows before the first, then rows_at(b) for b = 0, B, 2B, ...
// returns where batch b has landed. With STAGES 2 rows_at issues the copy of
// batch b + 1 into the other slot before it waits for batch b: that slot was
// last read by this thread's loads of batch b - 1, which come before the
// cp.async in program order (the "memory" clobbers keep the compiler from
// moving them past it); no other thread touches the slot.
template <int NW, int VW, int R, int STAGES>
__device__ __forceinline__ void start_rows(const u32 *qw, int c, int k0, u32 *mine) {
    static_assert(STAGES == 1 || STAGES == 2, "one or two stages");
    if constexpr (STAGES == 2) issue_rows<NW, VW, unit_batch(R, STAGES)>(mine, qw, k0, c);
}

template <int NW, int VW, int R, int STAGES>
__device__ __forceinline__ const u32 *rows_at(const u32 *qw, int c, int k0, int b, u32 *mine) {
    constexpr int B = unit_batch(R, STAGES), SLOT = B * 256 * VW;
    if constexpr (STAGES == 1) {
        issue_rows<NW, VW, B>(mine, qw, k0 + b, c);
        copy_async_wait_group<0>();
        return mine;
    } else {
        int i = b / B;
        if (b + B < R) {
            issue_rows<NW, VW, B>(mine + ((i + 1) & 1) * SLOT, qw, k0 + b + B, c);
            copy_async_wait_group<1>();
        } else {
            copy_async_wait_group<0>();
        }
        return mine + (i & 1) * SLOT;
    }
}

// x[k] as the GEMV reads it: silu(gate) * up when SILU, times the gain when NORM.
template <int K, bool NORM, bool SILU>
__device__ __forceinline__ float unit_x(const float *x, const float *g, int k) {
    if (SILU) return silu_f(__ldg(x + k)) * __ldg(x + K + k);
    return NORM ? __ldg(x + k) * __ldg(g + k) : __ldg(x + k);
}

// The 8*VW f16 scales of the thread's rows in group grp, VW words at a time:
// sw[r >> 1] holds rows r and r + 1 of them (half r & 1).
template <int N, int VW>
__device__ __forceinline__ void load_scales(const u16 *sc, int grp, int c, u32 *sw) {
    const u32 *sp = (const u32 *)(sc + (size_t)grp * N + 8 * c);
    for (int q = 0; q < 4; q++) load_words<VW>(sp + q * VW, sw + q * VW);
}

// One unit: rows k0 .. k0+R-1 (one group) of the thread's VW words, scaled
// and added to acc[8 * VW] (word j, nibble i at 8j + i).
template <int N, int K, int G, int VW, int R, int STAGES, bool NORM, bool SILU>
__device__ __forceinline__ void gemv_unit(const float *x, const float *g, const u32 *qw, const u32 *qz,
                                          const u16 *sc, int c, int k0, u32 *buf, float *acc) {
    constexpr int NW = N / 8, B = unit_batch(R, STAGES);
    int grp = k0 / G;
    u32 z[VW], sw[4 * VW];
    float zf[8 * VW], part[8 * VW];
    load_words<VW>(qz + (size_t)grp * NW + c, z);
    for (int j = 0; j < VW; j++)
        for (int i = 0; i < 8; i++) zf[8 * j + i] = nibble_f(z[j], i), part[8 * j + i] = 0.0f;
    u32 *mine = buf + flat_tid() * VW;
    start_rows<NW, VW, R, STAGES>(qw, c, k0, mine);
    for (int b = 0; b < R; b += B) {
        const u32 *slot = rows_at<NW, VW, R, STAGES>(qw, c, k0, b, mine);
#pragma unroll
        for (int kk = 0; kk < B; kk++) {
            int k = k0 + b + kk;
            float xs[5];
            xs[0] = unit_x<K, NORM, SILU>(x, g, k);
            for (int p = 1; p < 5; p++) xs[p] = xs[p - 1] * 0.0625f; // exact: a power of two
            u32 w[VW];
            for (int j = 0; j < VW; j++) w[j] = slot[kk * 256 * VW + j];
            for (int j = 0; j < VW; j++)
                for (int i = 0; i < 8; i++)
                    part[8 * j + i] = fmaf(nibble_f(w[j], i) - zf[8 * j + i], xs[nibble_pos(i)], part[8 * j + i]);
        }
    }
    load_scales<N, VW>(sc, grp, c, sw);
    for (int j = 0; j < VW; j++)
        for (int i = 0; i < 8; i++) {
            int r = 8 * j + gemm_order(i);
            acc[8 * j + i] = fmaf(h2f((u16)(sw[r >> 1] >> (16 * (r & 1)))), part[8 * j + i], acc[8 * j + i]);
        }
}

// f16x2 arithmetic (sm_53 and later; cvt to f16x2 sm_80): d = a * b + c per
// half, rounded once; v rounded to f16 in both halves.
#ifndef AWQC_EMU
__device__ __forceinline__ u32 h2_fma(u32 a, u32 b, u32 c) {
    u32 d;
    asm("fma.rn.f16x2 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(c));
    return d;
}

__device__ __forceinline__ u32 h2_splat(float v) {
    u32 d;
    asm("cvt.rn.f16x2.f32 %0, %1, %1;" : "=r"(d) : "f"(v));
    return d;
}
#endif

// Nibbles q and q + 4 of a word (rows 2q and 2q + 1 in awq-gemm's order) in
// place for the two halves of an f16x2: the masks take bits 0..3 and 16..19
// (even q) or 4..7 and 20..23 (odd q: the values times 16) of the word, or of
// the word shifted right by 8 for q >= 2.
__device__ __forceinline__ u32 nibble_pair(u32 w, int q) {
    return (q < 2 ? w : w >> 8) & (q & 1 ? 0x00f000f0u : 0x000f000fu);
}

// gemv_unit in f16x2 (F16): or-ed into the halves of 1024 (0x6400), a pair
// reads 1024 + q (even pair) or 1024 + 16q (odd pair); one fma with 1 or
// 1/16 and the zero made alike (negated: -(1024 + z), or -(64 + z) from
// 0xd400) leaves q - z exactly, and a second fma adds (q - z) * x to an f16
// sum per row pair: one and/or and two f16x2 fmas per two weights. x is
// rounded to f16 times 2^-8 (the caller multiplies acc by 256 at the end), so
// F rows (at most 16) of |q - z| <= 15 stay below 65504 while |x| < 69000,
// beyond f16's own range (for NORM x is the row times the gain, before 1/rms);
// every F rows the f16 sums, times the scales, go into the f32 acc.
// Rows an f16 sum covers: the largest power of two up to 16 dividing R, so a
// multiple of either stage count's batch, and the same sums with both.
__device__ constexpr int f16_rows(int R) { return R % 16 == 0 ? 16 : R % 8 == 0 ? 8 : R % 4 == 0 ? 4 : R % 2 == 0 ? 2 : 1; }

template <int N, int K, int G, int VW, int R, int STAGES, bool NORM, bool SILU>
__device__ __forceinline__ void gemv_unit_f16(const float *x, const float *g, const u32 *qw, const u32 *qz,
                                              const u16 *sc, int c, int k0, u32 *buf, float *acc) {
    constexpr int NW = N / 8, B = unit_batch(R, STAGES), F = f16_rows(R);
    constexpr u32 MAGIC = 0x64006400u, ONE = 0x3c003c00u, SIXTEENTH = 0x2c002c00u;
    int grp = k0 / G;
    u32 z[VW], nz[4 * VW], hs[4 * VW];
    load_words<VW>(qz + (size_t)grp * NW + c, z);
    for (int j = 0; j < VW; j++)
        for (int q = 0; q < 4; q++) nz[4 * j + q] = nibble_pair(z[j], q) | (q & 1 ? 0xd400d400u : 0xe400e400u);
    u32 *mine = buf + flat_tid() * VW;
    start_rows<NW, VW, R, STAGES>(qw, c, k0, mine);
    for (int f = 0; f < R; f += F) {
        for (int e = 0; e < 4 * VW; e++) hs[e] = 0; // +0, +0
        for (int b = f; b < f + F; b += B) {
            const u32 *slot = rows_at<NW, VW, R, STAGES>(qw, c, k0, b, mine);
#pragma unroll
            for (int kk = 0; kk < B; kk++) {
                u32 xh = h2_splat(unit_x<K, NORM, SILU>(x, g, k0 + b + kk) * 0.00390625f);
                for (int j = 0; j < VW; j++) {
                    u32 w = slot[kk * 256 * VW + j];
                    for (int q = 0; q < 4; q++) {
                        u32 d = h2_fma(nibble_pair(w, q) | MAGIC, q & 1 ? SIXTEENTH : ONE, nz[4 * j + q]);
                        hs[4 * j + q] = h2_fma(d, xh, hs[4 * j + q]);
                    }
                }
            }
        }
        u32 sw[4 * VW]; // loaded here, not live through the rows: rows 2q, 2q + 1 at sw[4j + q]
        load_scales<N, VW>(sc, grp, c, sw);
        for (int j = 0; j < VW; j++)
            for (int q = 0; q < 4; q++) {
                u32 s = sw[4 * j + q], h = hs[4 * j + q];
                acc[8 * j + q] = fmaf(h2f((u16)s), h2f((u16)h), acc[8 * j + q]);
                acc[8 * j + q + 4] = fmaf(h2f((u16)(s >> 16)), h2f((u16)(h >> 16)), acc[8 * j + q + 4]);
            }
    }
}

template <int N, int K, int G, int VW, int R, int S, bool NORM, bool RES, bool BIAS, bool SILU, bool F16, int STAGES>
__device__ void gemv_q4(const KArgs &a) {
    constexpr int NW = N / 8, NG = K / G, TX = 32 / VW, TY = 8 * VW, CB = (NW + 31) / 32;
    constexpr int UNITS = K / R, UPT = (UNITS + S * TY - 1) / (S * TY); // units per thread
    constexpr int BUF = 8 * 256 * VW, RED = 256 * (8 * VW + 1);
    // gemv_unit's rows (16-byte cp.async destinations), then the threads' sums
    __shared__ __align__(16) u32 smem[BUF > RED ? BUF : RED];
    __shared__ double nred[32];
    int t = blockIdx.y, cb = blockIdx.x % CB, s = blockIdx.x / CB, wi = NORM ? 2 : 1, tid = flat_tid();
    const float *x = (const float *)a.in[0] + (size_t)t * (SILU ? 2 * K : K);
    const float *g = NORM ? (const float *)a.in[1] : 0;
    const u32 *qw = (const u32 *)a.in[wi];
    const u32 *qz = qw + (size_t)K * NW;
    const u16 *sc = (const u16 *)(qz + (size_t)NG * NW);
    int c = cb * 32 + threadIdx.x * VW; // the thread's first word
    float acc[8 * VW];
    for (int e = 0; e < 8 * VW; e++) acc[e] = 0.0f;
    for (int j = 0; j < UPT; j++) {
        int u = (j * S + s) * TY + threadIdx.y;
        if (c >= NW || u >= UNITS) continue;
        if (F16) gemv_unit_f16<N, K, G, VW, R, STAGES, NORM, SILU>(x, g, qw, qz, sc, c, u * R, smem, acc);
        else gemv_unit<N, K, G, VW, R, STAGES, NORM, SILU>(x, g, qw, qz, sc, c, u * R, smem, acc);
    }
    if (F16)
        for (int e = 0; e < 8 * VW; e++) acc[e] *= 256.0f; // x was read times 2^-8 (exact)
    // The TY threads of a column add up in order. Sums are stored [y][x][e],
    // a row of 8*VW + 1 floats per thread so a warp's stores and loads fall
    // in different banks.
    __syncthreads(); // every thread is done with its rows in smem
    float *red = (float *)smem;
    for (int e = 0; e < 8 * VW; e++) red[(threadIdx.y * TX + threadIdx.x) * (8 * VW + 1) + e] = acc[e];
    __syncthreads();
    float v = 0.0f;
    for (int y = 0; y < TY; y++) v += red[(y * TX + tid / (8 * VW)) * (8 * VW + 1) + tid % (8 * VW)];
    if (S > 1) { // partials [T][S][CB][256]; the last block of the S finishes
        a.part[(((size_t)t * S + s) * CB + cb) * 256 + tid] = v;
        if (!last_to_arrive(a.done + t * CB + cb, S)) return;
        v = 0.0f;
        for (int q = 0; q < S; q++) v += __ldcg(a.part + (((size_t)t * S + q) * CB + cb) * 256 + tid);
    }
    if (NORM) v *= rms_inv<K>(x, a.eps, nred);
    int word = cb * 32 + (tid >> 3), row = 8 * word + gemm_order(tid & 7);
    if (word >= NW) return;
    if (BIAS) v += ((const float *)a.in[RES ? wi + 2 : wi + 1])[row];
    a.out[(size_t)t * N + row] = RES ? ((const float *)a.in[wi + 1])[(size_t)t * N + row] + v : v;
}

// An f32 weight [N, K] the runtime uploads as f16 (the head: half the bytes
// read per token): one warp per output row, 8 per block. x (normalised when
// NORM) is staged in shared memory once per block when it fits (K <= 8192)
// and K is a multiple of 8; lanes then take 8 columns per 16-byte load (rows
// stay 16-byte aligned), else one. (Reading x from global memory for every
// weight load, with lanes 32 bytes apart, made the L1 the bottleneck: about
// 30% of the DRAM bandwidth on an H100. A warp taking 2, 4 or 8 rows per x
// read was no faster: docs/cuda.md.)

// acc + x[k..k+7] . the row's 8 f16 at k.
__device__ __forceinline__ float h16_dot8(const float *xs, const u16 *w, int k, float acc) {
    float4 xa = *(const float4 *)(xs + k), xb = *(const float4 *)(xs + k + 4);
    float xv[8] = {xa.x, xa.y, xa.z, xa.w, xb.x, xb.y, xb.z, xb.w};
    uint4 p = __ldg((const uint4 *)(w + k));
    u32 h[4] = {p.x, p.y, p.z, p.w};
    for (int j = 0; j < 4; j++) {
        acc = fmaf(xv[2 * j], h2f((u16)(h[j] & 0xffffu)), acc);
        acc = fmaf(xv[2 * j + 1], h2f((u16)(h[j] >> 16)), acc);
    }
    return acc;
}

template <int N, int K, bool NORM, bool RES, bool BIAS>
__device__ void gemv_h16(const KArgs &a) {
    constexpr bool STAGED = K <= 8192 && K % 8 == 0;
    __shared__ __align__(16) float staged[STAGED ? K : 4];
    __shared__ double red[32];
    int t = blockIdx.y, wi = NORM ? 2 : 1, lane = threadIdx.x & 31;
    int n = blockIdx.x * (blockDim.x / 32) + (threadIdx.x >> 5);
    const float *x = (const float *)a.in[0] + (size_t)t * K;
    const float *g = NORM ? (const float *)a.in[1] : 0;
    float inv = NORM ? rms_inv<K>(x, a.eps, red) : 1.0f;
    if (STAGED) {
        for (int k = threadIdx.x; k < K; k += blockDim.x) staged[k] = norm_x(x, g, inv, k);
        __syncthreads();
    }
    if (n >= N) return;
    const u16 *w = (const u16 *)a.in[wi] + (size_t)n * K;
    float acc = 0.0f;
    if (STAGED) {
#pragma unroll 2
        for (int k = 8 * lane; k < K; k += 256) acc = h16_dot8(staged, w, k, acc);
    } else {
        for (int k = lane; k < K; k += 32) acc = fmaf(norm_x(x, g, inv, k), h2f(__ldg(w + k)), acc);
    }
    acc = warp_sum(acc);
    if (lane != 0) return;
    if (BIAS) acc += ((const float *)a.in[RES ? wi + 2 : wi + 1])[n];
    a.out[(size_t)t * N + n] = RES ? ((const float *)a.in[wi + 1])[(size_t)t * N + n] + acc : acc;
}

// ----------------------------------------------------------------------------
// prefill GEMM on tensor cores: Y[T, N] = X[T, K] W^T with W dequantised to
// f16 tiles in shared memory and X rounded to f16 (f32 accumulation), one
// mma.sync m16n8k16 per warp step. A block computes 64 tokens x 64 rows with
// 4 warps (each 16 tokens x 64 rows). X comes from scratch when NORM (the
// rms_norm kernel ran first), else from operand 0.

#ifndef AWQC_EMU
__device__ __forceinline__ u32 pack_h2(float lo, float hi) {
    u16 l, h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(l) : "f"(lo));
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(hi));
    return (u32)l | ((u32)h << 16);
}

__device__ __forceinline__ void mma_16816(float *d, const u32 *a, const u32 *b) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%0,%1,%2,%3};"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
#endif

template <int N, int K, int G, bool NORM, bool RES, bool BIAS>
__device__ void gemm_q4_mma(const KArgs &a) {
    constexpr int NW = N / 8, NG = K / G, BT = 64, BN = 64, BK = 16;
    __shared__ u32 xs[BT][BK / 2 + 4]; // f16 pairs, padded against bank conflicts
    __shared__ u32 ws[BN][BK / 2 + 4];
    int wi = NORM ? 2 : 1, warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int t0 = blockIdx.y * BT, n0 = blockIdx.x * BN;
    const float *x = NORM ? a.scratch : (const float *)a.in[0];
    const u32 *qw = (const u32 *)a.in[wi];
    const u32 *qz = qw + (size_t)K * NW;
    const u16 *sc = (const u16 *)(qz + (size_t)NG * NW);
    float acc[8][4];
    for (int j = 0; j < 8; j++) acc[j][0] = acc[j][1] = acc[j][2] = acc[j][3] = 0.0f;
    for (int k0 = 0; k0 < K; k0 += BK) {
        // 128 threads stage X[64 x 16] and W[64 x 16] (as f16 pairs).
        for (int e = threadIdx.x; e < BT * BK / 2; e += blockDim.x) {
            int r = e / (BK / 2), p = e % (BK / 2), t = t0 + r, k = k0 + 2 * p;
            float v0 = t < a.T ? x[(size_t)t * K + k] : 0.0f, v1 = t < a.T ? x[(size_t)t * K + k + 1] : 0.0f;
            xs[r][p] = pack_h2(v0, v1);
        }
        for (int e = threadIdx.x; e < BN * BK / 2; e += blockDim.x) {
            int r = e / (BK / 2), p = e % (BK / 2), n = n0 + r, k = k0 + 2 * p;
            float w2[2] = {0.0f, 0.0f};
            for (int h = 0; n < N && h < 2; h++) {
                int kk = k + h, c = n / 8, i = (n % 8) / 2 + ((n % 8) & 1) * 4, grp = kk / G;
                float q = (float)((__ldg(qw + (size_t)kk * NW + c) >> (4 * i)) & 15u);
                float z = (float)((__ldg(qz + (size_t)grp * NW + c) >> (4 * i)) & 15u);
                w2[h] = (q - z) * h2f(sc[(size_t)grp * N + n]);
            }
            ws[r][p] = pack_h2(w2[0], w2[1]);
        }
        __syncthreads();
        int g4 = lane >> 2, q4 = lane & 3, tr = warp * 16;
        u32 af[4] = {xs[tr + g4][q4], xs[tr + g4 + 8][q4], xs[tr + g4][q4 + 4], xs[tr + g4 + 8][q4 + 4]};
        for (int j = 0; j < 8; j++) {
            u32 bf[2] = {ws[j * 8 + g4][q4], ws[j * 8 + g4][q4 + 4]};
            mma_16816(acc[j], af, bf);
        }
        __syncthreads();
    }
    const float *res = RES ? (const float *)a.in[wi + 1] : 0;
    const float *bias = BIAS ? (const float *)a.in[RES ? wi + 2 : wi + 1] : 0;
    int g4 = lane >> 2, q4 = lane & 3;
    for (int j = 0; j < 8; j++)
        for (int h = 0; h < 4; h++) {
            int t = t0 + warp * 16 + g4 + (h >> 1) * 8, n = n0 + j * 8 + q4 * 2 + (h & 1);
            if (t >= a.T || n >= N) continue;
            float v = acc[j][h] + (BIAS ? bias[n] : 0.0f);
            a.out[(size_t)t * N + n] = RES ? res[(size_t)t * N + n] + v : v;
        }
}

// ----------------------------------------------------------------------------
// rotary, KV cache, attention

// Rotates the pair (a, b) of one head by position pos, as the reference does
// (frequencies in f32: 1 / theta^(2i / HD)).
template <int HD, bool HALVES>
__device__ __forceinline__ void rotate_pair(float *dst, const float *src, int i, int pos, float theta) {
    float inv_freq = 1.0f / powf(theta, (float)(2 * i) / (float)HD);
    float ang = (float)pos * inv_freq, c = cosf(ang), s = sinf(ang);
    int ia = HALVES ? i : 2 * i, ib = HALVES ? i + HD / 2 : 2 * i + 1;
    float x0 = src[ia], x1 = src[ib];
    dst[ia] = x0 * c - x1 * s;
    dst[ib] = x0 * s + x1 * c;
}

// Pair e of a head's rows (e < HD/2; pairs as HALVES says) into dst:
// rotated by position pos when ROT, else copied.
template <int HD, bool ROT, bool HALVES>
__device__ __forceinline__ void place_pair(float *dst, const float *src, int e, int pos, float theta) {
    if (ROT) rotate_pair<HD, HALVES>(dst, src, e, pos, theta);
    else dst[2 * e] = src[2 * e], dst[2 * e + 1] = src[2 * e + 1];
}

// Standalone rope: in x [T, H*HD] -> out.
template <int H, int HD, bool HALVES>
__device__ void rope(const KArgs &a) {
    int t = blockIdx.y, pos = *a.pos + t;
    const float *x = (const float *)a.in[0] + (size_t)t * H * HD;
    float *y = a.out + (size_t)t * H * HD;
    for (int e = threadIdx.x; e < H * HD / 2; e += blockDim.x)
        rotate_pair<HD, HALVES>(y + (e / (HD / 2)) * HD, x + (e / (HD / 2)) * HD, e % (HD / 2), pos, a.theta);
}

// Stores token t's K and V rows at cache row pos + t and its (rotated) query
// in scratch. MERGED: operand 0 holds q|k|v side by side; else q, k, v are
// operands 0..2. ROT: rotate q and k (rope_attention), else copy (attention).
template <int H, int KVH, int HD, bool MERGED, bool ROT, bool HALVES>
__device__ void qkv_store(const KArgs &a) {
    constexpr int QD = H * HD, KVD = KVH * HD;
    int t = blockIdx.y, pos = *a.pos + t;
    const float *q, *k, *v;
    if (MERGED) {
        q = (const float *)a.in[0] + (size_t)t * (QD + 2 * KVD);
        k = q + QD, v = q + QD + KVD;
    } else {
        q = (const float *)a.in[0] + (size_t)t * QD;
        k = (const float *)a.in[1] + (size_t)t * KVD, v = (const float *)a.in[2] + (size_t)t * KVD;
    }
    float *qo = a.scratch + (size_t)t * QD, *ko = a.kc + (size_t)pos * KVD, *vo = a.vc + (size_t)pos * KVD;
    for (int e = threadIdx.x; e < QD / 2; e += blockDim.x)
        place_pair<HD, ROT, HALVES>(qo + (e / (HD / 2)) * HD, q + (e / (HD / 2)) * HD, e % (HD / 2), pos, a.theta);
    for (int e = threadIdx.x; e < KVD / 2; e += blockDim.x)
        place_pair<HD, ROT, HALVES>(ko + (e / (HD / 2)) * HD, k + (e / (HD / 2)) * HD, e % (HD / 2), pos, a.theta);
    for (int e = threadIdx.x; e < KVD; e += blockDim.x) vo[e] = v[e];
}

// Scores sc[0..n) (their max mx) become probabilities as the reference
// computes them: exp(s - mx) in f32, the sum in f64, each divided in f64 and
// rounded once. Every thread sees them on return.
__device__ inline void softmax_scores(float *sc, int n, float mx, double *red) {
    double sum = 0;
    for (int j = threadIdx.x; j < n; j += blockDim.x) sum += sc[j] = expf(sc[j] - mx);
    sum = block_sum_d(sum, red);
    for (int j = threadIdx.x; j < n; j += blockDim.x) sc[j] = (float)(sc[j] / sum);
    __syncthreads();
}

// The probabilities sc[0..n) of query qs against key rows key_row(0..n-1):
// a warp per key, scaled dot products, then softmax_scores.
template <int HD, class KeyRow>
__device__ void attention_probs(const float *qs, KeyRow key_row, int n, float *sc, float *redf, double *redd) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    float scale = 1.0f / sqrtf((float)HD), mx = -INFINITY;
    for (int j = warp; j < n; j += warps) {
        const float *kr = key_row(j);
        float s = 0.0f;
        for (int d = lane; d < HD; d += 32) s += qs[d] * kr[d];
        s = warp_sum(s) * scale;
        if (lane == 0) sc[j] = s;
        mx = fmaxf(mx, s);
    }
    softmax_scores(sc, n, block_max_f(mx, redf), redd);
}

// Causal attention of query (t, head blockIdx.x) from scratch over cache rows
// 0..pos+t. Scores live in dynamic shared memory (HD + n_ctx floats), so
// decode and prefill share one kernel: a block per (head, token).
template <int H, int KVH, int HD>
__device__ void attention(const KArgs &a) {
    constexpr int QD = H * HD, KVD = KVH * HD;
    DYNAMIC_SHARED(float, smem);
    __shared__ double redd[32];
    __shared__ float redf[32];
    float *qs = smem, *sc = smem + HD;
    int h = blockIdx.x, t = blockIdx.y, n = *a.pos + t + 1, kvh = h / (H / KVH);
    for (int d = threadIdx.x; d < HD; d += blockDim.x) qs[d] = a.scratch[(size_t)t * QD + h * HD + d];
    __syncthreads();
    attention_probs<HD>(qs, [&](int j) { return a.kc + (size_t)j * KVD + kvh * HD; }, n, sc, redf, redd);
    for (int d = threadIdx.x; d < HD; d += blockDim.x) {
        float o = 0.0f;
        for (int j = 0; j < n; j++) o += sc[j] * a.vc[(size_t)j * KVD + kvh * HD + d];
        a.out[(size_t)t * QD + h * HD + d] = o;
    }
}

// Scores of query qs against cache rows j0..j1-1 into sc[j] (row pos, the
// new key, from ks in shared memory); returns the thread's max of them. A
// warp per row, U rows of a warp at once. Every load is unconditional, so
// all U of them are in flight together: rows past the chunk load row j and
// lanes past HD load column 0 (q is 0 there), and row pos loads the cache
// too, whose value (another block may be writing it) is replaced by ks.
template <int HD, int U>
__device__ float chunk_scores(const float *qs, const float *ks, const float *kc, int stride, int j0, int j1, int pos,
                              float *sc) {
    constexpr int PER = (HD + 31) / 32;
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    float scale = 1.0f / sqrtf((float)HD), mx = -INFINITY, q[PER], kn[PER];
    int col[PER];
#pragma unroll
    for (int i = 0; i < PER; i++) {
        bool inside = lane + 32 * i < HD;
        col[i] = inside ? lane + 32 * i : 0;
        q[i] = inside ? qs[col[i]] : 0.0f, kn[i] = ks[col[i]];
    }
    for (int j = j0 + warp * U; j < j1; j += warps * U) {
        float k[U][PER], s[U];
#pragma unroll
        for (int u = 0; u < U; u++) {
            int r = j + u < j1 ? j + u : j;
#pragma unroll
            for (int i = 0; i < PER; i++) k[u][i] = __ldg(kc + (size_t)r * stride + col[i]);
        }
#pragma unroll
        for (int u = 0; u < U; u++) {
            s[u] = 0.0f;
#pragma unroll
            for (int i = 0; i < PER; i++) s[u] += q[i] * (j + u == pos ? kn[i] : k[u][i]);
        }
#pragma unroll
        for (int u = 0; u < U; u++) {
            float v = warp_sum(s[u]) * scale;
            if (j + u < j1) {
                if (lane == 0) sc[j + u] = v;
                mx = fmaxf(mx, v);
            }
        }
    }
    return mx;
}

// The decode step's attention (T = 1) with qkv_store folded in, split over
// the context: block (h, s) of H x S takes head h's cache rows in chunk s
// (ceil(n / S) rows; the last chunks are empty at short contexts), so a
// head's rows are read by S blocks at once instead of one. Each block
// rotates its own query; the block whose chunk holds row pos also rotates
// the new key and takes that row from shared memory (no block waits for
// another's write), and, for the first head of a KV head, stores the new K
// and V rows for the next steps. A block leaves its chunk's max score m,
// sum of exp(score - m) l and exp-weighted sum of V rows o in a.part
// [H][S][HD + 2]; the last of a head's S blocks to arrive (an atomic count
// it resets) rescales and adds them in chunk order, so runs repeat exactly.
// Dynamic shared memory: the V sums (256 floats), q, k, v, the scores.
template <int H, int KVH, int HD, int S, bool MERGED, bool ROT, bool HALVES>
__device__ void attention_step(const KArgs &a) {
    constexpr int QD = H * HD, KVD = KVH * HD, GROUP = H / KVH, PAIRS = HD / 2, RG = 128 / PAIRS;
    static_assert(HD % 2 == 0 && HD <= 256, "head_dim must be even and at most 256");
    static_assert(S <= 32, "the chunks' weights live in a 32-float array");
    DYNAMIC_SHARED(float, smem);
    __shared__ double redd[32];
    __shared__ float redf[32];
    float2 *osum = (float2 *)smem; // [RG][PAIRS]: RG rows of V at once, float2 columns
    float *qs = smem + 256, *ks = qs + HD, *vs = qs + 2 * HD, *sc = qs + 3 * HD;
    int tid = threadIdx.x, h = blockIdx.x % H, s = blockIdx.x / H, pos = *a.pos, n = pos + 1, kvh = h / GROUP;
    int chunk = (n + S - 1) / S, j0 = s * chunk < n ? s * chunk : n, j1 = j0 + chunk < n ? j0 + chunk : n;
    bool has_new = j0 <= pos && pos < j1;
    const float *q, *k, *v;
    if (MERGED) {
        q = (const float *)a.in[0];
        k = q + QD, v = q + QD + KVD;
    } else {
        q = (const float *)a.in[0], k = (const float *)a.in[1], v = (const float *)a.in[2];
    }
    q += h * HD, k += kvh * HD, v += kvh * HD;
    for (int e = tid; e < PAIRS; e += blockDim.x) {
        place_pair<HD, ROT, HALVES>(qs, q, e, pos, a.theta);
        if (has_new) place_pair<HD, ROT, HALVES>(ks, k, e, pos, a.theta);
    }
    if (has_new)
        for (int d = tid; d < HD; d += blockDim.x) vs[d] = v[d];
    __syncthreads();
    if (has_new && h % GROUP == 0)
        for (int d = tid; d < HD; d += blockDim.x)
            a.kc[(size_t)pos * KVD + kvh * HD + d] = ks[d], a.vc[(size_t)pos * KVD + kvh * HD + d] = vs[d];
    float m = block_max_f(chunk_scores<HD, 4>(qs, ks, a.kc + kvh * HD, KVD, j0, j1, pos, sc), redf);
    double l = 0;
    for (int j = j0 + tid; j < j1; j += blockDim.x) l += sc[j] = expf(sc[j] - m);
    l = block_sum_d(l, redd); // its barriers also publish sc
    int rg = tid / PAIRS, c = tid % PAIRS;
    if (rg < RG) {
        float2 o = make_float2(0.0f, 0.0f), vn = ((const float2 *)vs)[c];
        const float2 *vrow = (const float2 *)(a.vc + kvh * HD) + c;
#pragma unroll 8
        for (int j = j0 + rg; j < j1; j += RG) {
            float2 x = __ldg(vrow + (size_t)j * (KVD / 2)); // row pos: as in chunk_scores
            if (j == pos) x = vn;
            o.x = fmaf(sc[j], x.x, o.x), o.y = fmaf(sc[j], x.y, o.y);
        }
        osum[rg * PAIRS + c] = o;
    }
    __syncthreads();
    float *part = a.part + (size_t)h * S * (HD + 2), *mine = part + (size_t)s * (HD + 2);
    for (int e = tid; e < PAIRS; e += blockDim.x) {
        float2 o = osum[e];
        for (int r = 1; r < RG; r++) o.x += osum[r * PAIRS + e].x, o.y += osum[r * PAIRS + e].y;
        mine[2 * e] = o.x, mine[2 * e + 1] = o.y;
    }
    if (tid == 0) mine[HD] = m, mine[HD + 1] = (float)l;
    if (!last_to_arrive(a.done + h, S)) return;
    // chunk r's weight exp(m_r - top), computed once into redf (free again)
    float top = -INFINITY;
    for (int r = 0; r < S; r++) top = fmaxf(top, __ldcg(part + (size_t)r * (HD + 2) + HD));
    if (tid < S) redf[tid] = expf(__ldcg(part + (size_t)tid * (HD + 2) + HD) - top);
    __syncthreads();
    double total = 0;
    for (int r = 0; r < S; r++) total += (double)redf[r] * __ldcg(part + (size_t)r * (HD + 2) + HD + 1);
    for (int d = tid; d < HD; d += blockDim.x) {
        float o = 0.0f;
        for (int r = 0; r < S; r++) o = fmaf(redf[r], __ldcg(part + (size_t)r * (HD + 2) + d), o);
        a.out[h * HD + d] = (float)(o / total);
    }
}

// ----------------------------------------------------------------------------
// elementwise: a block of 256 per 256 features of a row, blockIdx.y = token

// SPLIT: operand 0 is [T, 2W] gate|up; else gate and up are operands 0 and 1.
template <int W, bool SPLIT>
__device__ void silu_mul(const KArgs &a) {
    int t = blockIdx.y, i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= W) return;
    const float *gate = (const float *)a.in[0] + (size_t)t * (SPLIT ? 2 * W : W);
    const float *up = SPLIT ? gate + W : (const float *)a.in[1] + (size_t)t * W;
    a.out[(size_t)t * W + i] = silu_f(gate[i]) * up[i];
}

// OP: 0 silu, 1 relu, 2 gelu (tanh), 3 add, 4 mul, 5 awq_scale (x / s[i]).
template <int W, int OP>
__device__ void pointwise(const KArgs &a) {
    int t = blockIdx.y, i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= W) return;
    size_t at = (size_t)t * W + i;
    float v = ((const float *)a.in[0])[at], r;
    if (OP == 0) r = silu_f(v);
    else if (OP == 1) r = v > 0 ? v : 0;
    else if (OP == 2) r = 0.5f * v * (1.0f + tanhf(0.7978845608f * (v + 0.044715f * v * v * v)));
    else if (OP == 3) r = v + ((const float *)a.in[1])[at];
    else if (OP == 4) r = v * ((const float *)a.in[1])[at];
    else r = v / ((const float *)a.in[1])[i];
    a.out[at] = r;
}

// out[t, :] = x[t, OFF : OFF + W] of x [T, NIN].
template <int NIN, int OFF, int W>
__device__ void slice(const KArgs &a) {
    int t = blockIdx.y, i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < W) a.out[(size_t)t * W + i] = ((const float *)a.in[0])[(size_t)t * NIN + OFF + i];
}

template <int D>
__device__ void softmax(const KArgs &a) {
    __shared__ double redd[32];
    __shared__ float redf[32];
    int t = blockIdx.y;
    const float *x = (const float *)a.in[0] + (size_t)t * D;
    float *y = a.out + (size_t)t * D, mx = -INFINITY;
    for (int i = threadIdx.x; i < D; i += blockDim.x) mx = fmaxf(mx, x[i]);
    mx = block_max_f(mx, redf);
    double s = 0;
    for (int i = threadIdx.x; i < D; i += blockDim.x) s += y[i] = expf(x[i] - mx);
    s = block_sum_d(s, redd);
    for (int i = threadIdx.x; i < D; i += blockDim.x) y[i] = (float)(y[i] / s);
}

// ----------------------------------------------------------------------------
// sampling on the device: greedy pick of the last row of logits [T, V]
// (ties to the lower id, as the host sampler does).

template <int V>
__device__ void argmax_last(const KArgs &a) {
    __shared__ float bv[1024];
    __shared__ int bi[1024];
    const float *x = (const float *)a.in[0] + (size_t)(a.T - 1) * V;
    float best = -INFINITY;
    int arg = 0;
    for (int i = threadIdx.x; i < V; i += blockDim.x)
        if (x[i] > best) best = x[i], arg = i;
    bv[threadIdx.x] = best, bi[threadIdx.x] = arg;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) {
            float o = bv[threadIdx.x + s];
            int oi = bi[threadIdx.x + s];
            if (o > bv[threadIdx.x] || (o == bv[threadIdx.x] && oi < bi[threadIdx.x])) bv[threadIdx.x] = o, bi[threadIdx.x] = oi;
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) *a.out_i = bi[0];
}
