// pack_weights.c: the pack-weights pass. Every weight still held as codes is
// packed into the layout of the compile target (ir/layout.h): the target's
// vector width decides the byte order, never the model. A VNNI target packs
// vnni-i4 and vnni-i8 (8-bit activations) unless the graph's "quantize_acts"
// is "f32"; a weight those cannot take falls back to avx2-i4 or u8-rows.
// 8-bit codes (a q8 head, passes/quantize_head.c) have CPU layouts only. A
// weight whose shape no layout of the target can take stays as codes and is
// named in the remark.
#include <stdlib.h>
#include <string.h>

#include "ir/layout.h"
#include "passes/pass.h"

// ----------------------------------------------------------------------------
// targets

typedef struct {
    const char *target;
    const char *layout4; // the 4-bit layout; 3-bit weights use u3-packed everywhere
} TargetLayout;

#if defined(__aarch64__)
#define HOST_TARGET "aarch64"
#else
#define HOST_TARGET "x86-64"
#endif

// "host" is resolved by host_layout4() when the pass runs.
static const TargetLayout TARGETS[] = {
    {"host", NULL},              {"x86-64", "avx2-i4"},      {"x86-64-avx2", "avx2-i4"},
    {"x86-64-avx512", "avx2-i4"}, {"x86-64-vnni", "vnni-i4"}, {"aarch64", "neon-i4"},
    {"cuda:sm_80", "awq-gemm"},  {"cuda:sm_87", "awq-gemm"}, {"cuda:sm_90", "awq-gemm"},
    {"orin", "awq-gemm"},
};
#define N_TARGETS (sizeof TARGETS / sizeof TARGETS[0])

#define VNNI_LAYOUT4 "vnni-i4"
#define VNNI_FALLBACK4 "avx2-i4" // what a VNNI target packs when vnni-i4 is off or does not fit
#define VNNI_LAYOUT8 "vnni-i8"
#define CPU_LAYOUT8 "u8-rows" // every CPU's 8-bit layout, and vnni-i8's fallback
#define GPU_LAYOUT4 "awq-gemm" // the 4-bit layout of every GPU target, which have no 8-bit one

// The build machine's 4-bit layout: vnni-i4 where its CPU has AVX-512 VNNI.
static const char *host_layout4(void) {
#if defined(__aarch64__)
    return "neon-i4";
#else
    return awqc_cpu_feature("avx512vnni") == 1 ? VNNI_LAYOUT4 : "avx2-i4";
#endif
}

#define LAYOUT3 "u3-packed"

static bool unknown_target(const char *target, AwqcError *err) {
    StrBuf known = {0};
    for (size_t i = 0; i < N_TARGETS; i++) {
        if (i) sb_append(&known, ", ");
        sb_append(&known, TARGETS[i].target);
    }
    char *list = sb_finish(&known);
    awqc_fail(err, "pack-weights: unknown target '%s' (known: %s)", target, list);
    free(list);
    return false;
}

static const TargetLayout *find_target(const char *target) {
    for (size_t i = 0; i < N_TARGETS; i++)
        if (strcmp(TARGETS[i].target, target) == 0) return &TARGETS[i];
    return NULL;
}

bool pass_check_target(const char *target, AwqcError *err) {
    return find_target(target) || unknown_target(target, err);
}

bool pass_target_is_gpu(const char *target) {
    const TargetLayout *t = target ? find_target(target) : NULL;
    return t && t->layout4 && strcmp(t->layout4, GPU_LAYOUT4) == 0;
}

const char *pass_target_name(const char *target) { return target && strcmp(target, "host") ? target : HOST_TARGET; }

// The layout a layout falls back to for a shape it cannot take (NULL: none).
static const WeightLayout *fallback_of(const WeightLayout *l) {
    const char *name = NULL;
    if (l && strcmp(l->name, VNNI_LAYOUT4) == 0) name = VNNI_FALLBACK4;
    if (l && strcmp(l->name, VNNI_LAYOUT8) == 0) name = CPU_LAYOUT8;
    if (!name) return NULL;
    const WeightLayout *f = ir_find_layout(name);
    AWQC_ASSERT(f != NULL);
    return f;
}

// The 4-bit layout of a target; a missing target means the build machine.
// vnni-i4 gives way to its fallback when the graph keeps f32 activations.
static const WeightLayout *target_layout4(const Graph *g, const char *target, AwqcError *err) {
    const TargetLayout *t = find_target(target ? target : "host");
    if (!t) {
        unknown_target(target, err);
        return NULL;
    }
    const WeightLayout *l = ir_find_layout(t->layout4 ? t->layout4 : host_layout4());
    AWQC_ASSERT(l != NULL);
    const char *acts;
    if (!pass_acts_kind(g, &acts, err)) return NULL;
    bool gpu = strcmp(l->name, GPU_LAYOUT4) == 0;
    if (strcmp(acts, "f16") == 0 && !gpu) {
        awqc_fail(err, "f16 activations (quantize_acts = 'f16', --act f16) are for GPU targets; "
                  "target %s takes q8 or f32", t->target);
        return NULL;
    }
    return strcmp(acts, "q8") != 0 && l->acts8 ? fallback_of(l) : l;
}

// The 8-bit layout that goes with a 4-bit one: vnni-i8 beside vnni-i4 (both
// read 8-bit activations), u8-rows on the other CPUs, none on a GPU.
static const WeightLayout *layout8_of(const WeightLayout *l4) {
    if (strcmp(l4->name, GPU_LAYOUT4) == 0) return NULL;
    const WeightLayout *l = ir_find_layout(l4->acts8 ? VNNI_LAYOUT8 : CPU_LAYOUT8);
    AWQC_ASSERT(l != NULL);
    return l;
}

// ----------------------------------------------------------------------------
// the pass

// The target's layouts, and how many weights each took. The remark lists them
// in this order.
enum { L4, FALLBACK4, L3, L8, FALLBACK8, N_KINDS };

typedef struct {
    const WeightLayout *layout[N_KINDS]; // NULL: the target has none of that kind
    size_t packed[N_KINDS];
    size_t left;
    StrBuf reasons; // "name: reason; ..." of the weights left as codes
} Packing;

static void note_left(Packing *c, const char *name, const char *reason) {
    if (c->left++) sb_append(&c->reasons, "; ");
    sb_append(&c->reasons, name);
    sb_append(&c->reasons, ": ");
    sb_append(&c->reasons, reason);
}

// The kind weight m takes: its bit width's layout, or that one's fallback
// when it cannot take the shape. -1 with the reason(s) in why.
static int choose_layout(const QuantMatrix *m, const Packing *t, AwqcError *why) {
    int k = m->bits == 4 ? L4 : m->bits == 3 ? L3 : m->bits == 8 ? L8 : -1;
    if (k < 0 || !t->layout[k]) {
        awqc_fail(why, "no layout of the target packs %d-bit codes", m->bits);
        return -1;
    }
    if (t->layout[k]->fits(m->rows, m->cols, m->group, why)) return k;
    int fb = k == L4 ? FALLBACK4 : k == L8 ? FALLBACK8 : -1;
    AwqcError why2 = {{0}};
    if (fb >= 0 && t->layout[fb] && t->layout[fb]->fits(m->rows, m->cols, m->group, &why2)) return fb;
    if (why2.msg[0]) {
        char first[sizeof why->msg];
        snprintf(first, sizeof first, "%s", why->msg);
        awqc_fail(why, "%s, and %s", first, why2.msg);
    }
    return -1;
}

// Packs one weight, or leaves it as codes when no layout can take it.
// False only on a real error (codes that disagree with the weight's type).
static bool pack_one(Weight *w, Packing *t, AwqcError *err) {
    AwqcError why = {{0}};
    int k = choose_layout(w->quant, t, &why);
    if (k < 0) {
        note_left(t, w->name, why.msg);
        return true;
    }
    if (!ir_pack_weight(w, t->layout[k], err)) {
        awqc_error_prefix(err, "pack-weights");
        return false;
    }
    t->packed[k]++;
    return true;
}

// One line: "pack-weights: 210 weights packed as vnni-i4, 1 as avx2-i4, 1 left as codes (x: reason)".
static void remark(FILE *log, const Packing *t) {
    fprintf(log, "pack-weights: %zu weights packed as %s", t->packed[L4], t->layout[L4]->name);
    for (int k = L4 + 1; k < N_KINDS; k++)
        if (t->packed[k]) fprintf(log, ", %zu as %s", t->packed[k], t->layout[k]->name);
    if (t->left) fprintf(log, ", %zu left as codes (%s)", t->left, t->reasons.s);
    fputc('\n', log);
}

bool pass_pack_weights(Graph *g, const PassContext *ctx, bool *changed, AwqcError *err) {
    *changed = false;
    Packing t = {.layout = {[L4] = target_layout4(g, ctx ? ctx->target : NULL, err), [L3] = ir_find_layout(LAYOUT3)}};
    if (!t.layout[L4]) return false;
    AWQC_ASSERT(t.layout[L3] != NULL);
    t.layout[FALLBACK4] = fallback_of(t.layout[L4]);
    t.layout[L8] = layout8_of(t.layout[L4]);
    t.layout[FALLBACK8] = fallback_of(t.layout[L8]);
    bool ok = true;
    for (size_t i = 0; ok && i < g->n_weights; i++)
        if (g->weights[i].quant) ok = pack_one(&g->weights[i], &t, err);
    size_t packed = 0;
    for (int k = 0; k < N_KINDS; k++) packed += t.packed[k];
    *changed = packed > 0;
    if (ok && ctx && ctx->log) remark(ctx->log, &t);
    free(t.reasons.s);
    return ok;
}
