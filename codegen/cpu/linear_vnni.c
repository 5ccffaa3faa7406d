// linear_vnni.c: the linear family on vnni-i4 and vnni-i8 weights
// (ir/layout.h) with 8-bit activations (the node's act_q8,
// passes/quantize_acts.c). Each token row is first rounded to int8 per group
// into this thread's scratch; then 16 weight rows per vector meet it with
// AVX-512 VNNI: one vpdpbusd multiplies 64 codes (4 of each of 16 rows) by 4
// activation bytes broadcast to the 16 rows and adds the products into 16 i32
// lanes, so a decode step costs about 6 instructions per 64 bytes of 4-bit
// weights (3 of 8-bit ones) instead of the ~20 of converting codes to floats.
// Per group the exact integer sum(q * xq) - z * sum(xq) becomes a float once,
// times scale * d: the same arithmetic the interpreter does on x' = d * xq.
#include "codegen/cpu/abi.h"
#include "codegen/cpu/linear.h"
#include "ir/layout.h"

#define TILE 16        // weight rows per vector: one i32 lane each
#define DECODE_RT 4    // row tiles per step with one token: 4 independent vpdpbusd chains
#define PREFILL_RT 2   // row tiles x tokens per step of a prefill: 2 x 4 accumulators
#define PREFILL_M 4
#define MAX_ACC (DECODE_RT * PREFILL_M)
#define ROW_BLOCK_BYTES (192 * 1024) // codes a prefill row block keeps in L2 while the tokens pass

// ----------------------------------------------------------------------------
// rounding the activations: x[t] -> xq (i8), d and sum(xq) per group

typedef struct {
    LLVMValueRef xq;  // i8*: [T, K]
    LLVMValueRef d;   // f32*: [T, K / group], the step of each group
    LLVMValueRef sq;  // f32*: [T, K / group], sum of the group's xq
} Act8;

static Act8 act8_in_scratch(Ll *l, const LinearShape *s, const LinearArgs *a, LLVMValueRef scratch) {
    int64_t groups = s->K / s->group;
    LLVMValueRef tk = ll_mul(l, a->T, ll_i64(l, s->K)); // the normalised rows come first
    LLVMValueRef base = ll_at(l, l->f32, scratch, tk);
    Act8 q = {.xq = ll_cast_ptr(l, base, l->i8)};
    q.d = ll_at(l, l->f32, base, LLVMBuildSDiv(l->b, tk, ll_i64(l, 4), ""));
    q.sq = ll_at(l, l->f32, q.d, ll_mul(l, a->T, ll_i64(l, groups)));
    return q;
}

// max |x| over the group at x[at..at+group)
static LLVMValueRef group_amax(Ll *l, const LinearShape *s, LLVMValueRef x, LLVMValueRef at) {
    LLVMValueRef m = NULL;
    for (int64_t i = 0; i < s->group; i += 16) {
        LLVMValueRef v = ll_unary_intrinsic(l, "llvm.fabs", ll_vload(l, l->f32, 16, x, ll_add(l, at, ll_i64(l, i))));
        m = m ? ll_binary_intrinsic(l, "llvm.maxnum", m, v) : v;
    }
    return ll_reduce_fmax(l, m);
}

// One group of one token row: xq = rint(x * id), d = amax / 127, the sum of xq.
static void round_group(Ll *l, const LinearShape *s, const Act8 *q, LLVMValueRef x, LLVMValueRef t, LLVMValueRef g) {
    LLVMValueRef at = ll_add(l, ll_mul(l, t, ll_i64(l, s->K)), ll_mul(l, g, ll_i64(l, s->group)));
    LLVMValueRef amax = group_amax(l, s, x, at);
    LLVMValueRef positive = LLVMBuildFCmp(l->b, LLVMRealOGT, amax, ll_f32(l, 0), "");
    LLVMValueRef id = LLVMBuildSelect(l->b, positive, LLVMBuildFDiv(l->b, ll_f32(l, 127), amax, ""), ll_f32(l, 0), "");
    LLVMTypeRef vi = LLVMVectorType(l->i32, 16);
    LLVMValueRef sum = LLVMConstNull(vi);
    for (int64_t i = 0; i < s->group; i += 16) {
        LLVMValueRef k = ll_add(l, at, ll_i64(l, i));
        LLVMValueRef v = LLVMBuildFMul(l->b, ll_vload(l, l->f32, 16, x, k), ll_splat(l, id, 16), "");
        LLVMValueRef qi = LLVMBuildFPToSI(l->b, ll_unary_intrinsic(l, "llvm.rint", v), vi, "");
        ll_vstore(l, l->i8, q->xq, k, LLVMBuildTrunc(l->b, qi, LLVMVectorType(l->i8, 16), ""));
        sum = LLVMBuildAdd(l->b, sum, qi, "");
    }
    LLVMValueRef tg = ll_add(l, ll_mul(l, t, ll_i64(l, s->K / s->group)), g);
    ll_store(l, l->f32, q->d, tg, LLVMBuildFDiv(l->b, amax, ll_f32(l, 127), ""));
    LLVMValueRef isum = ll_unary_intrinsic(l, "llvm.vector.reduce.add", sum);
    ll_store(l, l->f32, q->sq, tg, LLVMBuildSIToFP(l->b, isum, l->f32, ""));
}

// Every token row in [row0, T); each thread rounds them all into its own
// scratch (cheap next to the product, and no barrier).
static void round_rows(Ll *l, const LinearShape *s, const LinearArgs *a, const Act8 *q) {
    LlLoop tl, gl;
    ll_loop_begin(l, &tl, a->row0, a->T, ll_i64(l, 1), 0, NULL);
    ll_loop_begin(l, &gl, ll_i64(l, 0), ll_i64(l, s->K / s->group), ll_i64(l, 1), 0, NULL);
    round_group(l, s, q, a->x, tl.iv, gl.iv);
    ll_loop_end(l, &gl);
    ll_loop_end(l, &tl);
}

// ----------------------------------------------------------------------------
// the product: RT row tiles x M tokens of accumulators

typedef struct {
    const LinearShape *s;
    const LinearArgs *a;
    const PackedParts *p;
    const Act8 *q;
    int rt, m;            // row tiles, tokens
    LLVMValueRef tile0, t0;
} Tile;

static int64_t chunk_codes(const LinearShape *s) { return ir_vnni_chunk_codes(s->bits); }

static LLVMValueRef vpdpbusd(Ll *l, LLVMValueRef acc, LLVMValueRef u8, LLVMValueRef s8) {
    LLVMValueRef args[3] = {acc, u8, s8};
    return ll_target_intrinsic(l, "llvm.x86.avx512.vpdpbusd.512", args, 3);
}

// 4 activation bytes of token m at code k, broadcast to the 16 lanes.
static LLVMValueRef act_quad(Ll *l, const Tile *c, int m, LLVMValueRef k) {
    LLVMValueRef t = ll_add(l, c->t0, ll_i64(l, m));
    LLVMValueRef at = ll_add(l, ll_mul(l, t, ll_i64(l, c->s->K)), k);
    LLVMValueRef p = ll_cast_ptr(l, ll_at(l, l->i8, c->q->xq, at), l->i32);
    return ll_splat(l, ll_load(l, l->i32, p, ll_i64(l, 0)), 16);
}

// Chunk ch of group g: every tile's 64 bytes (split into low and high
// nibbles for 4 bits) against every token's activation quads.
static void chunk_products(Ll *l, const Tile *c, LLVMValueRef g, int64_t ch, LLVMValueRef *iacc) {
    const LinearShape *s = c->s;
    int64_t codes = chunk_codes(s);
    LLVMTypeRef vi = LLVMVectorType(l->i32, 16);
    LLVMValueRef mask = ll_splat(l, ll_i32(l, 0x0F0F0F0F), 16), four = ll_splat(l, ll_i32(l, 4), 16);
    LLVMValueRef chunk = ll_add(l, ll_mul(l, g, ll_i64(l, s->group / codes)), ll_i64(l, ch));
    LLVMValueRef lo[DECODE_RT], hi[DECODE_RT];
    for (int r = 0; r < c->rt; r++) {
        LLVMValueRef tile = ll_add(l, c->tile0, ll_i64(l, r));
        LLVMValueRef at = ll_mul(l, ll_add(l, ll_mul(l, tile, ll_i64(l, s->K / codes)), chunk), ll_i64(l, 64));
        LLVMValueRef w = LLVMBuildBitCast(l->b, ll_vload(l, l->i8, 64, c->p->codes, at), vi, "");
        if (s->bits == 8) {
            lo[r] = w;
            continue;
        }
        lo[r] = LLVMBuildAnd(l->b, w, mask, "");
        hi[r] = LLVMBuildAnd(l->b, LLVMBuildLShr(l->b, w, four, ""), mask, "");
    }
    LLVMValueRef k = ll_mul(l, chunk, ll_i64(l, codes));
    for (int m = 0; m < c->m; m++) {
        LLVMValueRef xlo = act_quad(l, c, m, k);
        LLVMValueRef xhi = s->bits == 4 ? act_quad(l, c, m, ll_add(l, k, ll_i64(l, 4))) : NULL;
        for (int r = 0; r < c->rt; r++) {
            LLVMValueRef *acc = &iacc[m * c->rt + r];
            *acc = vpdpbusd(l, *acc, lo[r], xlo);
            if (xhi) *acc = vpdpbusd(l, *acc, hi[r], xhi);
        }
    }
}

// The end of group g: facc += (iacc - z * sum(xq)) * (scale * d), per lane.
static void group_end(Ll *l, const Tile *c, LLVMValueRef g, const LLVMValueRef *iacc, LLVMValueRef *facc) {
    const LinearShape *s = c->s;
    LLVMTypeRef vf = LLVMVectorType(l->f32, 16);
    int64_t groups = s->K / s->group;
    LLVMValueRef d[PREFILL_M], neg_sq[PREFILL_M]; // per token, shared by its row tiles
    for (int m = 0; m < c->m; m++) {
        LLVMValueRef tg = ll_add(l, ll_mul(l, ll_add(l, c->t0, ll_i64(l, m)), ll_i64(l, groups)), g);
        d[m] = ll_splat(l, ll_load(l, l->f32, c->q->d, tg), 16);
        neg_sq[m] = ll_splat(l, LLVMBuildFNeg(l->b, ll_load(l, l->f32, c->q->sq, tg), ""), 16);
    }
    for (int r = 0; r < c->rt; r++) {
        LLVMValueRef at = ll_mul(l, ll_add(l, ll_mul(l, ll_add(l, c->tile0, ll_i64(l, r)), ll_i64(l, groups)), g),
                                 ll_i64(l, TILE));
        LLVMValueRef scale = LLVMBuildFPExt(l->b, ll_vload(l, l->f16, 16, c->p->scales, at), vf, "");
        LLVMValueRef zero = LLVMBuildUIToFP(l->b, ll_vload(l, l->i8, 16, c->p->zeros, at), vf, "");
        for (int m = 0; m < c->m; m++) {
            int i = m * c->rt + r;
            LLVMValueRef corr = ll_fma(l, zero, neg_sq[m], LLVMBuildSIToFP(l->b, iacc[i], vf, ""));
            facc[i] = ll_fma(l, corr, LLVMBuildFMul(l->b, scale, d[m], ""), facc[i]);
        }
    }
}

// The tile's outputs: rows 16 * tile0 .. of tokens t0 ..
static void tile_product(Ll *l, const Tile *c) {
    const LinearShape *s = c->s;
    int n_acc = c->rt * c->m;
    AWQC_ASSERT(c->rt <= DECODE_RT && c->m <= PREFILL_M && n_acc <= MAX_ACC && n_acc <= LL_MAX_CARRIED);
    LLVMValueRef init[LL_MAX_CARRIED], iacc[MAX_ACC], facc[MAX_ACC];
    for (int i = 0; i < n_acc; i++) init[i] = LLVMConstNull(LLVMVectorType(l->f32, 16));
    LlLoop gl;
    ll_loop_begin(l, &gl, ll_i64(l, 0), ll_i64(l, s->K / s->group), ll_i64(l, 1), n_acc, init);
    for (int i = 0; i < n_acc; i++) {
        iacc[i] = LLVMConstNull(LLVMVectorType(l->i32, 16));
        facc[i] = gl.carried[i];
    }
    for (int64_t ch = 0; ch < s->group / chunk_codes(s); ch++) chunk_products(l, c, gl.iv, ch, iacc);
    group_end(l, c, gl.iv, iacc, facc);
    for (int i = 0; i < n_acc; i++) ll_loop_set(&gl, i, facc[i]);
    ll_loop_end(l, &gl);
    for (int m = 0; m < c->m; m++)
        for (int r = 0; r < c->rt; r++) {
            LLVMValueRef n = ll_mul(l, ll_add(l, c->tile0, ll_i64(l, r)), ll_i64(l, TILE));
            linear_store_results(l, s, c->a, ll_add(l, c->t0, ll_i64(l, m)), n, ll_loop_result(&gl, m * c->rt + r),
                                 TILE);
        }
}

// Tiles [lo, hi) against tokens t0..t0+m-1: rt tiles at a time, then singly.
static void tiles_product(Ll *l, Tile c, LLVMValueRef lo, LLVMValueRef hi) {
    int rt = c.rt;
    LLVMValueRef mid = linear_whole_steps_end(l, lo, hi, rt);
    LlLoop lp;
    ll_loop_begin(l, &lp, lo, mid, ll_i64(l, rt), 0, NULL);
    c.tile0 = lp.iv;
    tile_product(l, &c);
    ll_loop_end(l, &lp);
    c.rt = 1;
    ll_loop_begin(l, &lp, mid, hi, ll_i64(l, 1), 0, NULL);
    c.tile0 = lp.iv;
    tile_product(l, &c);
    ll_loop_end(l, &lp);
}

// Tiles [lo, hi) against every token row: PREFILL_M tokens at a time over
// blocks of tiles small enough to stay in L2 while the tokens pass over them,
// then the tokens left (all of a decode step) singly over all the tiles.
static void block_product(Ll *l, Tile c, LLVMValueRef lo, LLVMValueRef hi) {
    int64_t per_block = ROW_BLOCK_BYTES / (TILE * c.s->K * c.s->bits / 8);
    if (per_block < PREFILL_RT) per_block = PREFILL_RT;
    LLVMValueRef mid = linear_whole_steps_end(l, c.a->row0, c.a->T, PREFILL_M);
    LlLoop bl, tl;
    ll_loop_begin(l, &bl, lo, hi, ll_i64(l, per_block), 0, NULL);
    LLVMValueRef b_hi = ll_min(l, ll_add(l, bl.iv, ll_i64(l, per_block)), hi);
    ll_loop_begin(l, &tl, c.a->row0, mid, ll_i64(l, PREFILL_M), 0, NULL);
    c.t0 = tl.iv, c.rt = PREFILL_RT, c.m = PREFILL_M;
    tiles_product(l, c, bl.iv, b_hi);
    ll_loop_end(l, &tl);
    ll_loop_end(l, &bl);
    ll_loop_begin(l, &tl, mid, c.a->T, ll_i64(l, 1), 0, NULL);
    c.t0 = tl.iv, c.rt = DECODE_RT, c.m = 1;
    tiles_product(l, c, lo, hi);
    ll_loop_end(l, &tl);
}

void emit_linear_vnni(Ll *l, const LinearShape *s, const LinearArgs *a, LLVMValueRef lo, LLVMValueRef hi,
                      LLVMValueRef scratch) {
    Act8 q = act8_in_scratch(l, s, a, scratch);
    round_rows(l, s, a, &q);
    PackedParts p = linear_packed_parts(l, s, a->w);
    Tile c = {.s = s, .a = a, .p = &p, .q = &q};
    LLVMValueRef tile_lo = LLVMBuildSDiv(l->b, lo, ll_i64(l, TILE), "");
    LLVMValueRef tile_hi = LLVMBuildSDiv(l->b, hi, ll_i64(l, TILE), "");
    block_product(l, c, tile_lo, tile_hi);
}
