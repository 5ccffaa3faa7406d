// codegen.c: cuda_codegen, the one entry `awqc compile --target cuda:sm_XX`
// calls: the plan's .cu text, its PTX from NVRTC, a cubin from ptxas when the
// toolkit has one, and a JSON index of the kernels each node launches, as the
// artifact sections code.cuda.*.
#include "codegen/cuda/cuda_codegen.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

// ----------------------------------------------------------------------------
// code.cuda.kernels

static const char *grid_y_name(CudaGridY gy) {
    return gy == CUDA_GRID_T ? "T" : gy == CUDA_GRID_T64 ? "ceil(T/64)" : "1";
}

static cJSON *launch_json(const CudaLaunch *l) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "kernel", l->name);
    cJSON *grid = cJSON_AddArrayToObject(o, "grid");
    cJSON_AddItemToArray(grid, cJSON_CreateNumber(l->grid_x));
    cJSON_AddItemToArray(grid, cJSON_CreateString(grid_y_name(l->grid_y)));
    cJSON *block = cJSON_AddArrayToObject(o, "block");
    cJSON_AddItemToArray(block, cJSON_CreateNumber(l->block_x));
    cJSON_AddItemToArray(block, cJSON_CreateNumber(l->block_y));
    if (l->smem_ctx) {
        char smem[64];
        snprintf(smem, sizeof smem, "4*(%d+n_ctx)", l->smem_head_dim);
        cJSON_AddStringToObject(o, "dynamic_smem", smem);
    }
    if (l->x_through_producer) cJSON_AddStringToObject(o, "x", "the operand of the folded silu_mul");
    return o;
}

static cJSON *launches_json(const CudaNodeLaunches *nl) {
    cJSON *a = cJSON_CreateArray();
    for (int k = 0; k < nl->n; k++) cJSON_AddItemToArray(a, launch_json(&nl->l[k]));
    return a;
}

static bool add_node_json(const Graph *g, int i, cJSON *nodes, AwqcError *err) {
    CudaNodeLaunches dec, pre;
    if (!cuda_node_launches(g, i, 1, &dec, err) || !cuda_node_launches(g, i, CUDA_MMA_MIN_T, &pre, err)) return false;
    if (dec.n == 0 && pre.n == 0) return true; // the input; a silu_mul folded at decode still has its prefill launch
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "node", i);
    cJSON_AddStringToObject(o, "op", ir_op_name(g->nodes[i].op));
    cJSON_AddItemToObject(o, "decode", launches_json(&dec));
    cJSON_AddItemToObject(o, "prefill", launches_json(&pre));
    cJSON_AddItemToArray(nodes, o);
    return true;
}

static char *kernels_json(const Graph *g, const char *target, bool cubin, AwqcError *err) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "target", target);
    char *nvrtc = cuda_nvrtc_describe();
    cJSON_AddStringToObject(root, "compiler", nvrtc);
    free(nvrtc);
    cJSON_AddBoolToObject(root, "cubin", cubin);
    cJSON_AddNumberToObject(root, "prefill_mma_min_tokens", CUDA_MMA_MIN_T);
    cJSON *nodes = cJSON_AddArrayToObject(root, "nodes");
    bool ok = true;
    for (size_t i = 0; ok && i < g->n_nodes; i++) ok = add_node_json(g, (int)i, nodes, err);
    char *s = ok ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    if (!s) return NULL;
    char *copy = xstrdup(s); // ours to free with free(), whatever cJSON's allocator
    cJSON_free(s);
    return copy;
}

// ----------------------------------------------------------------------------

static void add_section(CudaCode *c, const char *name, const void *data, size_t size) {
    AWQC_ASSERT(c->n_sections < CUDA_MAX_SECTIONS && strlen(name) < AWQX_NAME_MAX);
    int k = c->n_sections++;
    snprintf(c->names[k], sizeof c->names[k], "%s", name);
    c->section_data[k] = data;
    c->section_size[k] = size;
}

// The arch's code under the names the runtime looks for (cuda_arch.h).
static void add_code_section(CudaCode *c, CudaCodeKind kind, const CudaBytes *code) {
    char name[AWQX_NAME_MAX];
    cuda_code_section_name(c->sm, kind, name);
    add_section(c, name, code->data, code->size);
}

bool cuda_codegen(const Graph *g, const char *target, CudaCode *out, AwqcError *err) {
    memset(out, 0, sizeof *out);
    out->sm = cuda_target_sm(target);
    if (!out->sm) return awqc_fail(err, "'%s' is not a CUDA target (cuda:sm_80, cuda:sm_87, cuda:sm_90)", target);
    out->source = cuda_emit_source(g, err);
    if (!out->source || !cuda_nvrtc_ptx(out->source, out->sm, &out->ptx, err)) goto fail;
    const char *ptxas = cuda_find_ptxas();
    if (ptxas && !cuda_ptxas_cubin(ptxas, &out->ptx, out->sm, &out->cubin, err)) goto fail;
    out->kernels_json = kernels_json(g, target, ptxas != NULL, err);
    if (!out->kernels_json) goto fail;
    add_code_section(out, CUDA_CODE_PTX, &out->ptx);
    if (out->cubin.size) add_code_section(out, CUDA_CODE_CUBIN, &out->cubin);
    add_section(out, AWQX_SEC_CUDA_KERNELS, out->kernels_json, strlen(out->kernels_json));
    add_section(out, AWQX_SEC_CUDA_SOURCE, out->source, strlen(out->source));
    return true;
fail:
    cuda_code_free(out);
    return false;
}

void cuda_code_free(CudaCode *c) {
    free(c->source);
    free(c->ptx.data);
    free(c->cubin.data);
    free(c->kernels_json);
    memset(c, 0, sizeof *c);
}
