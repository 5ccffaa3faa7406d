// cpu_engine.c: the compiled-code runtime of cpu_engine.h.
#include "runtime/cpu_engine.h"

#include <cjson/cJSON.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "codegen/cpu/abi.h"
#include "ir/layout.h"
#include "runtime/step_check.h"
#include "runtime/thread_pool.h"

typedef struct CpuEngine CpuEngine;

typedef struct {
    const CpuEngine *e;
    AwqcKernelFn fn;
    const AwqcKernelArgs *args;
} KernelCall;

struct CpuEngine {
    const Graph *g;
    char *origin;
    void *dl;
    int memfd;
    const AwqcKernelEntry *table;
    const char *layout4;   // the 4-bit layout the code reads (AWQC_SYM_LAYOUT4)
    uint8_t **repacked;    // per weight: its bytes in layout4 when stored in another
    int64_t n_table;
    int *first, *phases;   // per node: its first table entry and phase count
    int *node_buf;         // per node: its activation buffer, -1 for the input
    bool *is_output;       // per node: a graph output (may skip rows before row0)
    float **bufs;          // plan-memory's buffers, t_max rows of their widest value
    int n_bufs;
    float **k_cache, **v_cache; // per node (attention only)
    int32_t *ids;          // the input node's value
    float *scratch;        // n_threads * scratch_stride floats
    int64_t scratch_stride;
    AwqcKernelArgs *args;  // per node
    KernelCall *calls;     // per table entry
    PoolStep *steps;
    ThreadPool *pool;
    int n_ctx, t_max, pos;
    int64_t vocab, id_limit;
    float *all_logits;     // rows gathered over chunks (all_rows)
};

// ----------------------------------------------------------------------------
// the shared object

// dlopen of the bytes through an anonymous memory file: nothing is left on
// disk and no other process can swap the file under us.
static bool load_code(CpuEngine *e, const uint8_t *so, size_t size, AwqcError *err) {
    e->memfd = memfd_create("awqc-kernels", MFD_CLOEXEC);
    if (e->memfd < 0) return awqc_fail(err, "%s: memfd_create failed", e->origin);
    size_t done = 0;
    while (done < size) {
        ssize_t w = write(e->memfd, so + done, size - done);
        if (w <= 0) return awqc_fail(err, "%s: cannot stage the code in memory", e->origin);
        done += (size_t)w;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", e->memfd);
    e->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!e->dl) return awqc_fail(err, "%s: cannot load its CPU code: %s", e->origin, dlerror());
    const int64_t *abi = dlsym(e->dl, AWQC_SYM_ABI), *count = dlsym(e->dl, AWQC_SYM_COUNT);
    e->table = dlsym(e->dl, AWQC_SYM_TABLE);
    if (!abi || !count || !e->table) return awqc_fail(err, "%s: its CPU code exports no kernel table", e->origin);
    if (*abi != AWQC_CPU_ABI_VERSION)
        return awqc_fail(err, "%s: CPU code ABI %lld, this runtime speaks %d (recompile it)", e->origin,
                         (long long)*abi, AWQC_CPU_ABI_VERSION);
    e->n_table = *count;
    e->layout4 = dlsym(e->dl, AWQC_SYM_LAYOUT4); // absent before orin artifacts: then no repacking
    return true;
}

static bool index_kernels(CpuEngine *e, AwqcError *err) {
    const Graph *g = e->g;
    e->first = xcalloc(g->n_nodes, sizeof *e->first);
    e->phases = xcalloc(g->n_nodes, sizeof *e->phases);
    for (int64_t i = 0; i < e->n_table; i++) {
        const AwqcKernelEntry *k = &e->table[i];
        if (k->node < 0 || (size_t)k->node >= g->n_nodes || k->phase != e->phases[k->node] || !k->fn)
            return awqc_fail(err, "%s: kernel table entry %lld does not match the plan", e->origin, (long long)i);
        if (k->phase == 0) e->first[k->node] = (int)i;
        e->phases[k->node]++;
    }
    for (size_t i = 0; i < g->n_nodes; i++) {
        OpKind op = g->nodes[i].op;
        if (op == OP_PARAM) return awqc_fail(err, "%s: %%%zu is a param node; compiled code cannot run it", e->origin, i);
        if (op != OP_INPUT && e->phases[i] == 0)
            return awqc_fail(err, "%s: no kernel for %%%zu (%s)", e->origin, i, ir_op_name(op));
    }
    return true;
}

// ----------------------------------------------------------------------------
// memory

static int64_t max_i64(int64_t a, int64_t b) { return a > b ? a : b; }

static bool is_attention(OpKind op) { return op == OP_ATTENTION || op == OP_ROPE_ATTENTION; }

// Buffers as plan-memory assigned them (a node without one gets its own);
// a node must never write the buffer one of its inputs lives in.
static bool alloc_activations(CpuEngine *e, int64_t *max_width, AwqcError *err) {
    const Graph *g = e->g;
    e->node_buf = xcalloc(g->n_nodes, sizeof *e->node_buf);
    int64_t n_bufs = 0;
    for (size_t i = 0; i < g->n_nodes; i++) n_bufs = max_i64(n_bufs, ir_node_attr_int(&g->nodes[i], "buf", -1) + 1);
    int64_t *width = xcalloc((size_t)n_bufs + g->n_nodes, sizeof *width);
    int next_private = (int)n_bufs;
    for (size_t i = 0; i < g->n_nodes; i++) {
        const Node *n = &g->nodes[i];
        if (n->op == OP_INPUT) { e->node_buf[i] = -1; continue; }
        int64_t b = ir_node_attr_int(n, "buf", -1);
        e->node_buf[i] = b >= 0 ? (int)b : next_private++;
        width[e->node_buf[i]] = max_i64(width[e->node_buf[i]], ir_row_width(&n->type));
        *max_width = max_i64(*max_width, ir_row_width(&n->type));
        for (int k = 0; k < n->n_in; k++) {
            *max_width = max_i64(*max_width, ir_row_width(ir_operand_type(g, n->in[k])));
            if (n->in[k].kind == OPND_NODE && e->node_buf[n->in[k].index] == e->node_buf[i])
                return free(width), awqc_fail(err, "%s: %%%zu writes the buffer its operand %%%d is in", e->origin, i,
                                              n->in[k].index);
        }
    }
    e->n_bufs = next_private;
    e->bufs = xcalloc((size_t)e->n_bufs, sizeof *e->bufs);
    for (int b = 0; b < e->n_bufs; b++)
        if (width[b]) e->bufs[b] = xcalloc((size_t)(e->t_max * width[b]), sizeof(float));
    free(width);
    return true;
}

static void alloc_kv(CpuEngine *e) {
    const Graph *g = e->g;
    e->k_cache = xcalloc(g->n_nodes, sizeof *e->k_cache);
    e->v_cache = xcalloc(g->n_nodes, sizeof *e->v_cache);
    for (size_t i = 0; i < g->n_nodes; i++) {
        const Node *n = &g->nodes[i];
        if (!is_attention(n->op)) continue;
        int64_t kvd = ir_node_attr_int(n, "kv_heads", ir_node_attr_int(n, "heads", 0)) * ir_node_attr_int(n, "head_dim", 0);
        e->k_cache[i] = xcalloc((size_t)(e->n_ctx * kvd), sizeof(float));
        e->v_cache[i] = xcalloc((size_t)(e->n_ctx * kvd), sizeof(float));
    }
}

// A 4-bit weight packed for another target (an orin artifact keeps awq-gemm
// for its GPU half) in the layout the kernels read: unpacked to codes and
// packed again, once, at load. NULL with err when its bytes do not unpack.
static const uint8_t *repack_weight(CpuEngine *e, int index, AwqcError *err) {
    const Weight *w = &e->g->weights[index];
    if (e->repacked[index]) return e->repacked[index];
    const WeightLayout *to = ir_find_layout(e->layout4);
    if (!to) {
        awqc_fail(err, "%s: its CPU code reads unknown layout '%s'", e->origin, e->layout4);
        return NULL;
    }
    QuantMatrix q;
    if (!ir_weight_codes(w, &q, err)) return NULL;
    uint8_t *bytes = NULL;
    size_t size;
    bool ok = ir_pack_codes(&q, w->name, to, &bytes, &size, err);
    quant_matrix_free(&q);
    if (!ok) {
        awqc_error_prefix(err, "%s", e->origin);
        return NULL;
    }
    e->repacked[index] = bytes;
    return bytes;
}

// Only a 4-bit weight in another target's layout is repacked (abi.h's rule).
static bool needs_repack(const CpuEngine *e, const Weight *w) {
    return e->layout4 && w->packed && w->type.dtype == DT_Q4 && !awqc_cpu_reads_layout4(w->layout);
}

// Where operand o's data is (*ptr NULL: it has none); false with err when a
// repacked weight's bytes do not unpack.
static bool operand_ptr(CpuEngine *e, Operand o, const void **ptr, AwqcError *err) {
    if (o.kind == OPND_WEIGHT) {
        const Weight *w = &e->g->weights[o.index];
        if (needs_repack(e, w)) return (*ptr = repack_weight(e, o.index, err)) != NULL;
        *ptr = w->packed ? (const void *)w->packed : (const void *)w->data;
        return true;
    }
    *ptr = e->node_buf[o.index] < 0 ? (const void *)e->ids : (const void *)e->bufs[e->node_buf[o.index]];
    return true;
}

static bool bind_args(CpuEngine *e, AwqcError *err) {
    const Graph *g = e->g;
    e->args = xcalloc(g->n_nodes, sizeof *e->args);
    e->repacked = xcalloc(g->n_weights ? g->n_weights : 1, sizeof *e->repacked);
    for (size_t i = 0; i < g->n_nodes; i++) {
        const Node *n = &g->nodes[i];
        if (n->op == OP_INPUT) continue;
        AwqcKernelArgs *a = &e->args[i];
        for (int k = 0; k < n->n_in; k++) {
            if (!operand_ptr(e, n->in[k], &a->opnd[k], err)) return false;
            if (!a->opnd[k]) return awqc_fail(err, "%s: %%%zu: operand %d has no data", e->origin, i, k);
        }
        a->out = e->bufs[e->node_buf[i]];
        a->k_cache = e->k_cache[i];
        a->v_cache = e->v_cache[i];
    }
    return true;
}

// ----------------------------------------------------------------------------
// creation

static void run_kernel(void *arg, int64_t ith, int64_t nth) {
    const KernelCall *c = arg;
    AwqcKernelArgs a = *c->args;
    a.scratch = c->e->scratch + ith * c->e->scratch_stride;
    c->fn(&a, ith, nth);
}

static bool setup(CpuEngine *e, const uint8_t *so, size_t so_size, int n_threads, AwqcError *err) {
    if (!load_code(e, so, so_size, err) || !index_kernels(e, err)) return false;
    int64_t max_width = 0;
    if (!alloc_activations(e, &max_width, err)) return false;
    alloc_kv(e);
    e->ids = xcalloc((size_t)e->t_max, sizeof *e->ids);
    if (!bind_args(e, err)) return false;
    e->pool = pool_new(n_threads);
    e->scratch_stride = (awqc_cpu_scratch_floats(e->t_max, max_width, e->n_ctx) + 15) / 16 * 16;
    e->scratch = xcalloc((size_t)(n_threads * e->scratch_stride), sizeof(float));
    e->calls = xcalloc((size_t)e->n_table + 1, sizeof *e->calls);
    e->steps = xcalloc((size_t)e->n_table + 1, sizeof *e->steps);
    for (int64_t i = 0; i < e->n_table; i++)
        e->calls[i] = (KernelCall){e, e->table[i].fn, &e->args[e->table[i].node]};
    const Graph *g = e->g;
    e->is_output = xcalloc(g->n_nodes, sizeof *e->is_output);
    for (size_t k = 0; k < g->n_outputs; k++) e->is_output[g->outputs[k]] = true;
    e->vocab = ir_row_width(&g->nodes[g->outputs[0]].type);
    e->id_limit = ir_embedding_rows(g);
    return true;
}

CpuEngine *cpu_engine_new(const Graph *g, const uint8_t *so, size_t so_size, const char *origin, int n_ctx,
                          int n_threads, int t_max, AwqcError *err) {
    if (n_ctx <= 0) return awqc_fail(err, "%s: context of %d tokens", origin, n_ctx), NULL;
    if (g->n_outputs == 0) return awqc_fail(err, "%s: the plan has no output", origin), NULL;
    if (n_threads <= 0) n_threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
    CpuEngine *e = xcalloc(1, sizeof *e);
    e->g = g;
    e->origin = xstrdup(origin);
    e->memfd = -1;
    e->n_ctx = n_ctx;
    e->t_max = t_max > 0 ? (t_max < n_ctx ? t_max : n_ctx) : (n_ctx < 512 ? n_ctx : 512);
    if (!setup(e, so, so_size, n_threads < 1 ? 1 : n_threads, err)) {
        cpu_engine_free(e);
        return NULL;
    }
    return e;
}

void cpu_engine_free(CpuEngine *e) {
    if (!e) return;
    pool_free(e->pool);
    if (e->dl) dlclose(e->dl);
    if (e->memfd >= 0) close(e->memfd);
    for (int b = 0; b < e->n_bufs; b++) free(e->bufs[b]);
    for (size_t i = 0; e->k_cache && i < e->g->n_nodes; i++) {
        free(e->k_cache[i]);
        free(e->v_cache[i]);
    }
    free(e->bufs);
    free(e->k_cache);
    free(e->v_cache);
    free(e->node_buf);
    free(e->is_output);
    free(e->first);
    free(e->phases);
    free(e->ids);
    free(e->scratch);
    free(e->args);
    for (size_t i = 0; e->repacked && i < e->g->n_weights; i++) free(e->repacked[i]);
    free(e->repacked);
    free(e->calls);
    free(e->steps);
    free(e->all_logits);
    free(e->origin);
    free(e);
}

int cpu_engine_pos(const CpuEngine *e) { return e->pos; }
int cpu_engine_n_ctx(const CpuEngine *e) { return e->n_ctx; }
int cpu_engine_threads(const CpuEngine *e) { return pool_threads(e->pool); }
int64_t cpu_engine_vocab(const CpuEngine *e) { return e->vocab; }
void cpu_engine_rewind(CpuEngine *e, int pos) {
    AWQC_ASSERT(pos >= 0 && pos <= e->pos);
    e->pos = pos;
}

// ----------------------------------------------------------------------------
// running

// One pass over T tokens; outputs need rows from row0 on (T: none).
static void run_chunk(CpuEngine *e, const int32_t *ids, int T, int row0) {
    memcpy(e->ids, ids, sizeof(int32_t) * (size_t)T);
    const Graph *g = e->g;
    int n = 0;
    for (size_t i = 0; i < g->n_nodes; i++) {
        if (g->nodes[i].op == OP_INPUT) continue;
        AwqcKernelArgs *a = &e->args[i];
        a->T = T;
        a->pos = e->pos;
        a->row0 = e->is_output[i] ? row0 : 0;
        if (a->row0 >= T) continue;
        for (int p = 0; p < e->phases[i]; p++) {
            e->steps[n++] = (PoolStep){run_kernel, &e->calls[e->first[i] + p]};
        }
    }
    pool_run(e->pool, e->steps, n);
    e->pos += T;
}

const float *cpu_engine_forward(CpuEngine *e, const int32_t *tokens, int n, bool all_rows, AwqcError *err) {
    if (!step_check_tokens(tokens, n, e->pos, e->n_ctx, e->id_limit, err)) return NULL;
    const float *logits = e->bufs[e->node_buf[e->g->outputs[0]]];
    if (all_rows && n > e->t_max) {
        free(e->all_logits);
        e->all_logits = xmalloc(sizeof(float) * (size_t)n * (size_t)e->vocab);
    }
    for (int done = 0; done < n;) {
        int T = n - done < e->t_max ? n - done : e->t_max;
        bool last = done + T == n;
        run_chunk(e, tokens + done, T, all_rows ? 0 : last ? T - 1 : T);
        if (all_rows && n > e->t_max)
            memcpy(e->all_logits + (size_t)done * (size_t)e->vocab, logits, sizeof(float) * (size_t)T * (size_t)e->vocab);
        done += T;
    }
    if (all_rows) return n > e->t_max ? e->all_logits : logits;
    int T_last = n % e->t_max ? n % e->t_max : e->t_max;
    return logits + (size_t)(T_last - 1) * (size_t)e->vocab;
}

// ----------------------------------------------------------------------------
// can this machine run it

static const char *host_arch(void) {
#if defined(__x86_64__)
    return "x86-64";
#elif defined(__aarch64__)
    return "aarch64";
#else
    return "unknown";
#endif
}

// The features a named CPU level implies, beyond those spelled out.
static const char *implied_features(const char *cpu) {
    if (strcmp(cpu, "x86-64-v3") == 0) return "+avx2,+fma";
    if (strcmp(cpu, "x86-64-v4") == 0) return "+avx2,+fma,+avx512f,+avx512bw,+avx512vl,+avx512dq";
    return "";
}

static bool check_features(const char *list, const char *origin, const char *cpu, AwqcError *err) {
    char *copy = xstrdup(list);
    bool ok = true;
    for (char *tok = strtok(copy, ","); ok && tok; tok = strtok(NULL, ","))
        if (tok[0] == '+' && awqc_cpu_feature(tok + 1) == 0) // one this check does not know: trust the artifact
            ok = awqc_fail(err, "%s: its CPU code was built for %s (needs %s), which this machine lacks", origin, cpu,
                           tok + 1);
    free(copy);
    return ok;
}

bool cpu_engine_can_run(const char *info_json, const char *origin, AwqcError *err) {
    cJSON *o = cJSON_Parse(info_json);
    const cJSON *arch = cJSON_GetObjectItem(o, "arch"), *cpu = cJSON_GetObjectItem(o, "cpu");
    const cJSON *feat = cJSON_GetObjectItem(o, "features");
    bool ok = cJSON_IsString(arch) && cJSON_IsString(cpu) && cJSON_IsString(feat);
    if (!ok) awqc_fail(err, "%s: code.cpu.json is malformed", origin);
    if (ok && strcmp(arch->valuestring, host_arch()) != 0)
        ok = awqc_fail(err, "%s: built for %s (%s), but this machine is %s; compile it with --target host", origin,
                       arch->valuestring, cpu->valuestring, host_arch());
    ok = ok && check_features(implied_features(cpu->valuestring), origin, cpu->valuestring, err) &&
         check_features(feat->valuestring, origin, cpu->valuestring, err);
    cJSON_Delete(o);
    return ok;
}
