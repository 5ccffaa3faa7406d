// interp.c: the reference interpreter: walks the graph in order, one plain C
// kernel per op, all in FP32 (a linear marked act_q8 first rounds its input to
// 8 bits, as its compiled kernel does), every activation a row-major [T, features]
// array. Buffers are freed after their last use so a 512-token prompt fits in
// little memory. The KV cache holds, per attention node, n_ctx rows of K and V.
// interp_eval_node (interp_node.h) is the per-node step, shared with interp_region.c.
#include "interp.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "interp_node.h"
#include "ir/layout.h"
#include "ir/uses.h"
#include "runtime/step_check.h"

struct Interp {
    const Graph *g;
    int n_ctx, pos, n_threads;
    float **vals;     // per node: [T, width] activations of the current step
    float **weights;  // per weight: f32 values (the graph's data, or dequantized here)
    bool *weight_owned; // weights[i] was dequantized here and is freed with the interpreter
    int32_t *ids;     // the tokens of the current step (the input node's value)
    int *last_use;    // per node: index of the last node reading it
    int *kv_slot;     // per node: KV cache slot for attention nodes, else -1
    InterpKv *kv;
    size_t n_kv;
    int64_t id_limit; // ids must be below this: the smallest embedding table's rows (-1: no embedding)
    InterpObserver observer; // NULL: nobody watches
    void *observer_user;
};

// ----------------------------------------------------------------------------
// set-up

bool interp_has_kv(const Graph *g, int i) {
    OpKind op = g->nodes[i].op;
    return op == OP_ATTENTION || op == OP_ROPE_ATTENTION;
}

int64_t interp_kv_width(const Graph *g, int i) {
    const Node *n = &g->nodes[i];
    return ir_node_attr_int(n, "kv_heads", 0) * ir_node_attr_int(n, "head_dim", 0);
}

// A weight the interpreter can read: f32 data, or quantized codes (held as
// codes or packed) that it dequantizes once.
static bool weight_runnable(const Weight *w) {
    if (w->type.dtype == DT_F32) return w->data != NULL;
    return ir_dtype_bits(w->type.dtype) && ir_weight_bound(w);
}

static bool check_runnable(const Graph *g, AwqcError *err) {
    if (!ir_verify(g, err)) return false;
    for (size_t i = 0; i < g->n_weights; i++)
        if (!weight_runnable(&g->weights[i]))
            return awqc_fail(err, "weight '%s' is not bound to f32 data or quantized codes; the reference interpreter "
                             "needs one of them", g->weights[i].name);
    size_t inputs = 0;
    for (size_t i = 0; i < g->n_nodes; i++) {
        const Type *t = &g->nodes[i].type;
        inputs += g->nodes[i].op == OP_INPUT;
        if (g->nodes[i].op == OP_PARAM)
            return awqc_fail(err, "node %%%zu is a param (a value from outside a filtered dump); only whole graphs run", i);
        bool rows = t->rank >= 1 && t->dims[0].kind == DIM_T;
        for (int d = 1; d < t->rank; d++) rows = rows && t->dims[d].kind == DIM_CONST;
        if (!rows) return awqc_fail(err, "node %%%zu: the interpreter expects values shaped [T, constant...]", i);
    }
    if (inputs != 1) return awqc_fail(err, "the interpreter runs graphs with one token input, not %zu", inputs);
    if (g->nodes[g->outputs[0]].type.dtype != DT_F32)
        return awqc_fail(err, "the first output (%%%d) must be f32 logits", g->outputs[0]);
    return true;
}

// Every weight as f32: a quantized one without data is dequantized from its
// codes, unpacking its layout first, exactly as the compiled code will.
static bool bind_weights(Interp *in, AwqcError *err) {
    const Graph *g = in->g;
    in->weights = xcalloc(g->n_weights + 1, sizeof *in->weights);
    in->weight_owned = xcalloc(g->n_weights + 1, sizeof *in->weight_owned);
    for (size_t i = 0; i < g->n_weights; i++) {
        const Weight *w = &g->weights[i];
        if (w->data) {
            in->weights[i] = w->data;
            continue;
        }
        in->weights[i] = xmalloc(sizeof(float) * (size_t)ir_type_elements(&w->type));
        in->weight_owned[i] = true;
        if (w->quant) { // codes at hand: no copy
            quant_dequantize(w->quant, in->weights[i]);
            continue;
        }
        QuantMatrix q;
        if (!ir_weight_codes(w, &q, err)) return false;
        quant_dequantize(&q, in->weights[i]);
        quant_matrix_free(&q);
    }
    return true;
}

// A value nobody reads is freed right after it is computed; outputs are kept.
static void compute_last_uses(Interp *in) {
    const Graph *g = in->g;
    IrUses u;
    ir_uses_build(g, &u);
    for (size_t i = 0; i < g->n_nodes; i++)
        in->last_use[i] = u.is_output[i] ? (int)g->n_nodes : u.last_reader[i] >= 0 ? u.last_reader[i] : (int)i;
    ir_uses_free(&u);
}

static void alloc_kv_cache(Interp *in) {
    const Graph *g = in->g;
    for (size_t i = 0; i < g->n_nodes; i++) {
        in->kv_slot[i] = -1;
        if (!interp_has_kv(g, (int)i)) continue;
        in->kv_slot[i] = (int)in->n_kv++;
    }
    in->kv = xcalloc(in->n_kv ? in->n_kv : 1, sizeof *in->kv);
    for (size_t i = 0; i < g->n_nodes; i++) {
        if (in->kv_slot[i] < 0) continue;
        int64_t kv_dim = interp_kv_width(g, (int)i);
        InterpKv *c = &in->kv[in->kv_slot[i]];
        c->k = xcalloc((size_t)in->n_ctx * (size_t)kv_dim, sizeof(float));
        c->v = xcalloc((size_t)in->n_ctx * (size_t)kv_dim, sizeof(float));
    }
}

// The KV cache is allocated whole up front; a context it cannot hold in this
// machine's memory is refused with the figure rather than dying in malloc.
static bool kv_cache_fits(const Graph *g, int n_ctx, AwqcError *err) {
    double bytes = 0;
    for (size_t i = 0; i < g->n_nodes; i++)
        if (interp_has_kv(g, (int)i)) bytes += 2.0 * sizeof(float) * (double)n_ctx * (double)interp_kv_width(g, (int)i);
    double ram = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
    struct rlimit as;
    if (getrlimit(RLIMIT_AS, &as) == 0 && as.rlim_cur != RLIM_INFINITY && (double)as.rlim_cur < ram)
        ram = (double)as.rlim_cur; // ulimit -v
    if (ram > 0 && bytes > ram)
        return awqc_fail(err, "a context of %d tokens needs %.1f GiB of KV cache, more than the %.1f GiB of memory "
                              "available: lower --ctx",
                         n_ctx, bytes / (1 << 30), ram / (1 << 30));
    return true;
}

Interp *interp_new(const Graph *g, int n_ctx, int n_threads, AwqcError *err) {
    if (n_ctx <= 0) return awqc_fail(err, "context size must be positive, got %d", n_ctx), NULL;
    if (!check_runnable(g, err) || !kv_cache_fits(g, n_ctx, err)) return NULL;
    Interp *in = xcalloc(1, sizeof *in);
    in->g = g;
    in->n_ctx = n_ctx;
    in->n_threads = n_threads > 0 ? n_threads : omp_get_num_procs();
    in->vals = xcalloc(g->n_nodes, sizeof *in->vals);
    in->last_use = xcalloc(g->n_nodes, sizeof *in->last_use);
    in->kv_slot = xcalloc(g->n_nodes, sizeof *in->kv_slot);
    compute_last_uses(in);
    alloc_kv_cache(in);
    in->id_limit = ir_embedding_rows(g);
    if (!bind_weights(in, err)) {
        interp_free(in);
        return NULL;
    }
    return in;
}

static void free_values(Interp *in) {
    for (size_t i = 0; i < in->g->n_nodes; i++) {
        free(in->vals[i]);
        in->vals[i] = NULL;
    }
}

void interp_free(Interp *in) {
    if (!in) return;
    free_values(in);
    for (size_t i = 0; i < in->n_kv; i++) {
        free(in->kv[i].k);
        free(in->kv[i].v);
    }
    free(in->kv);
    for (size_t i = 0; in->weights && i < in->g->n_weights; i++)
        if (in->weight_owned[i]) free(in->weights[i]);
    free(in->weights);
    free(in->weight_owned);
    free(in->vals);
    free(in->ids);
    free(in->last_use);
    free(in->kv_slot);
    free(in);
}

void interp_reset(Interp *in) { in->pos = 0; }
void interp_rewind(Interp *in, int pos) {
    AWQC_ASSERT(pos >= 0 && pos <= in->pos);
    in->pos = pos;
}
int interp_pos(const Interp *in) { return in->pos; }
int interp_n_ctx(const Interp *in) { return in->n_ctx; }
int interp_threads(const Interp *in) { return in->n_threads; }

void interp_set_observer(Interp *in, InterpObserver fn, void *user) {
    in->observer = fn;
    in->observer_user = user;
}

int64_t interp_vocab(const Interp *in) {
    return ir_row_width(&in->g->nodes[in->g->outputs[0]].type);
}

// ----------------------------------------------------------------------------
// kernels: each works on T rows

// Dot products keep eight partial sums (one vector register) and add them up
// in a fixed order, so every path below gives bit-identical results and runs
// repeat exactly.
//
// A tile's TILE_N x TILE_T accumulators and its TILE_N weight vectors must
// fit the vector registers: 32 with AVX-512; 16 with AVX2, and NEON's 32
// hold 16 eight-float vectors. There 3 x 8 put the accumulators on the stack
// (3 x 4: 15% less time for the same prefill). No sum depends on the shape.
#ifdef __AVX512F__
enum { LANES = 8, TILE_T = 8, TILE_N = 3 };
#else
enum { LANES = 8, TILE_T = 4, TILE_N = 3 };
#endif

// The eight lanes are a GCC/Clang vector type, so that accumulators stay in
// registers and the code is vector code at any -O level (plain arrays get
// spilled to the stack, and -O1, the sanitizer build, vectorises nothing).
typedef float f32x8 __attribute__((vector_size(LANES * sizeof(float))));

static f32x8 load8(const float *p) {
    f32x8 v;
    memcpy(&v, p, sizeof v); // unaligned load
    return v;
}

// The eight partial sums of v added in the fixed order.
static float sum_vector(f32x8 v) {
    return ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7]));
}

static float dot(const float *a, const float *b, int64_t n) {
    f32x8 acc = {0};
    int64_t k = 0;
    for (; k + LANES <= n; k += LANES) acc += load8(a + k) * load8(b + k);
    float s = sum_vector(acc);
    for (; k < n; k++) s += a[k] * b[k];
    return s;
}

// y[i] += a * x[i], eight at a time in a vector (each element's operations are
// the same as one at a time; -O2 does not vectorise a loop of unknown length).
static void axpy(float *y, float a, const float *x, int64_t n) {
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES) {
        f32x8 v = load8(y + i) + a * load8(x + i);
        memcpy(y + i, &v, sizeof v);
    }
    for (; i < n; i++) y[i] += a * x[i];
}

// The same dot products for a tile of TILE_T tokens x TILE_N weight rows:
// each weight vector loaded serves TILE_T tokens and each activation vector
// TILE_N rows, which makes prompt processing bound by arithmetic rather than
// by loads (3 x 8 measured best of 2x4 .. 6x4 on an AVX-512 machine: 24
// accumulators fit its 32 vector registers). The loops over the tile are
// unrolled by pragma, as -O3 does anyway: at -O2 (the test builds) and -O1
// (the sanitizer build) they stayed loops, the accumulators went to the
// stack, and calibration ran several times slower. (Without contraction,
// -std=c11, the sums are the same.)
static void dot_tile(const float *x, const float *w, int64_t K, float out[TILE_N][TILE_T]) {
    f32x8 acc[TILE_N][TILE_T] = {{{0}}};
    int64_t k = 0;
    for (; k + LANES <= K; k += LANES) {
        f32x8 wv[TILE_N], xv[TILE_T];
#pragma GCC unroll 8
        for (int r = 0; r < TILE_N; r++) wv[r] = load8(w + r * K + k);
#pragma GCC unroll 8
        for (int t = 0; t < TILE_T; t++) xv[t] = load8(x + t * K + k);
#pragma GCC unroll 8
        for (int r = 0; r < TILE_N; r++)
#pragma GCC unroll 8
            for (int t = 0; t < TILE_T; t++) acc[r][t] += wv[r] * xv[t];
    }
    for (int r = 0; r < TILE_N; r++)
        for (int t = 0; t < TILE_T; t++) {
            float s = sum_vector(acc[r][t]);
            for (int64_t i = k; i < K; i++) s += w[r * K + i] * x[t * K + i];
            out[r][t] = s;
        }
}

// y[T, N] = x[T, K] W[N, K]^T + bias. Tiles of W rows are split over threads;
// tokens go TILE_T at a time, the leftovers one at a time.
static void k_linear(float *y, const float *x, const float *w, const float *bias, int T, int64_t K, int64_t N) {
    int full_t = T - T % TILE_T;
#pragma omp parallel for schedule(static)
    for (int64_t o0 = 0; o0 < N; o0 += TILE_N) {
        int rows = N - o0 < TILE_N ? (int)(N - o0) : TILE_N;
        for (int t0 = 0; rows == TILE_N && t0 < full_t; t0 += TILE_T) {
            float out[TILE_N][TILE_T];
            dot_tile(x + (int64_t)t0 * K, w + o0 * K, K, out);
            for (int r = 0; r < TILE_N; r++)
                for (int t = 0; t < TILE_T; t++)
                    y[(int64_t)(t0 + t) * N + o0 + r] = out[r][t] + (bias ? bias[o0 + r] : 0.0f);
        }
        for (int r = 0; r < rows; r++)
            for (int t = rows == TILE_N ? full_t : 0; t < T; t++)
                y[(int64_t)t * N + o0 + r] = dot(x + (int64_t)t * K, w + (o0 + r) * K, K) + (bias ? bias[o0 + r] : 0.0f);
    }
}

// act_q8 (passes/quantize_acts.c): y = x rounded to 8 bits per row, in blocks
// of `block` values, with the compiled kernel's float operations in its
// order, so both see the same codes xq. y may be x. rintf rounds half to
// even; d * rintf(v) equals d * (float)(int)rintf(v) for the codes |xq| <= 127
// and keeps a NaN a NaN instead of converting it to int.
static void k_act_q8(float *y, const float *x, int T, int64_t K, int64_t block) {
    AWQC_ASSERT(block > 0 && K % block == 0); // the verifier checked act_q8
    for (int64_t b0 = 0; b0 < (int64_t)T * K; b0 += block) {
        float amax = 0.0f;
        for (int64_t i = b0; i < b0 + block; i++) amax = fmaxf(amax, fabsf(x[i]));
        float d = amax / 127.0f, id = amax > 0 ? 127.0f / amax : 0.0f;
        for (int64_t i = b0; i < b0 + block; i++) y[i] = d * rintf(x[i] * id);
    }
}

// A node's linear input as its kernel reads it: a rounded copy of x when the
// node has act_q8 (the caller frees it), else NULL: read x itself.
static float *act_q8_copy(const Node *n, const float *x, int T, int64_t K) {
    int64_t block = ir_node_attr_int(n, "act_q8", 0);
    if (block == 0) return NULL;
    float *y = xmalloc(sizeof(float) * (size_t)(T * K));
    k_act_q8(y, x, T, K, block);
    return y;
}

static void k_embedding(float *y, const float *table, const int32_t *ids, int T, int64_t D) {
    for (int t = 0; t < T; t++) memcpy(y + (int64_t)t * D, table + (int64_t)ids[t] * D, sizeof(float) * (size_t)D);
}

static void k_rms_norm(float *y, const float *x, const float *w, int T, int64_t D, float eps) {
    for (int t = 0; t < T; t++) {
        const float *xr = x + (int64_t)t * D;
        double ss = 0;
        for (int64_t i = 0; i < D; i++) ss += (double)xr[i] * xr[i];
        float scale = (float)(1.0 / sqrt(ss / (double)D + eps));
        for (int64_t i = 0; i < D; i++) y[(int64_t)t * D + i] = xr[i] * scale * w[i];
    }
}

static void k_layer_norm(float *y, const float *x, const float *w, const float *b, int T, int64_t D, float eps) {
    for (int t = 0; t < T; t++) {
        const float *xr = x + (int64_t)t * D;
        double mean = 0, var = 0;
        for (int64_t i = 0; i < D; i++) mean += xr[i];
        mean /= (double)D;
        for (int64_t i = 0; i < D; i++) var += (xr[i] - mean) * (xr[i] - mean);
        float inv = (float)(1.0 / sqrt(var / (double)D + eps));
        for (int64_t i = 0; i < D; i++)
            y[(int64_t)t * D + i] = (float)(xr[i] - mean) * inv * w[i] + (b ? b[i] : 0.0f);
    }
}

// Rotates pairs of each head by pos * theta^(-2i/head_dim). The frequencies
// are computed in float as Hugging Face does, so both agree to rounding.
static void k_rope(float *y, const float *x, int T, int pos0, int heads, int hd, float theta, bool halves) {
    int64_t D = (int64_t)heads * hd;
    memcpy(y, x, sizeof(float) * (size_t)(T * D));
    for (int t = 0; t < T; t++)
        for (int i = 0; i < hd / 2; i++) {
            float inv_freq = 1.0f / powf(theta, (float)(2 * i) / (float)hd);
            float angle = (float)(pos0 + t) * inv_freq;
            float c = cosf(angle), s = sinf(angle);
            for (int h = 0; h < heads; h++) {
                float *head = y + (int64_t)t * D + (int64_t)h * hd;
                int a = halves ? i : 2 * i, b = halves ? i + hd / 2 : 2 * i + 1;
                float x0 = head[a], x1 = head[b];
                head[a] = x0 * c - x1 * s;
                head[b] = x0 * s + x1 * c;
            }
        }
}

typedef struct {
    int heads, kv_heads, hd;
    int pos0; // position of the first new token
} AttnShape;

// Causal attention of the T new queries over the cache rows 0..pos0+t,
// after the new K and V rows have been stored in it.
static void k_attention(float *y, const float *q, const InterpKv *c, int T, AttnShape s) {
    int64_t qd = (int64_t)s.heads * s.hd, kvd = (int64_t)s.kv_heads * s.hd;
    int group = s.heads / s.kv_heads;
    float scale = 1.0f / sqrtf((float)s.hd);
#pragma omp parallel for collapse(2) schedule(dynamic)
    for (int t = 0; t < T; t++)
        for (int h = 0; h < s.heads; h++) {
            int n = s.pos0 + t + 1, kvh = h / group;
            const float *qh = q + (int64_t)t * qd + (int64_t)h * s.hd;
            float *score = xmalloc(sizeof(float) * (size_t)n), mx = -INFINITY;
            for (int j = 0; j < n; j++) {
                score[j] = dot(qh, c->k + (int64_t)j * kvd + (int64_t)kvh * s.hd, s.hd) * scale;
                if (score[j] > mx) mx = score[j];
            }
            double sum = 0;
            for (int j = 0; j < n; j++) sum += score[j] = expf(score[j] - mx);
            float *out = y + (int64_t)t * qd + (int64_t)h * s.hd;
            memset(out, 0, sizeof(float) * (size_t)s.hd);
            for (int j = 0; j < n; j++) {
                float p = (float)(score[j] / sum);
                axpy(out, p, c->v + (int64_t)j * kvd + (int64_t)kvh * s.hd, s.hd);
            }
            free(score);
        }
}

static void k_unary(float *y, const float *x, int64_t n, OpKind op) {
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        switch (op) {
        case OP_SILU: y[i] = v / (1.0f + expf(-v)); break;
        case OP_RELU: y[i] = v > 0 ? v : 0; break;
        case OP_GELU: y[i] = 0.5f * v * (1.0f + tanhf(0.7978845608f * (v + 0.044715f * v * v * v))); break;
        default: AWQC_PANIC("not a unary op: %s", ir_op_name(op));
        }
    }
}

static void k_binary(float *y, const float *a, const float *b, int64_t n, OpKind op) {
    for (int64_t i = 0; i < n; i++) y[i] = op == OP_ADD ? a[i] + b[i] : a[i] * b[i];
}

static void k_softmax(float *y, const float *x, int T, int64_t D) {
    for (int t = 0; t < T; t++) {
        const float *xr = x + (int64_t)t * D;
        float *yr = y + (int64_t)t * D, mx = -INFINITY;
        for (int64_t i = 0; i < D; i++) mx = xr[i] > mx ? xr[i] : mx;
        double sum = 0;
        for (int64_t i = 0; i < D; i++) sum += yr[i] = expf(xr[i] - mx);
        for (int64_t i = 0; i < D; i++) yr[i] = (float)(yr[i] / sum);
    }
}

// ----------------------------------------------------------------------------
// evaluation

static const float *operand(const InterpStep *s, const Node *n, int i) {
    if (i >= n->n_in) return NULL;
    Operand o = n->in[i];
    if (o.kind == OPND_NODE) return s->vals[o.index];
    return s->weights ? s->weights[o.index] : s->g->weights[o.index].data;
}

static int64_t operand_width(const InterpStep *s, const Node *n, int i) {
    return ir_row_width(ir_operand_type(s->g, n->in[i]));
}

// Stores the T new K and V rows at the current position, then attends.
static void attend(const InterpStep *s, const Node *n, const float *q, const float *k, const float *v, InterpKv *c,
                   float *y) {
    AWQC_ASSERT(c != NULL);
    AttnShape shape = {(int)ir_node_attr_int(n, "heads", 0), (int)ir_node_attr_int(n, "kv_heads", 0),
                       (int)ir_node_attr_int(n, "head_dim", 0), s->pos};
    int64_t kvd = (int64_t)shape.kv_heads * shape.hd;
    memcpy(c->k + (int64_t)s->pos * kvd, k, sizeof(float) * (size_t)(s->T * kvd));
    memcpy(c->v + (int64_t)s->pos * kvd, v, sizeof(float) * (size_t)(s->T * kvd));
    k_attention(y, q, c, s->T, shape);
}

static void rope_node(const InterpStep *s, const Node *n, float *y, const float *x, int heads) {
    k_rope(y, x, s->T, s->pos, heads, (int)ir_node_attr_int(n, "head_dim", 0),
           (float)ir_node_attr_float(n, "theta", 10000.0), strcmp(ir_node_attr_string(n, "mode", "pairs"), "halves") == 0);
}

// y[T, width] = columns [off, off + width) of x[T, n].
static void copy_columns(float *y, const float *x, int T, int64_t n, int64_t off, int64_t width) {
    for (int t = 0; t < T; t++) memcpy(y + (int64_t)t * width, x + (int64_t)t * n + off, sizeof(float) * (size_t)width);
}

static float *take_columns(const float *x, int T, int64_t n, int64_t off, int64_t width) {
    float *y = xmalloc(sizeof(float) * (size_t)(T * width));
    copy_columns(y, x, T, n, off, width);
    return y;
}

// rope_attention: q, k, v as three operands or side by side in one (which is
// split first); q and k are rotated into scratch, v is read in place.
static void run_rope_attention(const InterpStep *s, const Node *n, InterpKv *c, float *y) {
    int heads = (int)ir_node_attr_int(n, "heads", 0), kv_heads = (int)ir_node_attr_int(n, "kv_heads", 0);
    int64_t hd = ir_node_attr_int(n, "head_dim", 0), qd = heads * hd, kvd = kv_heads * hd;
    const float *part[3];
    float *split[3] = {NULL, NULL, NULL};
    if (n->n_in == 1) {
        int64_t offs[3] = {0, qd, qd + kvd}, widths[3] = {qd, kvd, kvd};
        for (int i = 0; i < 3; i++) part[i] = split[i] = take_columns(operand(s, n, 0), s->T, qd + 2 * kvd, offs[i], widths[i]);
    } else {
        for (int i = 0; i < 3; i++) part[i] = operand(s, n, i);
    }
    float *q = xmalloc(sizeof(float) * (size_t)(s->T * qd)), *k = xmalloc(sizeof(float) * (size_t)(s->T * kvd));
    rope_node(s, n, q, part[0], heads);
    rope_node(s, n, k, part[1], kv_heads);
    attend(s, n, q, k, part[2], c, y);
    free(q);
    free(k);
    for (int i = 0; i < 3; i++) free(split[i]);
}

static void k_awq_scale(float *y, const float *x, const float *scale, int T, int64_t D) {
    for (int t = 0; t < T; t++)
        for (int64_t i = 0; i < D; i++) y[(int64_t)t * D + i] = x[(int64_t)t * D + i] / scale[i];
}

// silu(gate) * up, the two as operands or as the halves of one.
static void run_silu_mul(const InterpStep *s, const Node *n, float *y, int64_t W) {
    const float *a = operand(s, n, 0), *b = operand(s, n, 1);
    int64_t stride = b ? W : 2 * W, up_off = b ? 0 : W;
    if (!b) b = a;
    for (int t = 0; t < s->T; t++)
        for (int64_t i = 0; i < W; i++) {
            float g = a[(int64_t)t * stride + i];
            y[(int64_t)t * W + i] = g / (1.0f + expf(-g)) * b[(int64_t)t * stride + up_off + i];
        }
}

// y = x W^T + bias (operand `bias`), x rounded first when the node has act_q8.
static void run_linear(const InterpStep *s, const Node *n, float *y, int64_t W, int bias) {
    int64_t K = operand_width(s, n, 0);
    const float *x = operand(s, n, 0);
    float *xq = act_q8_copy(n, x, s->T, K);
    k_linear(y, xq ? xq : x, operand(s, n, 1), operand(s, n, bias), s->T, K, W);
    free(xq);
}

// With act_q8 the normalised row, the linear's actual input, is what is rounded.
static void run_rms_norm_linear(const InterpStep *s, const Node *n, float *y, int64_t W, float eps) {
    int64_t K = operand_width(s, n, 0), block = ir_node_attr_int(n, "act_q8", 0);
    float *normed = xmalloc(sizeof(float) * (size_t)(s->T * K));
    k_rms_norm(normed, operand(s, n, 0), operand(s, n, 1), s->T, K, eps);
    if (block) k_act_q8(normed, normed, s->T, K, block);
    k_linear(y, normed, operand(s, n, 2), operand(s, n, 3), s->T, K, W);
    free(normed);
}

static void run_linear_add(const InterpStep *s, const Node *n, float *y, int64_t W) {
    run_linear(s, n, y, W, 3);
    const float *r = operand(s, n, 2);
    for (int64_t i = 0; i < s->T * W; i++) y[i] = r[i] + y[i];
}

float *interp_eval_node(const InterpStep *s, int i, InterpKv *kv) {
    const Node *n = &s->g->nodes[i];
    AWQC_ASSERT(n->op != OP_INPUT);
    int T = s->T;
    int64_t W = ir_row_width(&n->type);
    float *y = xmalloc(sizeof(float) * (size_t)(T * W));
    const float *x = operand(s, n, 0);
    float eps = (float)ir_node_attr_float(n, "eps", 1e-5);
    switch (n->op) {
    case OP_EMBEDDING: k_embedding(y, x, s->ids, T, W); break;
    case OP_RMS_NORM: k_rms_norm(y, x, operand(s, n, 1), T, W, eps); break;
    case OP_LAYER_NORM: k_layer_norm(y, x, operand(s, n, 1), operand(s, n, 2), T, W, eps); break;
    case OP_LINEAR: run_linear(s, n, y, W, 2); break;
    case OP_ROPE: rope_node(s, n, y, x, (int)ir_node_attr_int(n, "heads", 0)); break;
    case OP_ATTENTION: attend(s, n, x, operand(s, n, 1), operand(s, n, 2), kv, y); break;
    case OP_ROPE_ATTENTION: run_rope_attention(s, n, kv, y); break;
    case OP_SILU:
    case OP_GELU:
    case OP_RELU: k_unary(y, x, T * W, n->op); break;
    case OP_ADD:
    case OP_MUL: k_binary(y, x, operand(s, n, 1), T * W, n->op); break;
    case OP_SOFTMAX: k_softmax(y, x, T, W); break;
    case OP_AWQ_SCALE: k_awq_scale(y, x, operand(s, n, 1), T, W); break;
    case OP_SLICE: copy_columns(y, x, T, operand_width(s, n, 0), ir_node_attr_int(n, "offset", 0), W); break;
    case OP_SILU_MUL: run_silu_mul(s, n, y, W); break;
    case OP_RMS_NORM_LINEAR: run_rms_norm_linear(s, n, y, W, eps); break;
    case OP_LINEAR_ADD: run_linear_add(s, n, y, W); break;
    case OP_INPUT:
    case OP_PARAM:
    case OP_COUNT: AWQC_PANIC("unexpected op");
    }
    return y;
}

static void run_node(Interp *in, int i, int T) {
    if (in->g->nodes[i].op == OP_INPUT) return; // its value is in->ids
    // The cast only adds const: the kernels read the operands, never write them.
    InterpStep s = {in->g, (const float *const *)in->weights, (const float *const *)in->vals, in->ids, T, in->pos};
    in->vals[i] = interp_eval_node(&s, i, in->kv_slot[i] >= 0 ? &in->kv[in->kv_slot[i]] : NULL);
}

// Frees the values whose last reader was node i.
static void release_after(Interp *in, int i) {
    const Node *n = &in->g->nodes[i];
    for (int j = 0; j < n->n_in; j++) {
        Operand o = n->in[j];
        if (o.kind == OPND_NODE && in->last_use[o.index] == i) {
            free(in->vals[o.index]);
            in->vals[o.index] = NULL;
        }
    }
}

// Shows node i's fresh value to the observer, before its inputs are freed.
static void notify_observer(const Interp *in, int i, int T) {
    const Node *n = &in->g->nodes[i];
    if (!in->observer || n->op == OP_INPUT) return;
    in->observer(in->g, i, in->vals[i], T, ir_row_width(&n->type), in->observer_user);
}

const float *interp_forward(Interp *in, const int32_t *tokens, int n, bool all_rows, AwqcError *err) {
    if (!step_check_tokens(tokens, n, in->pos, in->n_ctx, in->id_limit, err)) return NULL;
    omp_set_num_threads(in->n_threads);
    free_values(in);
    free(in->ids);
    in->ids = xmalloc(sizeof(int32_t) * (size_t)n);
    memcpy(in->ids, tokens, sizeof(int32_t) * (size_t)n);
    for (size_t i = 0; i < in->g->n_nodes; i++) {
        run_node(in, (int)i, n);
        notify_observer(in, (int)i, n);
        release_after(in, (int)i);
    }
    in->pos += n;
    const float *logits = in->vals[in->g->outputs[0]];
    return all_rows ? logits : logits + (int64_t)(n - 1) * interp_vocab(in);
}

float *interp_eval_logits(const Graph *g, const int32_t *ids, int n, int n_threads, size_t *count, AwqcError *err) {
    Interp *in = interp_new(g, n, n_threads, err);
    if (!in) return NULL;
    const float *out = interp_forward(in, ids, n, true, err);
    float *copy = NULL;
    if (out) {
        *count = (size_t)n * (size_t)interp_vocab(in);
        copy = xmalloc(sizeof(float) * *count);
        memcpy(copy, out, sizeof(float) * *count);
    }
    interp_free(in);
    return copy;
}

double interp_relative_diff(const float *a, const float *b, size_t n) {
    // Plain comparisons, not fmax: Debian's aarch64 GCC 12.2 crashes (an
    // internal compiler error) vectorising this two-fmax reduction at -O3.
    double diff = 0, mag = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]), m = fabs((double)a[i]);
        if (d > diff) diff = d;
        if (m > mag) mag = m;
    }
    return mag > 0 ? diff / mag : diff;
}
