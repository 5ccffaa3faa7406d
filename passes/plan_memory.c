// plan_memory.c: the plan-memory pass. Every value but the graph inputs gets
// a buffer slot, reused once the values it held are dead; the plan is sized
// for T = ctx rows and recorded in the IR (attr buf on each node, memory.*
// metadata) so dumps show it. See plan_memory.h for the reusable half.
#include "passes/plan_memory.h"

#include <stdlib.h>
#include <string.h>

#include "ir/uses.h"
#include "passes/pass.h"

// ----------------------------------------------------------------------------
// value sizes

static bool node_fail(AwqcError *err, const Graph *g, size_t i, const char *what) {
    char ty[128];
    return awqc_fail(err, "plan-memory: %%%zu (%s): %s %s", i, ir_op_name(g->nodes[i].op), what,
                     ir_type_str(&g->nodes[i].type, ty, sizeof ty));
}

// Bytes of node i's value with T = ctx rows: its shape must be [T, const...]
// (activations are f32 rows; a P dim has no bound known at plan time).
static bool value_bytes(const Graph *g, size_t i, int64_t ctx, int64_t *bytes, AwqcError *err) {
    const Type *t = &g->nodes[i].type;
    if (t->rank < 1 || t->dims[0].kind != DIM_T) return node_fail(err, g, i, "value is not [T, ...]:");
    int64_t n = ctx * (int64_t)sizeof(float);
    for (int d = 1; d < t->rank; d++) {
        if (t->dims[d].kind != DIM_CONST) return node_fail(err, g, i, "value has a symbolic inner dim:");
        if (t->dims[d].size < 0 || __builtin_mul_overflow(n, t->dims[d].size, &n))
            return node_fail(err, g, i, "value is too large to plan:");
    }
    *bytes = n;
    return true;
}

static bool all_value_bytes(const Graph *g, MemoryPlan *p, AwqcError *err) {
    for (size_t i = 0; i < g->n_nodes; i++) {
        if (g->nodes[i].op == OP_INPUT) continue; // its buffer is the caller's
        if (!value_bytes(g, i, p->ctx, &p->node_bytes[i], err)) return false;
        p->no_reuse_bytes += p->node_bytes[i];
    }
    return true;
}

// ----------------------------------------------------------------------------
// liveness

// The last step at which each value is live: its last reader, the end of the
// graph (n_nodes) for outputs, its own step when nothing reads it; with
// keep_silu_inputs the operand of a silu_mul of a merged gate|up (what the
// CUDA GEMV folds) lives as long as the silu_mul.
static int *live_ends(const Graph *g, bool keep_silu_inputs) {
    IrUses u;
    ir_uses_build(g, &u);
    int *end = xmalloc((g->n_nodes + 1) * sizeof(int));
    for (size_t i = 0; i < g->n_nodes; i++) {
        if (u.is_output[i]) end[i] = (int)g->n_nodes;
        else end[i] = u.last_reader[i] >= 0 ? u.last_reader[i] : (int)i;
    }
    ir_uses_free(&u);
    for (size_t i = 0; keep_silu_inputs && i < g->n_nodes; i++) {
        const Node *n = &g->nodes[i];
        if (n->op == OP_SILU_MUL && n->n_in == 1 && n->in[0].kind == OPND_NODE && end[n->in[0].index] < end[i])
            end[n->in[0].index] = end[i];
    }
    return end;
}

// At each step the node's value and everything still awaiting a reader are
// held at once, its operands included: the most any plan needs.
static int64_t peak_live(const Graph *g, const MemoryPlan *p, const int *end) {
    int64_t *delta = xcalloc(g->n_nodes + 2, sizeof(int64_t));
    for (size_t i = 0; i < g->n_nodes; i++) {
        delta[i] += p->node_bytes[i];
        delta[end[i] + 1] -= p->node_bytes[i];
    }
    int64_t live = 0, peak = 0;
    for (size_t j = 0; j < g->n_nodes; j++) {
        live += delta[j];
        if (live > peak) peak = live;
    }
    free(delta);
    return peak;
}

// ----------------------------------------------------------------------------
// slot assignment
//
// Greedy in node order with best fit: a node takes the smallest free slot that
// already holds it; failing that the largest free slot, grown (the least new
// bytes); failing that a new slot. First fit would hand a small value the big
// slot a later big value needs, and grow the total. Ties go to the lower slot
// so plans are deterministic.

typedef struct {
    int64_t *bytes;    // slot sizes
    int *busy_until;   // the live end of the value each slot holds
    int n;
    size_t cap_bytes, cap_busy;
} Slots;

static int pick_slot(Slots *s, int step, int64_t need) {
    int fit = -1, largest = -1;
    for (int k = 0; k < s->n; k++) {
        // A value ending at this step is an operand of this node: still busy.
        if (s->busy_until[k] >= step) continue;
        if (s->bytes[k] >= need && (fit < 0 || s->bytes[k] < s->bytes[fit])) fit = k;
        if (largest < 0 || s->bytes[k] > s->bytes[largest]) largest = k;
    }
    if (fit >= 0) return fit;
    if (largest >= 0) return largest;
    GROW(s->bytes, s->cap_bytes, (size_t)s->n + 1);
    GROW(s->busy_until, s->cap_busy, (size_t)s->n + 1);
    s->bytes[s->n] = 0;
    return s->n++;
}

static void assign_slots(const Graph *g, MemoryPlan *p, const int *end) {
    Slots s = {0};
    for (size_t i = 0; i < g->n_nodes; i++) {
        p->node_slot[i] = -1;
        if (g->nodes[i].op == OP_INPUT) continue;
        int k = pick_slot(&s, (int)i, p->node_bytes[i]);
        if (s.bytes[k] < p->node_bytes[i]) s.bytes[k] = p->node_bytes[i];
        s.busy_until[k] = end[i];
        p->node_slot[i] = k;
    }
    free(s.busy_until);
    p->n_slots = s.n;
    p->slot_bytes = s.bytes;
}

static void lay_out_arena(MemoryPlan *p) {
    p->slot_offset = xcalloc((size_t)p->n_slots + 1, sizeof(int64_t));
    int64_t at = 0;
    for (int k = 0; k < p->n_slots; k++) {
        p->slot_offset[k] = at;
        p->planned_bytes += p->slot_bytes[k];
        at += (p->slot_bytes[k] + PLAN_MEMORY_ALIGN - 1) / PLAN_MEMORY_ALIGN * PLAN_MEMORY_ALIGN;
    }
    p->arena_bytes = at;
}

// ----------------------------------------------------------------------------
// KV cache: K and V rows of kv_heads * head_dim f32 for each of ctx positions

static bool kv_cache_bytes(const Graph *g, int64_t ctx, int64_t *total, AwqcError *err) {
    *total = 0;
    for (size_t i = 0; i < g->n_nodes; i++) {
        const Node *n = &g->nodes[i];
        if (n->op != OP_ATTENTION && n->op != OP_ROPE_ATTENTION) continue;
        int64_t kv_heads = ir_node_attr_int(n, "kv_heads", 0), head_dim = ir_node_attr_int(n, "head_dim", 0);
        if (kv_heads <= 0 || head_dim <= 0)
            return awqc_fail(err, "plan-memory: %%%zu (%s): needs kv_heads > 0 and head_dim > 0", i,
                             ir_op_name(n->op));
        int64_t b = 2 * (int64_t)sizeof(float);
        if (__builtin_mul_overflow(b, ctx, &b) || __builtin_mul_overflow(b, kv_heads, &b) ||
            __builtin_mul_overflow(b, head_dim, &b) || __builtin_add_overflow(*total, b, total))
            return awqc_fail(err, "plan-memory: %%%zu (%s): KV cache too large to plan", i, ir_op_name(n->op));
    }
    return true;
}

// ----------------------------------------------------------------------------
// the plan

bool plan_memory_compute(const Graph *g, int64_t ctx, bool keep_silu_inputs, MemoryPlan *out, AwqcError *err) {
    memset(out, 0, sizeof *out);
    if (ctx <= 0) return awqc_fail(err, "plan-memory needs a context length > 0");
    out->ctx = ctx;
    out->n_nodes = g->n_nodes;
    out->node_slot = xmalloc((g->n_nodes + 1) * sizeof(int));
    out->node_bytes = xcalloc(g->n_nodes + 1, sizeof(int64_t));
    if (!all_value_bytes(g, out, err) || !kv_cache_bytes(g, ctx, &out->kv_cache_bytes, err)) {
        plan_memory_free(out);
        return false;
    }
    int *end = live_ends(g, keep_silu_inputs);
    assign_slots(g, out, end);
    out->peak_live_bytes = peak_live(g, out, end);
    free(end);
    lay_out_arena(out);
    return true;
}

void plan_memory_free(MemoryPlan *p) {
    free(p->node_slot);
    free(p->node_bytes);
    free(p->slot_bytes);
    free(p->slot_offset);
    memset(p, 0, sizeof *p);
}

// ----------------------------------------------------------------------------
// recording the plan in the IR

static int find_attr(const Node *n, const char *key) {
    for (int k = 0; k < n->n_attrs; k++)
        if (strcmp(n->attrs[k].key, key) == 0) return k;
    return -1;
}

// Checked before anything is written so a failure leaves the graph untouched.
static bool room_for_buf(const Graph *g, const MemoryPlan *p, AwqcError *err) {
    for (size_t i = 0; i < g->n_nodes; i++) {
        const Node *n = &g->nodes[i];
        if (p->node_slot[i] >= 0 && n->n_attrs >= IR_MAX_ATTRS && find_attr(n, "buf") < 0)
            return awqc_fail(err, "plan-memory: %%%zu (%s): already has %d attributes, no room for 'buf'", i,
                             ir_op_name(n->op), IR_MAX_ATTRS);
    }
    return true;
}

// Sets (slot >= 0) or removes (slot < 0: a graph input) the node's buf attr.
static bool record_slot(Node *n, int slot) {
    int k = find_attr(n, "buf");
    if (slot < 0) {
        if (k < 0) return false;
        ir_attr_free(&n->attrs[k]);
        memmove(&n->attrs[k], &n->attrs[k + 1], (size_t)(n->n_attrs - k - 1) * sizeof(Attr));
        n->n_attrs--;
        return true;
    }
    if (k >= 0 && n->attrs[k].kind == ATTR_INT && n->attrs[k].i == slot) return false;
    if (k >= 0) ir_attr_free(&n->attrs[k]);
    else k = n->n_attrs++;
    n->attrs[k] = ir_attr_int("buf", slot);
    return true;
}

static bool record_meta(Graph *g, const char *key, int64_t v) {
    const Meta *m = ir_get_meta(g, key);
    if (m && m->value.kind == ATTR_INT && m->value.i == v) return false;
    ir_set_meta(g, key, ir_attr_int(key, v));
    return true;
}

static bool record_plan(Graph *g, const MemoryPlan *p) {
    bool changed = false;
    for (size_t i = 0; i < g->n_nodes; i++) changed |= record_slot(&g->nodes[i], p->node_slot[i]);
    changed |= record_meta(g, "memory.ctx", p->ctx);
    changed |= record_meta(g, "memory.buffers", p->n_slots);
    changed |= record_meta(g, "memory.planned_bytes", p->planned_bytes);
    changed |= record_meta(g, "memory.no_reuse_bytes", p->no_reuse_bytes);
    changed |= record_meta(g, "memory.peak_live_bytes", p->peak_live_bytes);
    changed |= record_meta(g, "memory.kv_cache_bytes", p->kv_cache_bytes);
    return changed;
}

// ----------------------------------------------------------------------------
// the remark

// Three significant digits in the largest unit that keeps the number >= 1.
static const char *human_bytes(int64_t b, char *buf, size_t cap) {
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB"};
    if (b < 1024) {
        snprintf(buf, cap, "%lld B", (long long)b);
        return buf;
    }
    double v = (double)b / 1024;
    int u = 0;
    while (v >= 1024 && u < 3) v /= 1024, u++;
    snprintf(buf, cap, "%.*f %s", v >= 100 ? 0 : v >= 10 ? 1 : 2, v, units[u]);
    return buf;
}

static void log_plan(FILE *log, const MemoryPlan *p) {
    char planned[32], no_reuse[32], peak[32], kv[32];
    double saved = p->no_reuse_bytes ? 100.0 * (1.0 - (double)p->planned_bytes / (double)p->no_reuse_bytes) : 0.0;
    fprintf(log, "plan-memory: ctx %lld: %d buffers, %s planned vs %s without reuse (%.1f%% saved); "
                 "peak live %s; KV cache %s\n",
            (long long)p->ctx, p->n_slots, human_bytes(p->planned_bytes, planned, sizeof planned),
            human_bytes(p->no_reuse_bytes, no_reuse, sizeof no_reuse), saved,
            human_bytes(p->peak_live_bytes, peak, sizeof peak), human_bytes(p->kv_cache_bytes, kv, sizeof kv));
}

// ----------------------------------------------------------------------------
// the pass

bool pass_plan_memory(Graph *g, const PassContext *ctx, bool *changed, AwqcError *err) {
    *changed = false;
    MemoryPlan p;
    if (!plan_memory_compute(g, ctx->ctx, pass_target_is_gpu(ctx->target), &p, err)) return false;
    if (!room_for_buf(g, &p, err)) {
        plan_memory_free(&p);
        return false;
    }
    *changed = record_plan(g, &p);
    if (ctx->log) log_plan(ctx->log, &p);
    plan_memory_free(&p);
    return true;
}
