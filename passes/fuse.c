// fuse.c: the fuse pass: named rules that turn chains of ops into the fused
// ops the code generators emit as one kernel each. Every fused node carries
// rule = "NAME", so dumps and --emit=dot show which rule made it:
//   norm-into-linear   rms_norm feeding one linear     -> rms_norm_linear
//   rope-kv-attention  rope(q), rope(k), v -> attention -> rope_attention (reads the
//                      merged qkv directly when q, k, v are its three slices)
//   silu-mul           silu(gate) * up                 -> silu_mul (reads merged gate_up)
//   residual-epilogue  x + linear(...)                 -> linear_add
// A chain is fused only when its inner values have no other reader, so the
// values that disappear are ones nobody else needs.
#include <stdlib.h>
#include <string.h>

#include "ir/edit.h"
#include "ir/uses.h"
#include "passes/pass.h"

// What one match turns into: the fused node (op, operands, attributes; its
// type is inferred on insertion) and the chain it replaces.
typedef struct {
    Node node;
    int n_gone;
    int gone[4]; // nodes replaced (the root last): they must have no reader outside the chain
} Fusion;

typedef bool (*MatchFn)(const Graph *g, const IrUses *u, int root, Fusion *f);

typedef struct {
    const char *name;
    MatchFn match;
} Rule;

// ----------------------------------------------------------------------------
// helpers

// Node `node`'s value is read once, by `reader`, and is no output.
static bool only_reader(const IrUses *u, int node, int reader) {
    return u->node_uses[node] == 1 && !u->is_output[node] && u->last_reader[node] == reader;
}

static int node_operand(const Node *n, int k) { return k < n->n_in && n->in[k].kind == OPND_NODE ? n->in[k].index : -1; }

static void copy_attr(Fusion *f, const Node *n, const char *key) {
    const Attr *a = ir_node_attr(n, key);
    if (a) f->node.attrs[f->node.n_attrs++] = ir_attr_copy(a);
}

// The slice nodes s[0..n-1] cut one value into consecutive pieces covering it
// all; returns that value, or -1.
static int whole_of_slices(const Graph *g, const int *s, int n) {
    int src = -1;
    int64_t next = 0;
    for (int i = 0; i < n; i++) {
        const Node *p = s[i] >= 0 ? &g->nodes[s[i]] : NULL;
        if (!p || p->op != OP_SLICE || p->in[0].kind != OPND_NODE) return -1;
        if (i && p->in[0].index != src) return -1;
        src = p->in[0].index;
        if (ir_node_attr_int(p, "offset", -1) != next) return -1;
        next += ir_node_attr_int(p, "size", 0);
    }
    const Type *t = &g->nodes[src].type;
    return t->dims[t->rank - 1].size == next ? src : -1;
}

// ----------------------------------------------------------------------------
// rules

static bool match_norm_linear(const Graph *g, const IrUses *u, int root, Fusion *f) {
    const Node *l = &g->nodes[root];
    int norm = node_operand(l, 0);
    if (l->op != OP_LINEAR || norm < 0 || g->nodes[norm].op != OP_RMS_NORM || !only_reader(u, norm, root)) return false;
    const Node *nn = &g->nodes[norm];
    *f = (Fusion){.node = {.op = OP_RMS_NORM_LINEAR, .n_in = 1 + l->n_in}, .n_gone = 2, .gone = {norm, root}};
    f->node.in[0] = nn->in[0];
    f->node.in[1] = nn->in[1];
    for (int k = 1; k < l->n_in; k++) f->node.in[1 + k] = l->in[k];
    copy_attr(f, nn, "eps");
    return true;
}

// A rope read only by attention node a; its input, or -1.
static int rope_input(const Graph *g, const IrUses *u, int rope, int a) {
    if (rope < 0 || g->nodes[rope].op != OP_ROPE || !only_reader(u, rope, a)) return -1;
    return node_operand(&g->nodes[rope], 0);
}

static bool match_rope_attention(const Graph *g, const IrUses *u, int root, Fusion *f) {
    const Node *a = &g->nodes[root];
    if (a->op != OP_ATTENTION) return false;
    int rq = node_operand(a, 0), rk = node_operand(a, 1), v = node_operand(a, 2);
    int q = rope_input(g, u, rq, root), k = rope_input(g, u, rk, root);
    if (q < 0 || k < 0 || v < 0) return false;
    const Node *ropeq = &g->nodes[rq], *ropek = &g->nodes[rk];
    if (ir_node_attr_float(ropeq, "theta", 0) != ir_node_attr_float(ropek, "theta", 1) ||
        strcmp(ir_node_attr_string(ropeq, "mode", "pairs"), ir_node_attr_string(ropek, "mode", "pairs")))
        return false;
    *f = (Fusion){.node = {.op = OP_ROPE_ATTENTION}, .n_gone = 3, .gone = {rq, rk, root}};
    int parts[3] = {q, k, v}, qkv = whole_of_slices(g, parts, 3);
    if (qkv >= 0) {
        f->node.n_in = 1;
        f->node.in[0] = ir_node_ref(qkv);
    } else {
        f->node.n_in = 3;
        f->node.in[0] = ir_node_ref(q);
        f->node.in[1] = ir_node_ref(k);
        f->node.in[2] = ir_node_ref(v);
    }
    const char *keys[] = {"heads", "kv_heads", "head_dim"};
    for (int i = 0; i < 3; i++) copy_attr(f, a, keys[i]);
    copy_attr(f, ropeq, "theta");
    copy_attr(f, ropeq, "mode");
    return true;
}

static bool match_silu_mul(const Graph *g, const IrUses *u, int root, Fusion *f) {
    const Node *m = &g->nodes[root];
    if (m->op != OP_MUL) return false;
    for (int side = 0; side < 2; side++) {
        int act = node_operand(m, side), up = node_operand(m, 1 - side);
        if (act < 0 || up < 0 || g->nodes[act].op != OP_SILU || !only_reader(u, act, root)) continue;
        int gate = node_operand(&g->nodes[act], 0);
        if (gate < 0) continue;
        *f = (Fusion){.node = {.op = OP_SILU_MUL}, .n_gone = 2, .gone = {act, root}};
        int parts[2] = {gate, up}, gu = whole_of_slices(g, parts, 2);
        const Type *tg = &g->nodes[gate].type, *tu = &g->nodes[up].type;
        bool halves = gu >= 0 && tg->dims[tg->rank - 1].size == tu->dims[tu->rank - 1].size;
        f->node.n_in = halves ? 1 : 2;
        f->node.in[0] = ir_node_ref(halves ? gu : gate);
        f->node.in[1] = ir_node_ref(up);
        return true;
    }
    return false;
}

static bool match_residual(const Graph *g, const IrUses *u, int root, Fusion *f) {
    const Node *add = &g->nodes[root];
    if (add->op != OP_ADD) return false;
    for (int side = 1; side >= 0; side--) {
        int lin = node_operand(add, side), res = node_operand(add, 1 - side);
        if (lin < 0 || res < 0 || g->nodes[lin].op != OP_LINEAR || !only_reader(u, lin, root)) continue;
        const Node *l = &g->nodes[lin];
        *f = (Fusion){.node = {.op = OP_LINEAR_ADD, .n_in = l->n_in + 1}, .n_gone = 2, .gone = {lin, root}};
        f->node.in[0] = l->in[0];
        f->node.in[1] = l->in[1];
        f->node.in[2] = ir_node_ref(res);
        if (l->n_in == 3) f->node.in[3] = l->in[2];
        return true;
    }
    return false;
}

static const Rule rules[] = {
    {"norm-into-linear", match_norm_linear},
    {"rope-kv-attention", match_rope_attention},
    {"silu-mul", match_silu_mul},
    {"residual-epilogue", match_residual},
};

// ----------------------------------------------------------------------------
// applying

// Puts the fused node where the root was (all its operands come earlier) and
// removes the chain.
static bool apply(Graph *g, Fusion *f, const char *rule, AwqcError *err) {
    int root = f->gone[f->n_gone - 1];
    Node *n = &f->node;
    n->attrs[n->n_attrs++] = ir_attr_string("rule", rule);
    if (ir_insert_node(g, root, n->op, n->in, n->n_in, n->attrs, n->n_attrs, g->nodes[root].block, err) < 0) return false;
    ir_replace_uses(g, root + 1, ir_node_ref(root));
    bool *remove = xcalloc(g->n_nodes, sizeof(bool));
    for (int i = 0; i < f->n_gone; i++) remove[f->gone[i] < root ? f->gone[i] : f->gone[i] + 1] = true;
    ir_remove_nodes(g, remove);
    free(remove);
    return true;
}

static bool apply_rule(Graph *g, const Rule *r, const PassContext *ctx, int *count, AwqcError *err) {
    *count = 0;
    IrUses u;
    ir_uses_build(g, &u);
    for (size_t i = 0; i < g->n_nodes; i++) {
        Fusion f;
        if (!r->match(g, &u, (int)i, &f)) continue;
        if (!apply(g, &f, r->name, err)) {
            ir_uses_free(&u);
            return awqc_fail(err, "fuse: rule %s at %%%zu: %s", r->name, i, err->msg);
        }
        (*count)++;
        i -= (size_t)(f.n_gone - 1); // the chain shrank to one node; revisit from it
        ir_uses_free(&u);
        ir_uses_build(g, &u);
    }
    ir_uses_free(&u);
    if (ctx->log) fprintf(ctx->log, "fuse: %-18s %d\n", r->name, *count);
    return true;
}

bool pass_fuse(Graph *g, const PassContext *ctx, bool *changed, AwqcError *err) {
    *changed = false;
    for (size_t r = 0; r < sizeof rules / sizeof rules[0]; r++) {
        int n;
        if (!apply_rule(g, &rules[r], ctx, &n, err)) return false;
        *changed = *changed || n > 0;
    }
    return true;
}
