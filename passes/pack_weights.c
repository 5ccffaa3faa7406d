// pack_weights.c: the pack-weights pass. Every weight still held as codes is
// packed into the layout of the compile target (ir/layout.h): the target's
// vector width decides the byte order, never the model. A weight whose shape
// the layout cannot take stays as codes and is named in the pass's remark.
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
#define HOST_LAYOUT4 "neon-i4"
#define HOST_TARGET "aarch64"
#else
#define HOST_LAYOUT4 "avx2-i4"
#define HOST_TARGET "x86-64"
#endif

static const TargetLayout TARGETS[] = {
    {"host", HOST_LAYOUT4},      {"x86-64", "avx2-i4"},       {"x86-64-avx2", "avx2-i4"},
    {"x86-64-avx512", "avx2-i4"}, {"aarch64", "neon-i4"},      {"cuda:sm_80", "awq-gemm"},
    {"cuda:sm_87", "awq-gemm"},  {"cuda:sm_90", "awq-gemm"},  {"orin", "awq-gemm"},
};
#define N_TARGETS (sizeof TARGETS / sizeof TARGETS[0])

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

const char *pass_target_name(const char *target) { return target && strcmp(target, "host") ? target : HOST_TARGET; }

// The 4-bit layout of a target; a missing target means the build machine.
static const WeightLayout *target_layout4(const char *target, AwqcError *err) {
    const TargetLayout *t = find_target(target ? target : "host");
    if (!t) {
        unknown_target(target, err);
        return NULL;
    }
    const WeightLayout *l = ir_find_layout(t->layout4);
    AWQC_ASSERT(l != NULL);
    return l;
}

// ----------------------------------------------------------------------------
// the pass

typedef struct {
    size_t packed4, packed3, left;
    StrBuf reasons; // "name: reason; ..." of the weights left as codes
} PackCounts;

static void note_left(PackCounts *c, const char *name, const char *reason) {
    if (c->left++) sb_append(&c->reasons, "; ");
    sb_append(&c->reasons, name);
    sb_append(&c->reasons, ": ");
    sb_append(&c->reasons, reason);
}

// Packs one weight, or leaves it as codes when its layout cannot take it.
// False only on a real error (codes that disagree with the weight's type).
static bool pack_one(Weight *w, const WeightLayout *l4, const WeightLayout *l3, PackCounts *c, AwqcError *err) {
    const QuantMatrix *m = w->quant;
    const WeightLayout *l = m->bits == 4 ? l4 : m->bits == 3 ? l3 : NULL;
    if (!l) {
        char reason[64];
        snprintf(reason, sizeof reason, "no layout packs %d-bit codes", m->bits);
        note_left(c, w->name, reason);
        return true;
    }
    AwqcError why = {{0}};
    if (!l->fits(m->rows, m->cols, m->group, &why)) {
        note_left(c, w->name, why.msg);
        return true;
    }
    if (!ir_pack_weight(w, l, err)) {
        awqc_error_prefix(err, "pack-weights");
        return false;
    }
    if (l == l4) c->packed4++;
    else c->packed3++;
    return true;
}

// One line: "pack-weights: 210 weights packed as avx2-i4, 1 left as codes (x: reason)".
static void remark(FILE *log, const PackCounts *c, const WeightLayout *l4, const WeightLayout *l3) {
    fprintf(log, "pack-weights: %zu weights packed as %s", c->packed4, l4->name);
    if (c->packed3) fprintf(log, ", %zu as %s", c->packed3, l3->name);
    if (c->left) fprintf(log, ", %zu left as codes (%s)", c->left, c->reasons.s);
    fputc('\n', log);
}

bool pass_pack_weights(Graph *g, const PassContext *ctx, bool *changed, AwqcError *err) {
    *changed = false;
    const WeightLayout *l4 = target_layout4(ctx ? ctx->target : NULL, err);
    if (!l4) return false;
    const WeightLayout *l3 = ir_find_layout(LAYOUT3);
    AWQC_ASSERT(l3 != NULL);
    PackCounts c = {0};
    bool ok = true;
    for (size_t i = 0; ok && i < g->n_weights; i++)
        if (g->weights[i].quant) ok = pack_one(&g->weights[i], l4, l3, &c, err);
    *changed = c.packed4 + c.packed3 > 0;
    if (ok && ctx && ctx->log) remark(ctx->log, &c, l4, l3);
    free(c.reasons.s);
    return ok;
}
