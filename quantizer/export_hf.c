// export_hf.c: the Hugging Face folder writer (export_hf.h). It gathers one
// safetensors entry list from the graph's weights and the report's codes,
// writes config.json from the hyper-parameters the model description read
// (graph metadata "hf:<key>"), the tokenizer, and a record of how the model
// was quantized, all in a temporary folder renamed into place at the end.
#include "quantizer/export_hf.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "frontend/ckpt/safetensors_write.h"
#include "ir/uses.h"
#include "quantizer/awq_gemm.h"
#include "runtime/tokenizer/tok_export.h"

// ----------------------------------------------------------------------------
// The tensor list (entries plus the buffers and names they point at)

typedef struct {
    StOutTensor *t;
    size_t n, cap;
    void **owned;
    size_t n_owned, cap_owned;
} TensorList;

static void *own(TensorList *l, void *p) {
    GROW(l->owned, l->cap_owned, l->n_owned + 1);
    l->owned[l->n_owned++] = p;
    return p;
}

static void add_tensor(TensorList *l, char *name, StorageType type, int64_t d0, int64_t d1, const void *data) {
    GROW(l->t, l->cap, l->n + 1);
    l->t[l->n++] = (StOutTensor){.name = own(l, name), .type = type, .rank = d1 > 0 ? 2 : 1,
                                 .shape = {d0, d1 > 0 ? d1 : 0}, .data = data};
}

static void tensor_list_free(TensorList *l) {
    for (size_t i = 0; i < l->n_owned; i++) free(l->owned[i]);
    free(l->owned);
    free(l->t);
}

// ----------------------------------------------------------------------------
// Which weights are what

// GGUF stores Q and K rows permuted so that rotated pairs are adjacent (rope
// mode "pairs"); Hugging Face rotates the halves of each head. For the matrix
// of a linear feeding such a rope: order[r] = the graph row of HF row r.
static int64_t *hf_row_order(const Graph *g, int w) {
    int lin = ir_linear_of_matrix(g, w), rope = lin >= 0 ? ir_first_reader(g, lin, OP_ROPE) : -1;
    if (rope < 0) return NULL;
    const Node *n = &g->nodes[rope];
    if (strcmp(ir_node_attr_string(n, "mode", "halves"), "pairs")) return NULL;
    int64_t heads = ir_node_attr_int(n, "heads", 0), hd = ir_node_attr_int(n, "head_dim", 0), half = hd / 2;
    AWQC_ASSERT(heads > 0 && hd > 0 && hd % 2 == 0 && heads * hd == g->weights[w].type.dims[0].size);
    int64_t *order = xmalloc(sizeof(int64_t) * (size_t)(heads * hd));
    for (int64_t h = 0; h < heads; h++)
        for (int64_t r = 0; r < hd; r++) order[h * hd + r] = h * hd + 2 * (r % half) + r / half;
    return order;
}

static void permute_rows(void *dst, const void *src, const int64_t *order, int64_t rows, size_t row_bytes) {
    for (int64_t r = 0; r < rows; r++)
        memcpy((char *)dst + (size_t)r * row_bytes, (const char *)src + (size_t)order[r] * row_bytes, row_bytes);
}

// A copy of m with its rows in HF order (codes, scales and zero points move together).
static QuantMatrix permuted_matrix(const QuantMatrix *m, const int64_t *order) {
    QuantMatrix p = *m;
    int64_t ng = quant_n_groups(m);
    p.q = xmalloc((size_t)(m->rows * m->cols));
    p.scales = xmalloc(sizeof(uint16_t) * (size_t)(m->rows * ng));
    p.zeros = xmalloc((size_t)(m->rows * ng));
    permute_rows(p.q, m->q, order, m->rows, (size_t)m->cols);
    permute_rows(p.scales, m->scales, order, m->rows, sizeof(uint16_t) * (size_t)ng);
    permute_rows(p.zeros, m->zeros, order, m->rows, (size_t)ng);
    return p;
}

// ----------------------------------------------------------------------------
// Tensors of one weight

static bool add_gemm(TensorList *l, const char *base, const QuantMatrix *m, AwqcError *err) {
    AwqGemm p;
    if (!awq_gemm_pack(m, &p, err)) return awqc_fail(err, "%s: %s", base, err->msg);
    add_tensor(l, awqc_asprintf("%s.qweight", base), ST_I32, p.in, p.out / 8, own(l, p.qweight));
    add_tensor(l, awqc_asprintf("%s.qzeros", base), ST_I32, p.in / p.group, p.out / 8, own(l, p.qzeros));
    add_tensor(l, awqc_asprintf("%s.scales", base), ST_F16, p.in / p.group, p.out, own(l, p.scales));
    return true;
}

static bool add_u3(TensorList *l, const char *base, const QuantMatrix *m) {
    int64_t ng = quant_n_groups(m);
    uint8_t *zeros = own(l, xmalloc((size_t)(m->rows * ng)));
    uint16_t *scales = own(l, xmalloc(sizeof(uint16_t) * (size_t)(m->rows * ng)));
    memcpy(zeros, m->zeros, (size_t)(m->rows * ng));
    memcpy(scales, m->scales, sizeof(uint16_t) * (size_t)(m->rows * ng));
    add_tensor(l, awqc_asprintf("%s.qcodes", base), ST_U8, m->rows, m->cols / 8 * 3, own(l, awqc_u3_pack(m)));
    add_tensor(l, awqc_asprintf("%s.qzeros", base), ST_U8, m->rows, ng, zeros);
    add_tensor(l, awqc_asprintf("%s.scales", base), ST_F16, m->rows, ng, scales);
    return true;
}

// "X.weight" -> "X"; NULL when the name does not end so.
static char *module_of(const char *hf_name) {
    size_t n = strlen(hf_name), s = strlen(".weight");
    if (n <= s || strcmp(hf_name + n - s, ".weight")) return NULL;
    char *base = xstrdup(hf_name);
    base[n - s] = '\0';
    return base;
}

static bool add_quantized(TensorList *l, const Weight *wt, const QuantMatrix *m, const int64_t *order,
                          AwqcError *err) {
    char *base = module_of(wt->hf_name);
    if (!base) return awqc_fail(err, "weight '%s': its Hugging Face name '%s' does not end in .weight", wt->name,
                                wt->hf_name);
    QuantMatrix pm = order ? permuted_matrix(m, order) : *m;
    bool ok = m->bits == 4 ? add_gemm(l, base, &pm, err)
              : m->bits == 3 ? add_u3(l, base, &pm)
                             : awqc_fail(err, "weight '%s': %d-bit codes cannot be exported (3 or 4 bits)", wt->name,
                                         m->bits);
    if (order) quant_matrix_free(&pm);
    free(base);
    return ok;
}

static void add_float(TensorList *l, const Weight *wt, const int64_t *order) {
    int64_t rows = wt->type.dims[0].size, n = ir_type_elements(&wt->type);
    const float *data = wt->data;
    if (order) {
        float *p = own(l, xmalloc(sizeof(float) * (size_t)n));
        permute_rows(p, wt->data, order, rows, sizeof(float) * (size_t)(n / rows));
        data = p;
    }
    int64_t d1 = wt->type.rank == 2 ? wt->type.dims[1].size : 0;
    add_tensor(l, xstrdup(wt->hf_name), ST_F32, rows, d1, data);
}

static bool gather_tensors(const Graph *g, const QuantReport *rep, TensorList *l, AwqcError *err) {
    for (size_t w = 0; w < g->n_weights; w++) {
        const Weight *wt = &g->weights[w];
        if (!wt->hf_name) return awqc_fail(err, "weight '%s' has no Hugging Face name in the model description", wt->name);
        if (!wt->data || wt->type.rank < 1 || wt->type.rank > 2)
            return awqc_fail(err, "weight '%s' is not a bound vector or matrix", wt->name);
        int64_t *order = hf_row_order(g, (int)w);
        const QuantMatrix *m = w < rep->n_weights && rep->codes[w].q ? &rep->codes[w] : NULL;
        bool ok = true;
        if (m) ok = add_quantized(l, wt, m, order, err);
        else add_float(l, wt, order);
        free(order);
        if (!ok) return false;
    }
    return true;
}

// ----------------------------------------------------------------------------
// config.json

// Sets a dotted key ("rope_parameters.rope_theta") as nested objects.
static void set_nested(cJSON *obj, const char *key, cJSON *value) {
    const char *dot = strchr(key, '.');
    if (!dot) {
        cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
        cJSON_AddItemToObject(obj, key, value);
        return;
    }
    char *head = xstrdup(key);
    head[dot - key] = '\0';
    cJSON *child = cJSON_GetObjectItemCaseSensitive(obj, head);
    if (!cJSON_IsObject(child)) {
        cJSON_DeleteItemFromObjectCaseSensitive(obj, head);
        child = cJSON_AddObjectToObject(obj, head);
    }
    set_nested(child, dot + 1, value);
    free(head);
}

// A GGUF stores hyper-parameters such as rms_norm_eps as f32: 1e-5 arrives as
// 9.99999974737875e-06. Such a value is written as the shortest decimal that
// reads back as the same float ("1e-05"), the way Hugging Face configs have it.
static cJSON *float_json(double v) {
    float f = (float)v;
    if ((double)f != v || !isfinite(f)) return cJSON_CreateNumber(v);
    char buf[32];
    for (int p = 1; p <= 9; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, (double)f);
        if (strtof(buf, NULL) == f) break;
    }
    if (!strpbrk(buf, ".eEn")) strcat(buf, ".0"); // stays a float in JSON readers that care
    return cJSON_CreateRaw(buf);
}

static cJSON *attr_json(const Attr *a) {
    switch (a->kind) {
    case ATTR_INT: return cJSON_CreateNumber((double)a->i);
    case ATTR_FLOAT: return float_json(a->f);
    case ATTR_STRING: return cJSON_CreateString(a->s);
    }
    return cJSON_CreateNull();
}

// "llama" -> "LlamaForCausalLM", transformers' naming for decoder models.
static char *architecture_of(const char *model) {
    char *a = awqc_asprintf("%sForCausalLM", model);
    a[0] = (char)toupper((unsigned char)a[0]);
    return a;
}

// Linear modules left in floating point (not tied to the embedding).
static cJSON *modules_not_converted(const Graph *g, const QuantReport *rep) {
    cJSON *list = cJSON_CreateArray();
    for (size_t w = 0; w < g->n_weights; w++) {
        if (ir_linear_of_matrix(g, (int)w) < 0 || ir_is_embedding_table(g, (int)w) ||
            (w < rep->n_weights && rep->codes[w].q))
            continue;
        char *base = module_of(g->weights[w].hf_name);
        if (base) cJSON_AddItemToArray(list, cJSON_CreateString(base));
        free(base);
    }
    return list;
}

static cJSON *quantization_config(const Graph *g, const QuantReport *rep, const ExportInfo *info) {
    cJSON *q = cJSON_CreateObject();
    cJSON_AddStringToObject(q, "quant_method", info->bits == 4 ? "awq" : "awqc");
    cJSON_AddNumberToObject(q, "bits", info->bits);
    cJSON_AddNumberToObject(q, "group_size", info->group);
    cJSON_AddBoolToObject(q, "zero_point", true);
    cJSON_AddStringToObject(q, "version", info->bits == 4 ? "gemm" : "u3");
    cJSON *skip = modules_not_converted(g, rep);
    if (cJSON_GetArraySize(skip)) cJSON_AddItemToObject(q, "modules_to_not_convert", skip);
    else {
        cJSON_Delete(skip);
        cJSON_AddNullToObject(q, "modules_to_not_convert");
    }
    return q;
}

static bool lm_head_tied(const Graph *g) {
    for (size_t i = 0; i < g->n_outputs; i++) {
        int w = ir_linear_matrix(g, g->outputs[i]);
        if (w >= 0 && ir_is_embedding_table(g, w)) return true;
    }
    return false;
}

static int64_t vocab_size(const Graph *g) {
    for (size_t i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].op == OP_EMBEDDING && g->nodes[i].in[0].kind == OPND_WEIGHT)
            return g->weights[g->nodes[i].in[0].index].type.dims[0].size;
    return 0;
}

static cJSON *config_json(const Graph *g, const Tokenizer *tok, const QuantReport *rep, const ExportInfo *info) {
    cJSON *c = cJSON_CreateObject();
    char *arch = architecture_of(g->name);
    cJSON *archs = cJSON_AddArrayToObject(c, "architectures");
    cJSON_AddItemToArray(archs, cJSON_CreateString(arch));
    free(arch);
    cJSON_AddStringToObject(c, "model_type", g->name);
    for (size_t i = 0; i < g->n_meta; i++)
        if (!strncmp(g->meta[i].key, "hf:", 3)) set_nested(c, g->meta[i].key + 3, attr_json(&g->meta[i].value));
    cJSON_AddNumberToObject(c, "vocab_size", (double)vocab_size(g));
    cJSON_AddBoolToObject(c, "tie_word_embeddings", lm_head_tied(g));
    if (tok && tok_bos(tok) >= 0) cJSON_AddNumberToObject(c, "bos_token_id", tok_bos(tok));
    if (tok && tok_eos(tok) >= 0) cJSON_AddNumberToObject(c, "eos_token_id", tok_eos(tok));
    cJSON_AddStringToObject(c, "torch_dtype", "float16");
    cJSON_AddItemToObject(c, "quantization_config", quantization_config(g, rep, info));
    return c;
}

// ----------------------------------------------------------------------------
// awqc_quantize.json: how the folder was made

static cJSON *record_json(const QuantReport *rep, const ExportInfo *info) {
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "tool", "awqc quantize");
    cJSON_AddStringToObject(r, "method", info->method);
    cJSON_AddNumberToObject(r, "bits", info->bits);
    cJSON_AddNumberToObject(r, "group_size", info->group);
    if (info->source) cJSON_AddStringToObject(r, "source", info->source);
    if (!strcmp(info->method, "awq")) {
        cJSON_AddNumberToObject(r, "calib_tokens", (double)info->calib_tokens);
        cJSON_AddNumberToObject(r, "calib_seqlen", info->calib_seqlen);
        cJSON_AddBoolToObject(r, "duo_scaling", info->duo);
        cJSON_AddBoolToObject(r, "clip_search", info->clip);
        cJSON_AddNumberToObject(r, "scale_groups_folded", (double)rep->n_groups_scaled);
    }
    cJSON_AddNumberToObject(r, "linears_quantized", (double)rep->quantized);
    cJSON *skipped = cJSON_AddArrayToObject(r, "linears_left_fp");
    for (size_t i = 0; i < rep->skipped; i++) cJSON_AddItemToArray(skipped, cJSON_CreateString(rep->skipped_names[i]));
    cJSON_AddNumberToObject(r, "seconds", rep->seconds);
    return r;
}

// ----------------------------------------------------------------------------
// The folder

static bool write_json(const char *dir, const char *file, cJSON *root, AwqcError *err) {
    char *path = awqc_asprintf("%s/%s", dir, file);
    bool ok = awqc_json_write(path, root, true, err);
    free(path);
    return ok;
}

// What quant_export_hf writes, for its folder writer.
typedef struct {
    const Graph *g;
    const Tokenizer *tok;
    const QuantReport *rep;
    const ExportInfo *info;
} Export;

static bool write_folder(const char *dir, void *user, AwqcError *err) {
    const Export *x = user;
    TensorList l = {0};
    char *st = awqc_asprintf("%s/model.safetensors", dir);
    bool ok = gather_tensors(x->g, x->rep, &l, err) && st_write_file(st, l.t, l.n, err);
    free(st);
    tensor_list_free(&l);
    ok = ok && write_json(dir, "config.json", config_json(x->g, x->tok, x->rep, x->info), err);
    ok = ok && write_json(dir, "awqc_quantize.json", record_json(x->rep, x->info), err);
    const Meta *ctx = ir_get_meta(x->g, "hf:max_position_embeddings");
    int64_t n_ctx = ctx && ctx->value.kind == ATTR_INT ? ctx->value.i : 0;
    return ok && (!x->tok || tok_write_hf(x->tok, dir, n_ctx, err));
}

bool quant_export_hf(const Graph *g, const Tokenizer *tok, const QuantReport *rep, const ExportInfo *info,
                     const char *out_dir, AwqcError *err) {
    if (info->bits != 3 && info->bits != 4)
        return awqc_fail(err, "%d-bit models cannot be exported: the folder formats hold 3 or 4 bits", info->bits);
    Export x = {g, tok, rep, info};
    return awqc_write_folder_atomic(out_dir, write_folder, &x, err);
}
