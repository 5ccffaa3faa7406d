// cuda_engine.c: the GPU executor of cuda_engine.h. Every buffer lives on the
// device for the engine's lifetime: weights as the plan stores them (f32, or
// the awq-gemm bytes the kernels dequantise in registers), one buffer per
// plan-memory slot, the KV cache, scratch; token ids and the position are in
// device memory too, so the decode step is captured once as a CUDA graph and
// replayed for every token.
#include "runtime/cuda/cuda_engine.h"

#include <stdlib.h>
#include <string.h>

#include "codegen/cuda/cuda_codegen.h"
#include "ir/uses.h"
#include "runtime/artifact.h"
#include "runtime/cuda/cuda_arch.h"
#include "runtime/cuda/cuda_driver.h"
#include "runtime/step_check.h"

// Mirrors struct KArgs of codegen/cuda/kernels.cuh, field for field.
typedef struct {
    CUdeviceptr out;
    CUdeviceptr in[4];
    CUdeviceptr kc, vc, scratch, part, done, ids, pos, out_i;
    int T;
    float eps, theta;
} KArgsHost;

typedef struct {
    char name[CUDA_KERNEL_NAME_MAX];
    CUfunction f;
    int smem_set; // dynamic shared memory the function was opened up to
} KernelFn;

struct CudaEngine {
    CudaDriver d;
    const Graph *g;
    int n_ctx, pos, input_node;
    int64_t vocab, id_limit;
    CUstream stream;
    CUmodule module;
    KernelFn *fns;
    size_t n_fns, cap_fns;
    CUdeviceptr *allocs; // everything to free
    size_t n_allocs, cap_allocs;
    CUdeviceptr *weight_dev, *value_dev, *kv_k, *kv_v;
    CUdeviceptr *weight_h16; // f16 copies of the f32 matrices (0 for the rest)
    CUdeviceptr scratch, part, done, ids, pos_dev, argmax_dev;
    float *logits; // host copy of the last forward's logits
    size_t logits_cap; // floats
    CUgraph graph;
    CUgraphExec graph_exec;
    char desc[256], name[160];
    double weight_bytes_per_token; // what the kernels read of the weights per decode step
    GpuRefusal refusal;   // why setup failed, when it did
    int last_n;           // tokens of the last forward
};

// ----------------------------------------------------------------------------
// device memory

static bool dev_alloc(CudaEngine *e, size_t bytes, CUdeviceptr *p, AwqcError *err) {
    char what[96];
    snprintf(what, sizeof what, "cuMemAlloc(%zu bytes)", bytes);
    if (!cuda_check(&e->d, e->d.MemAlloc(p, bytes ? bytes : 4), what, err)) return false;
    GROW(e->allocs, e->cap_allocs, e->n_allocs + 1);
    e->allocs[e->n_allocs++] = *p;
    return cuda_check(&e->d, e->d.MemsetD8(*p, 0, bytes ? bytes : 4), "cuMemsetD8", err);
}

static bool upload(CudaEngine *e, const void *src, size_t bytes, CUdeviceptr *p, AwqcError *err) {
    return dev_alloc(e, bytes, p, err) && cuda_check(&e->d, e->d.MemcpyHtoD(*p, src, bytes), "cuMemcpyHtoD", err);
}

typedef struct {
    bool matrix; // a linear's matrix (read whole every step)
    bool table;  // an embedding table (one row read per token)
    bool other;  // norm gain, bias, scale (read whole)
} WeightUse;

static WeightUse weight_use(const Graph *g, size_t w) {
    WeightUse u = {0};
    for (size_t i = 0; i < g->n_nodes; i++) {
        const Node *n = &g->nodes[i];
        for (int k = 0; k < n->n_in; k++) {
            if (n->in[k].kind != OPND_WEIGHT || (size_t)n->in[k].index != w) continue;
            if (k == ir_linear_matrix_operand(n)) u.matrix = true;
            else if (n->op == OP_EMBEDDING && k == 0) u.table = true;
            else u.other = true;
        }
    }
    return u;
}

// An f32 matrix goes up as f16 (gemv_h16 reads it so): half the bytes per token.
static bool upload_f16(CudaEngine *e, const Weight *w, CUdeviceptr *p, AwqcError *err) {
    size_t n = (size_t)ir_type_elements(&w->type);
    uint16_t *h = xmalloc(sizeof *h * (n ? n : 1));
    for (size_t i = 0; i < n; i++) h[i] = awqc_f32_to_f16(w->data[i]);
    bool ok = upload(e, h, sizeof *h * n, p, err);
    free(h);
    e->weight_bytes_per_token += 2.0 * (double)n;
    return ok;
}

// f32 data for the kernels that read it as such (a tied embedding table has
// both forms: f32 rows for the lookup, f16 for the head).
static bool upload_f32(CudaEngine *e, const Weight *w, WeightUse u, CUdeviceptr *p, AwqcError *err) {
    int64_t n = ir_type_elements(&w->type);
    int64_t row = w->type.rank > 1 && w->type.dims[0].size > 0 ? n / w->type.dims[0].size : n;
    e->weight_bytes_per_token += 4.0 * (double)(u.other ? n : row);
    return upload(e, w->data, sizeof(float) * (size_t)n, p, err);
}

// Weights go up once, in the form the kernels read.
static bool upload_weights(CudaEngine *e, AwqcError *err) {
    const Graph *g = e->g;
    e->weight_dev = xcalloc(g->n_weights + 1, sizeof *e->weight_dev);
    e->weight_h16 = xcalloc(g->n_weights + 1, sizeof *e->weight_h16);
    for (size_t i = 0; i < g->n_weights; i++) {
        const Weight *w = &g->weights[i];
        WeightUse u = weight_use(g, i);
        if (!u.matrix && !u.table && !u.other) continue;
        if (w->type.dtype == DT_F32 && w->data) {
            if (u.matrix && !upload_f16(e, w, &e->weight_h16[i], err)) return false;
            if ((u.table || u.other) && !upload_f32(e, w, u, &e->weight_dev[i], err)) return false;
        } else if (w->type.dtype == DT_Q4 && w->packed && w->layout && strcmp(w->layout, "awq-gemm") == 0) {
            if (!upload(e, w->packed, w->packed_size, &e->weight_dev[i], err)) return false;
            e->weight_bytes_per_token += (double)w->packed_size;
        } else {
            return awqc_fail(err, "weight '%s' (%s) is neither bound f32 data nor q4 packed as awq-gemm; compile the "
                             "model with --target cuda:sm_XX first", w->name, ir_dtype_name(w->type.dtype));
        }
    }
    return true;
}

// A node's slot (plan-memory's buf), or -1 when it must have its own buffer:
// no buf, or a buf shared with one of its operands (a kernel must not read
// and write the same rows).
static int node_slot(const Graph *g, int i) {
    const Node *n = &g->nodes[i];
    int buf = (int)ir_node_attr_int(n, "buf", -1);
    for (int k = 0; buf >= 0 && k < n->n_in; k++)
        if (n->in[k].kind == OPND_NODE && ir_node_attr_int(&g->nodes[n->in[k].index], "buf", -2) == buf) return -1;
    return buf;
}

static bool alloc_values(CudaEngine *e, AwqcError *err) {
    const Graph *g = e->g;
    e->value_dev = xcalloc(g->n_nodes, sizeof *e->value_dev);
    int n_slots = 0;
    for (size_t i = 0; i < g->n_nodes; i++) n_slots = node_slot(g, (int)i) + 1 > n_slots ? node_slot(g, (int)i) + 1 : n_slots;
    int64_t *slot_bytes = xcalloc((size_t)n_slots + 1, sizeof *slot_bytes);
    for (size_t i = 0; i < g->n_nodes; i++) {
        int s = node_slot(g, (int)i);
        int64_t bytes = 4 * ir_row_width(&g->nodes[i].type) * e->n_ctx;
        if (s >= 0 && bytes > slot_bytes[s]) slot_bytes[s] = bytes;
    }
    CUdeviceptr *slot_dev = xcalloc((size_t)n_slots + 1, sizeof *slot_dev);
    bool ok = true;
    for (int s = 0; ok && s < n_slots; s++)
        if (slot_bytes[s]) ok = dev_alloc(e, (size_t)slot_bytes[s], &slot_dev[s], err);
    for (size_t i = 0; ok && i < g->n_nodes; i++) {
        int s = node_slot(g, (int)i);
        if ((int)i == e->input_node) e->value_dev[i] = e->ids;
        else if (s >= 0) e->value_dev[i] = slot_dev[s];
        else ok = dev_alloc(e, (size_t)(4 * ir_row_width(&g->nodes[i].type) * e->n_ctx), &e->value_dev[i], err);
    }
    free(slot_bytes);
    free(slot_dev);
    return ok;
}

// KV cache per attention node, the scratch the largest node needs, and the
// partial sums and counts of the GEMVs that split K (fewer than CUDA_MMA_MIN_T tokens).
static bool alloc_state(CudaEngine *e, AwqcError *err) {
    const Graph *g = e->g;
    e->kv_k = xcalloc(g->n_nodes, sizeof *e->kv_k);
    e->kv_v = xcalloc(g->n_nodes, sizeof *e->kv_v);
    int64_t scratch = 1, part = 1, done = 1;
    for (size_t i = 0; i < g->n_nodes; i++) {
        CudaNodeLaunches a, b;
        if (!cuda_node_launches(g, (int)i, 1, &a, err) || !cuda_node_launches(g, (int)i, CUDA_MMA_MIN_T, &b, err))
            return false;
        AWQC_ASSERT(b.part_per_token == 0 && b.done_per_token == 0); // split GEMVs stay below CUDA_MMA_MIN_T
        scratch = a.scratch_per_token > scratch ? a.scratch_per_token : scratch;
        scratch = b.scratch_per_token > scratch ? b.scratch_per_token : scratch;
        part = a.part_per_token > part ? a.part_per_token : part;
        done = a.done_per_token > done ? a.done_per_token : done;
        if (!a.uses_kv) continue;
        const Node *n = &g->nodes[i];
        size_t kv = 4 * (size_t)e->n_ctx * (size_t)(ir_node_attr_int(n, "kv_heads", 0) * ir_node_attr_int(n, "head_dim", 0));
        if (!dev_alloc(e, kv, &e->kv_k[i], err) || !dev_alloc(e, kv, &e->kv_v[i], err)) return false;
    }
    int split_tokens = e->n_ctx < CUDA_MMA_MIN_T - 1 ? e->n_ctx : CUDA_MMA_MIN_T - 1;
    return dev_alloc(e, 4 * (size_t)scratch * (size_t)e->n_ctx, &e->scratch, err) &&
           dev_alloc(e, 4 * (size_t)part * (size_t)split_tokens, &e->part, err) &&
           dev_alloc(e, 4 * (size_t)done * (size_t)split_tokens, &e->done, err) &&
           dev_alloc(e, 4 * (size_t)e->n_ctx, &e->ids, err) && dev_alloc(e, 4, &e->pos_dev, err) &&
           dev_alloc(e, 4, &e->argmax_dev, err);
}

// ----------------------------------------------------------------------------
// the module: the artifact's code that this GPU runs (cuda_arch.h decides),
// else (a model without CUDA code, in a build with NVRTC) code generated now

static bool load_image(CudaEngine *e, const void *image, const char *how, AwqcError *err) {
    if (!cuda_check(&e->d, e->d.ModuleLoadData(&e->module, image), "cuModuleLoadData", err)) return false;
    snprintf(e->desc, sizeof e->desc, "%s (sm_%d), module from %s", e->d.name, e->d.sm, how);
    return true;
}

static bool load_from_artifact(CudaEngine *e, const Model *m, AwqcError *err) {
    CudaCodeChoice c;
    if (!cuda_select_artifact_code(m->artifact, m->path, e->d.sm, &c, err)) {
        e->refusal = GPU_OTHER_ARCH;
        return false;
    }
    uint64_t size = 0;
    const uint8_t *code = artifact_find(m->artifact, c.section, &size);
    char how[AWQX_NAME_MAX + 48];
    snprintf(how, sizeof how, "the artifact's %s%s", c.section, c.kind == CUDA_CODE_PTX ? " (JIT)" : "");
    if (c.kind == CUDA_CODE_CUBIN) return load_image(e, code, how, err);
    char *text = xstrndup((const char *)code, (size_t)size); // the driver wants PTX NUL-terminated
    bool ok = load_image(e, text, how, err);
    free(text);
    return ok;
}

#ifdef AWQC_CUDA_NVRTC
static bool generate_module(CudaEngine *e, const Model *m, AwqcError *err) {
    (void)m;
    char *src = cuda_emit_source(e->g, err);
    if (!src) return false;
    CudaBytes ptx = {0};
    int sm = e->d.sm > 90 ? 90 : e->d.sm; // newest arch the generator is tested on; the driver JITs up
    bool ok = cuda_nvrtc_ptx(src, sm, &ptx, err) && load_image(e, ptx.data, "PTX generated at load", err);
    free(src);
    free(ptx.data);
    return ok;
}
#else
// The runtime built without NVRTC (the cross-built aarch64 one) runs only
// code compiled ahead of time.
static bool generate_module(CudaEngine *e, const Model *m, AwqcError *err) {
    return awqc_fail(err, "%s: holds no CUDA code, and this awqc was built without NVRTC to generate it: compile "
                     "it with --target cuda:sm_%d", m->path, e->d.sm);
}
#endif

static bool load_module(CudaEngine *e, const Model *m, AwqcError *err) {
    if (m->artifact && cuda_artifact_has_code(m->artifact)) return load_from_artifact(e, m, err);
    return generate_module(e, m, err);
}

static KernelFn *kernel(CudaEngine *e, const char *name, AwqcError *err) {
    for (size_t i = 0; i < e->n_fns; i++)
        if (strcmp(e->fns[i].name, name) == 0) return &e->fns[i];
    CUfunction f;
    char what[320]; // (said only on failure; kernel names spell their template arguments, which change)
    snprintf(what, sizeof what, "cuModuleGetFunction(%s) (a kernel the module lacks: an artifact from another "
             "awqc version must be compiled again)", name);
    if (!cuda_check(&e->d, e->d.ModuleGetFunction(&f, e->module, name), what, err)) return NULL;
    GROW(e->fns, e->cap_fns, e->n_fns + 1);
    KernelFn *k = &e->fns[e->n_fns++];
    *k = (KernelFn){.f = f};
    snprintf(k->name, sizeof k->name, "%s", name);
    return k;
}

// ----------------------------------------------------------------------------
// running nodes

static KArgsHost node_args(const CudaEngine *e, int i, int T) {
    const Node *n = &e->g->nodes[i];
    KArgsHost a = {.out = e->value_dev[i], .kc = e->kv_k[i], .vc = e->kv_v[i], .scratch = e->scratch,
                   .part = e->part, .done = e->done, .ids = e->ids, .pos = e->pos_dev, .out_i = e->argmax_dev, .T = T,
                   .eps = (float)ir_node_attr_float(n, "eps", 1e-5),
                   .theta = (float)ir_node_attr_float(n, "theta", 10000.0)};
    int matrix = ir_linear_matrix_operand(n);
    for (int k = 0; k < n->n_in && k < 4; k++) {
        int idx = n->in[k].index;
        if (n->in[k].kind == OPND_NODE) a.in[k] = e->value_dev[idx];
        else a.in[k] = k == matrix && e->weight_h16[idx] ? e->weight_h16[idx] : e->weight_dev[idx];
    }
    return a;
}

static unsigned launch_smem(const CudaEngine *e, const CudaLaunch *l) {
    return l->smem_ctx ? 4u * (unsigned)(l->smem_head_dim + e->n_ctx) : 0;
}

// The launch's kernel, with its dynamic shared memory limit set; NULL with err.
// Raised whenever there is dynamic shared memory at all: the default 48 KiB
// counts the kernel's static shared memory too.
static KernelFn *ready_kernel(CudaEngine *e, const CudaLaunch *l, AwqcError *err) {
    unsigned smem = launch_smem(e, l);
    KernelFn *k = kernel(e, l->name, err);
    if (!k || smem == 0 || k->smem_set >= (int)smem) return k;
    if (!cuda_check(&e->d, e->d.FuncSetAttribute(k->f, CUDA_FUNC_ATTR_MAX_DYN_SMEM, (int)smem),
                    "cuFuncSetAttribute (attention scores for the context)", err))
        return NULL;
    k->smem_set = (int)smem;
    return k;
}

static bool launch(CudaEngine *e, const CudaLaunch *l, KArgsHost *a, int T, AwqcError *err) {
    KernelFn *k = ready_kernel(e, l, err);
    if (!k) return false;
    unsigned smem = launch_smem(e, l);
    unsigned gy = l->grid_y == CUDA_GRID_T ? (unsigned)T : l->grid_y == CUDA_GRID_T64 ? (unsigned)(T + 63) / 64 : 1;
    void *params[] = {a};
    return cuda_check(&e->d, e->d.LaunchKernel(k->f, (unsigned)l->grid_x, gy, 1, (unsigned)l->block_x,
                                               (unsigned)l->block_y, 1, smem, e->stream, params, NULL),
                      l->name, err);
}

// The node whose value a launch with x_through_producer reads: operand 0
// of node i's operand 0.
static int producer_input(const Graph *g, int i) {
    const Node *producer = &g->nodes[g->nodes[i].in[0].index];
    AWQC_ASSERT(g->nodes[i].in[0].kind == OPND_NODE && producer->in[0].kind == OPND_NODE);
    return producer->in[0].index;
}

static bool run_nodes(CudaEngine *e, int T, AwqcError *err) {
    for (size_t i = 0; i < e->g->n_nodes; i++) {
        CudaNodeLaunches nl;
        if (!cuda_node_launches(e->g, (int)i, T, &nl, err)) return false;
        KArgsHost a = node_args(e, (int)i, T);
        for (int k = 0; k < nl.n; k++) {
            KArgsHost la = a;
            if (nl.l[k].x_through_producer) la.in[0] = e->value_dev[producer_input(e->g, (int)i)];
            if (!launch(e, &nl.l[k], &la, T, err)) return false;
        }
    }
    return true;
}

// Calls visit on every launch of the T-token step, in order; false at the
// first that fails.
typedef bool (*LaunchVisit)(CudaEngine *e, const CudaLaunch *l, AwqcError *err);
static bool each_step_launch(CudaEngine *e, int T, LaunchVisit visit, AwqcError *err) {
    for (size_t i = 0; i < e->g->n_nodes; i++) {
        CudaNodeLaunches nl;
        if (!cuda_node_launches(e->g, (int)i, T, &nl, err)) return false;
        for (int k = 0; k < nl.n; k++)
            if (!visit(e, &nl.l[k], err)) return false;
    }
    return true;
}

// Looks a launch's kernel up and sets its attributes ahead of a capture: with
// lazy loading (the default since CUDA 12.2) cuModuleGetFunction is where a
// kernel is loaded, which must not happen while a stream is captured.
static bool ready_launch(CudaEngine *e, const CudaLaunch *l, AwqcError *err) { return ready_kernel(e, l, err) != NULL; }

// The decode step (T = 1) recorded once; the ids and position it reads are
// device memory written before each replay.
static bool capture_decode(CudaEngine *e, AwqcError *err) {
    if (!each_step_launch(e, 1, ready_launch, err)) return false;
    if (!cuda_check(&e->d, e->d.StreamBeginCapture(e->stream, CUDA_CAPTURE_THREAD_LOCAL), "cuStreamBeginCapture", err))
        return false;
    AwqcError launch_err = {{0}};
    bool ok = run_nodes(e, 1, &launch_err);
    CUresult r = e->d.StreamEndCapture(e->stream, &e->graph);
    if (!ok) return awqc_fail(err, "%s", launch_err.msg);
    return cuda_check(&e->d, r, "cuStreamEndCapture", err) &&
           cuda_check(&e->d, e->d.GraphInstantiate(&e->graph_exec, e->graph, 0), "cuGraphInstantiate", err);
}

// ----------------------------------------------------------------------------
// the engine

static bool check_plan(CudaEngine *e, AwqcError *err) {
    const Graph *g = e->g;
    e->input_node = -1;
    for (size_t i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].op == OP_INPUT) e->input_node = (int)i;
    if (e->input_node < 0 || g->n_outputs == 0) return awqc_fail(err, "the plan needs a token input and an output");
    e->vocab = ir_row_width(&g->nodes[g->outputs[0]].type);
    e->id_limit = ir_embedding_rows(g);
    return true;
}

// Attention keeps a row of scores for the whole context in shared memory:
// a context this GPU cannot hold is refused before anything is allocated.
#define ATTN_STATIC_SMEM 1024 // bytes the attention kernels declare themselves (at most 388), rounded up
static bool ctx_fits(CudaEngine *e, const CudaLaunch *l, AwqcError *err) {
    long need = (long)launch_smem(e, l) + ATTN_STATIC_SMEM;
    if (!l->smem_ctx || need <= e->d.smem_optin) return true;
    long most = ((long)e->d.smem_optin - ATTN_STATIC_SMEM) / 4 - l->smem_head_dim;
    return awqc_fail(err, "a context of %d tokens needs %ld bytes of shared memory in attention, and this GPU (%s) "
                     "gives a block at most %d: use --ctx %ld or less", e->n_ctx, need, e->d.name, e->d.smem_optin,
                     most);
}

// The allocations' zeroing and the weight copies run on the legacy stream,
// which the engine's non-blocking stream does not wait for: they must be
// done before the first forward.
static bool setup(CudaEngine *e, const Model *m, AwqcError *err) {
    return check_plan(e, err) && each_step_launch(e, 1, ctx_fits, err) && load_module(e, m, err) &&
           cuda_check(&e->d, e->d.StreamCreate(&e->stream, CUDA_STREAM_NON_BLOCKING), "cuStreamCreate", err) &&
           upload_weights(e, err) && alloc_state(e, err) && alloc_values(e, err) &&
           cuda_check(&e->d, e->d.CtxSynchronize(), "cuCtxSynchronize (after the uploads)", err);
}

CudaEngine *cuda_engine_open(const Model *m, int n_ctx, GpuRefusal *why, AwqcError *err) {
    *why = GPU_FAULT;
    if (n_ctx <= 0) return awqc_fail(err, "context size must be positive, got %d", n_ctx), NULL;
    CudaEngine *e = xcalloc(1, sizeof *e);
    if (!cuda_driver_open(&e->d, err)) {
        *why = GPU_ABSENT;
        free(e);
        return NULL;
    }
    e->g = m->graph;
    e->n_ctx = n_ctx;
    snprintf(e->name, sizeof e->name, "cuda sm_%d (%s)", e->d.sm, e->d.name);
    if (!setup(e, m, err)) {
        *why = e->refusal;
        cuda_engine_free(e);
        return NULL;
    }
    return e;
}

CudaEngine *cuda_engine_new(const Model *m, int n_ctx, AwqcError *err) {
    GpuRefusal why;
    return cuda_engine_open(m, n_ctx, &why, err);
}

// A CUDA context is current per host thread, and awqc serve opens the engine
// on its main thread but runs it on a worker: every entry point that calls
// the driver makes the engine's context current on the calling thread first.
static bool use_context(CudaEngine *e, AwqcError *err) {
    return cuda_check(&e->d, e->d.CtxSetCurrent(e->d.ctx), "cuCtxSetCurrent", err);
}

void cuda_engine_free(CudaEngine *e) {
    if (!e) return;
    AwqcError ignored;
    use_context(e, &ignored);
    if (e->graph_exec) e->d.GraphExecDestroy(e->graph_exec);
    if (e->graph) e->d.GraphDestroy(e->graph);
    for (size_t i = 0; i < e->n_allocs; i++) e->d.MemFree(e->allocs[i]);
    if (e->module) e->d.ModuleUnload(e->module);
    if (e->stream) e->d.StreamDestroy(e->stream);
    cuda_driver_close(&e->d);
    free(e->allocs);
    free(e->fns);
    free(e->weight_dev);
    free(e->weight_h16);
    free(e->value_dev);
    free(e->kv_k);
    free(e->kv_v);
    free(e->logits);
    free(e);
}

static bool run_step(CudaEngine *e, int n, AwqcError *err) {
    if (n > 1) return run_nodes(e, n, err);
    if (!e->graph_exec && !capture_decode(e, err)) return false;
    return cuda_check(&e->d, e->d.GraphLaunch(e->graph_exec, e->stream), "cuGraphLaunch", err);
}

const float *cuda_engine_forward(CudaEngine *e, const int32_t *ids, int n, bool all_rows, AwqcError *err) {
    if (!step_check_tokens(ids, n, e->pos, e->n_ctx, e->id_limit, err) || !use_context(e, err)) return NULL;
    int pos = e->pos;
    if (!cuda_check(&e->d, e->d.MemcpyHtoDAsync(e->ids, ids, sizeof(int32_t) * (size_t)n, e->stream), "ids", err) ||
        !cuda_check(&e->d, e->d.MemcpyHtoDAsync(e->pos_dev, &pos, sizeof pos, e->stream), "position", err) ||
        !run_step(e, n, err))
        return NULL;
    size_t rows = all_rows ? (size_t)n : 1, first = all_rows ? 0 : (size_t)n - 1;
    GROW(e->logits, e->logits_cap, rows * (size_t)e->vocab);
    CUdeviceptr src = e->value_dev[e->g->outputs[0]] + sizeof(float) * first * (size_t)e->vocab;
    if (!cuda_check(&e->d, e->d.MemcpyDtoHAsync(e->logits, src, sizeof(float) * rows * (size_t)e->vocab, e->stream),
                    "logits", err) ||
        !cuda_check(&e->d, e->d.StreamSynchronize(e->stream), "forward", err))
        return NULL;
    e->pos += n;
    e->last_n = n; // argmax reads the last of these rows
    return e->logits;
}

bool cuda_engine_argmax(CudaEngine *e, int32_t *id, AwqcError *err) {
    if (!e->last_n) return awqc_fail(err, "argmax before any forward");
    CudaLaunch l;
    cuda_argmax_launch(e->vocab, &l);
    KArgsHost a = {.in = {e->value_dev[e->g->outputs[0]]}, .out_i = e->argmax_dev, .T = e->last_n};
    return use_context(e, err) && launch(e, &l, &a, 1, err) &&
           cuda_check(&e->d, e->d.MemcpyDtoHAsync(id, e->argmax_dev, sizeof *id, e->stream), "argmax", err) &&
           cuda_check(&e->d, e->d.StreamSynchronize(e->stream), "argmax", err);
}

int cuda_engine_pos(const CudaEngine *e) { return e->pos; }
int cuda_engine_n_ctx(const CudaEngine *e) { return e->n_ctx; }
int64_t cuda_engine_vocab(const CudaEngine *e) { return e->vocab; }
const char *cuda_engine_describe(const CudaEngine *e) { return e->desc; }
const char *cuda_engine_name(const CudaEngine *e) { return e->name; }
const char *cuda_engine_device(const CudaEngine *e) { return e->d.name; }
int cuda_engine_sm(const CudaEngine *e) { return e->d.sm; }
double cuda_engine_weight_bytes_per_token(const CudaEngine *e) { return e->weight_bytes_per_token; }
void cuda_engine_rewind(CudaEngine *e, int pos) {
    AWQC_ASSERT(pos >= 0 && pos <= e->pos);
    e->pos = pos;
}

// ----------------------------------------------------------------------------
// probes

int cuda_device_sm(char *name, size_t cap, AwqcError *err) {
    CudaDriver d;
    if (!cuda_driver_open(&d, err)) return 0;
    if (name && cap) snprintf(name, cap, "%s", d.name);
    int sm = d.sm;
    cuda_driver_close(&d);
    return sm;
}

bool cuda_available(AwqcError *err) { return cuda_device_sm(NULL, 0, err) > 0; }

static double time_copies(CudaDriver *d, CUdeviceptr a, CUdeviceptr b, size_t bytes, AwqcError *err) {
    CUevent t0, t1;
    float ms = 0;
    if (!cuda_check(d, d->EventCreate(&t0, 0), "cuEventCreate", err)) return -1;
    if (!cuda_check(d, d->EventCreate(&t1, 0), "cuEventCreate", err)) return -1;
    d->MemcpyDtoD(b, a, bytes); // warm-up
    enum { REPS = 10 };
    d->EventRecord(t0, NULL);
    for (int i = 0; i < REPS; i++) d->MemcpyDtoD(b, a, bytes);
    d->EventRecord(t1, NULL);
    bool ok = cuda_check(d, d->EventSynchronize(t1), "copy", err) &&
              cuda_check(d, d->EventElapsedTime(&ms, t0, t1), "cuEventElapsedTime", err);
    d->EventDestroy(t0);
    d->EventDestroy(t1);
    return ok && ms > 0 ? 2.0 * (double)bytes * REPS / (ms * 1e-3) / 1e9 : -1; // read + write
}

double cuda_copy_bandwidth(size_t bytes, AwqcError *err) {
    CudaDriver d;
    if (!cuda_driver_open(&d, err)) return -1;
    CUdeviceptr a = 0, b = 0;
    double gbs = -1;
    if (cuda_check(&d, d.MemAlloc(&a, bytes), "cuMemAlloc", err) && cuda_check(&d, d.MemAlloc(&b, bytes), "cuMemAlloc", err))
        gbs = time_copies(&d, a, b, bytes, err);
    if (a) d.MemFree(a);
    if (b) d.MemFree(b);
    cuda_driver_close(&d);
    return gbs;
}
