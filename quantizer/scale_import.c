// scale_import.c: see scale_import.h. Every entry is resolved against the
// graph and checked first (weights, the linears that read them, one shared
// input, the scale count); only then are the columns scaled and the awq_scale
// nodes inserted, so a bad file leaves the graph as it was.
#include "quantizer/scale_import.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "ir/edit.h"
#include "quantizer/fold.h"

#define MAX_GROUP_LINEARS 16

typedef struct {
    int weights[MAX_GROUP_LINEARS]; // the linears' weight indexes (stable while nodes move)
    int n;
    float *s;
    int64_t channels;
} ImportGroup;

typedef struct {
    const char *path;
    size_t entry;
    AwqcError *err;
} Where;

static bool fail_at(const Where *w, const char *what, const char *name) {
    return awqc_fail(w->err, "%s: entry %zu%s%s%s: %s", w->path, w->entry, name ? " (" : "", name ? name : "",
                     name ? ")" : "", what);
}

// ----------------------------------------------------------------------------
// resolving an entry

// The one node that reads weight w, when it is a linear reading it as its
// matrix; -1 otherwise. *readers counts every node reading w: a weight also
// read elsewhere (a tied embedding) cannot take the scales.
static int linear_of_weight(const Graph *g, int w, int *readers) {
    int found = -1;
    *readers = 0;
    for (size_t i = 0; i < g->n_nodes; i++) {
        const Node *n = &g->nodes[i];
        bool reads = false;
        for (int k = 0; k < n->n_in; k++) reads |= n->in[k].kind == OPND_WEIGHT && n->in[k].index == w;
        if (!reads) continue;
        ++*readers;
        if (n->op == OP_LINEAR && n->in[1].kind == OPND_WEIGHT && n->in[1].index == w) found = (int)i;
    }
    return *readers == 1 ? found : -1;
}

static bool resolve_linear(const Graph *g, const Where *at, const char *name, int *weight, int *input) {
    int w = ir_find_weight(g, name), count = 0;
    if (w < 0) return fail_at(at, "no weight of that name in the model", name);
    const Weight *wt = &g->weights[w];
    if (wt->type.dtype != DT_F32 || !wt->data || wt->type.rank != 2)
        return fail_at(at, "the weight is not an f32 matrix bound to data (scales apply to a floating-point model)",
                       name);
    int node = linear_of_weight(g, w, &count);
    if (node < 0)
        return fail_at(at, count > 1 ? "the weight is also read by another op (a tied embedding?)"
                                     : "no linear reads the weight",
                       name);
    const Operand x = g->nodes[node].in[0];
    if (x.kind != OPND_NODE) return fail_at(at, "the linear's input is not a computed value", name);
    *weight = w;
    *input = x.index;
    return true;
}

static bool read_scales(const cJSON *arr, ImportGroup *grp, const Where *at, const char *first) {
    int n = cJSON_GetArraySize(arr);
    if (!cJSON_IsArray(arr) || n <= 0) return fail_at(at, "\"scales\" must be a non-empty array of numbers", first);
    if (n != grp->channels) {
        char what[128];
        snprintf(what, sizeof what, "%d scales, but the linears take %lld input channels", n, (long long)grp->channels);
        return fail_at(at, what, first);
    }
    grp->s = xmalloc(sizeof(float) * (size_t)n);
    for (int i = 0; i < n; i++) {
        const cJSON *v = cJSON_GetArrayItem(arr, i);
        float s = cJSON_IsNumber(v) ? (float)v->valuedouble : NAN;
        if (!(isfinite(s) && s > 0)) return fail_at(at, "every scale must be a finite number > 0", first);
        grp->s[i] = s;
    }
    return true;
}

static bool resolve_entry(const Graph *g, const cJSON *e, const Where *at, ImportGroup *grp) {
    const cJSON *names = cJSON_GetObjectItemCaseSensitive(e, "linears");
    int n = cJSON_GetArraySize(names);
    if (!cJSON_IsObject(e) || !cJSON_IsArray(names) || n < 1 || n > MAX_GROUP_LINEARS)
        return fail_at(at, "needs \"linears\": 1 to 16 weight names", NULL);
    int shared_input = -1;
    for (int i = 0; i < n; i++) {
        const char *name = cJSON_GetStringValue(cJSON_GetArrayItem(names, i));
        if (!name) return fail_at(at, "\"linears\" must hold strings", NULL);
        int input = -1;
        if (!resolve_linear(g, at, name, &grp->weights[i], &input)) return false;
        if (i && input != shared_input) return fail_at(at, "the linears do not read one shared input", name);
        shared_input = input;
    }
    grp->n = n;
    grp->channels = g->weights[grp->weights[0]].type.dims[1].size;
    const char *first = g->weights[grp->weights[0]].name;
    if (g->nodes[shared_input].op == OP_AWQ_SCALE)
        return fail_at(at, "scales were already applied to this group", first);
    return read_scales(cJSON_GetObjectItemCaseSensitive(e, "scales"), grp, at, first);
}

// A weight in two entries would be scaled twice: each entry claims its own.
static bool claim_weights(const Graph *g, const ImportGroup *grp, bool *taken, const Where *at) {
    for (int i = 0; i < grp->n; i++) {
        int w = grp->weights[i];
        if (taken[w]) return fail_at(at, "the weight is already in an earlier entry", g->weights[w].name);
        taken[w] = true;
    }
    return true;
}

// ----------------------------------------------------------------------------
// applying a group

static int add_scale_weight(Graph *g, const ImportGroup *grp) {
    // "X.awq_scales", or "X.awq_scales.2", ... when a weight has that name
    // (an earlier import's scales, kept after they were folded elsewhere).
    const char *first = g->weights[grp->weights[0]].name;
    char *name = awqc_asprintf("%s.awq_scales", first);
    for (int k = 2; ir_find_weight(g, name) >= 0; k++) {
        free(name);
        name = awqc_asprintf("%s.awq_scales.%d", first, k);
    }
    int64_t dims[1] = {grp->channels};
    AwqcError err;
    int w = ir_add_weight(g, name, ir_type_const(DT_F32, 1, dims), &err);
    AWQC_ASSERT(w >= 0); // the name is free
    free(name);
    g->weights[w].data = xmalloc(sizeof(float) * (size_t)grp->channels);
    memcpy(g->weights[w].data, grp->s, sizeof(float) * (size_t)grp->channels);
    return w;
}

static void apply_group(Graph *g, const ImportGroup *grp) {
    for (int i = 0; i < grp->n; i++) {
        Weight *w = &g->weights[grp->weights[i]];
        awq_multiply_columns(w->data, w->type.dims[0].size, grp->channels, grp->s);
    }
    int count, first = linear_of_weight(g, grp->weights[0], &count);
    int x = g->nodes[first].in[0].index;
    Operand in[2] = {ir_node_ref(x), ir_weight_ref(add_scale_weight(g, grp))};
    AwqcError err;
    int a = ir_insert_node(g, x + 1, OP_AWQ_SCALE, in, 2, NULL, 0, g->nodes[first].block, &err);
    AWQC_ASSERT(a == x + 1); // x is f32[T, channels]: resolve_entry checked the linears read it
    for (int i = 0; i < grp->n; i++) {
        int node = linear_of_weight(g, grp->weights[i], &count);
        g->nodes[node].in[0] = ir_node_ref(a);
    }
}

// ----------------------------------------------------------------------------

static void free_groups(ImportGroup *groups, size_t n) {
    for (size_t i = 0; i < n; i++) free(groups[i].s);
    free(groups);
}

bool awq_import_scales(Graph *g, const char *path, size_t *applied, AwqcError *err) {
    size_t len;
    char *text = awqc_read_file(path, &len, err);
    if (!text) return false;
    cJSON *root = awqc_json_parse(text, len, path, err);
    free(text);
    if (!root) return false;
    size_t n = cJSON_IsArray(root) ? (size_t)cJSON_GetArraySize(root) : 0;
    Where at = {path, 0, err};
    ImportGroup *groups = xcalloc(n ? n : 1, sizeof *groups);
    bool *taken = xcalloc(g->n_weights + 1, sizeof(bool));
    bool ok = cJSON_IsArray(root) ||
              awqc_fail(err, "%s: expected a JSON array of scale groups (awqc quantize --dump-scales)", path);
    for (size_t i = 0; ok && i < n; i++) {
        at.entry = i;
        ok = resolve_entry(g, cJSON_GetArrayItem(root, (int)i), &at, &groups[i]) &&
             claim_weights(g, &groups[i], taken, &at);
    }
    free(taken);
    cJSON_Delete(root);
    for (size_t i = 0; ok && i < n; i++) apply_group(g, &groups[i]);
    free_groups(groups, n);
    if (ok && applied) *applied = n;
    return ok;
}
