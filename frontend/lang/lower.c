// lower.c: lowering a model description against one checkpoint: statements
// run in order, loops are unrolled, blocks name the nodes made inside them,
// params are evaluated (or overridden) and recorded as graph metadata.
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval.h"

#define MAX_LOOP_TRIPS 1000000 // a runaway bound is a mistake, not a model

static bool lower_stmts(Lower *L, const StmtList *list, bool top);

// ----------------------------------------------------------------------------
// params

// The value of an override: an integer, a float, or else a string.
static Value parse_override(const char *text) {
    char *end = NULL;
    errno = 0;
    long long i = strtoll(text, &end, 10);
    if (*text && !*end && errno == 0) return (Value){.kind = V_INT, .i = i};
    double f = strtod(text, &end);
    if (*text && !*end) return (Value){.kind = V_FLOAT, .f = f};
    return (Value){.kind = V_STRING, .s = xstrdup(text)};
}

// Looks for "name=value" in LowerOptions.param_overrides.
static bool override_value(const Lower *L, const char *name, Value *out) {
    size_t len = strlen(name);
    for (const char *const *ov = L->opts->param_overrides; ov && *ov; ov++)
        if (strncmp(*ov, name, len) == 0 && (*ov)[len] == '=') {
            *out = parse_override(*ov + len + 1);
            return true;
        }
    return false;
}

// Converts v to the declared type of the param, if any.
static bool convert_param(Lower *L, const Stmt *s, Value *v) {
    const Loc at = s->value->loc;
    if (v->kind == V_TENSOR)
        return lang_error_at(L->err, L->src, at, "param '%s' must be a number or a string, got a tensor", s->name);
    if (s->type == PT_STRING && v->kind != V_STRING)
        return lang_error_at(L->err, L->src, at, "param '%s' is a string, got %s", s->name, value_kind_name(v->kind));
    if ((s->type == PT_INT || s->type == PT_FLOAT) && v->kind == V_STRING)
        return lang_error_at(L->err, L->src, at, "param '%s' is a number, got a string (\"%s\")", s->name, v->s);
    if (s->type == PT_FLOAT && v->kind == V_INT) *v = (Value){.kind = V_FLOAT, .f = (double)v->i};
    if (s->type == PT_INT && v->kind == V_FLOAT) {
        // Range first: converting a double outside int64_t is undefined (fuzz_lang found 2e32).
        if (!(v->f >= -9.2e18 && v->f <= 9.2e18) || v->f != floor(v->f))
            return lang_error_at(L->err, L->src, at, "param '%s' is an integer, got %g", s->name, v->f);
        *v = (Value){.kind = V_INT, .i = (int64_t)v->f};
    }
    return true;
}

static Attr param_attr(const char *name, const Value *v) {
    if (v->kind == V_INT) return ir_attr_int(name, v->i);
    if (v->kind == V_FLOAT) return ir_attr_float(name, v->f);
    return ir_attr_string(name, v->s);
}

static bool lower_param(Lower *L, const Stmt *s, bool top) {
    if (!top) return lang_error_at(L->err, L->src, s->loc, "param '%s' must be declared at the top level of the model", s->name);
    if (env_find(L, s->name)) return lang_error_at(L->err, L->src, s->name_loc, "'%s' is already defined", s->name);
    Value v = {0};
    if (!override_value(L, s->name, &v) && eval_expr(L, s->value, false, &v) != EV_OK) return false;
    if (!convert_param(L, s, &v)) {
        value_free(&v);
        return false;
    }
    ir_set_meta(L->g, s->name, param_attr(s->name, &v));
    env_bind(L, s->name, BIND_PARAM, v);
    return true;
}

// ----------------------------------------------------------------------------
// names bound to tensors

// Params and loop variables are fixed; everything else may be rebound.
static bool check_assignable(Lower *L, const char *name, Loc loc) {
    Binding *b = env_find(L, name);
    if (b && b->kind == BIND_PARAM) return lang_error_at(L->err, L->src, loc, "cannot assign to param '%s'", name);
    if (b && b->kind == BIND_LOOP) return lang_error_at(L->err, L->src, loc, "cannot assign to loop variable '%s'", name);
    return true;
}

static bool lower_assign(Lower *L, const Stmt *s) {
    Value v;
    if (!check_assignable(L, s->name, s->name_loc) || eval_expr(L, s->value, false, &v) != EV_OK) return false;
    env_bind(L, s->name, BIND_VALUE, v);
    return true;
}

static bool lower_weight(Lower *L, const Stmt *s) {
    Value v;
    if (!check_assignable(L, s->name, s->name_loc) || eval_expr(L, s->value, false, &v) != EV_OK) return false;
    if (v.kind != V_TENSOR || v.t.kind != OPND_WEIGHT) {
        value_free(&v);
        return lang_error_at(L->err, L->src, s->value->loc, "weight '%s' must be a checkpoint tensor (tensor(...)), got %s",
                             s->name, v.kind == V_TENSOR ? "a computed value" : value_kind_name(v.kind));
    }
    env_bind(L, s->name, BIND_VALUE, v);
    return true;
}

static bool lower_input(Lower *L, const Stmt *s) {
    if (!check_assignable(L, s->name, s->name_loc)) return false;
    Operand none[1] = {{0}};
    Attr name = ir_attr_string("name", s->name);
    AwqcError why;
    int node = ir_add_node(L->g, OP_INPUT, none, 0, &name, 1, L->block, &why);
    if (node < 0) return lang_error_at(L->err, L->src, s->loc, "%s", why.msg);
    env_bind(L, s->name, BIND_VALUE, (Value){.kind = V_TENSOR, .t = ir_node_ref(node)});
    return true;
}

static bool lower_output(Lower *L, const Stmt *s) {
    if (!lower_assign(L, s)) return false;
    const Value *v = &env_find(L, s->name)->v;
    if (v->kind != V_TENSOR || v->t.kind != OPND_NODE)
        return lang_error_at(L->err, L->src, s->value->loc, "output '%s' must be a computed tensor, got %s", s->name,
                             v->kind == V_TENSOR ? "a weight" : value_kind_name(v->kind));
    ir_add_output(L->g, v->t.index);
    return true;
}

// ----------------------------------------------------------------------------
// loops and blocks

static bool lower_for(Lower *L, const Stmt *s) {
    if (env_find(L, s->name)) return lang_error_at(L->err, L->src, s->name_loc, "loop variable '%s' is already defined", s->name);
    int64_t lo, hi;
    if (!eval_int(L, s->value, &lo) || !eval_int(L, s->hi, &hi)) return false;
    uint64_t trips = hi > lo ? (uint64_t)hi - (uint64_t)lo : 0; // no signed overflow for extreme bounds
    if (trips > MAX_LOOP_TRIPS)
        return lang_error_at(L->err, L->src, s->loc, "loop runs %llu times; at most %d are allowed",
                             (unsigned long long)trips, MAX_LOOP_TRIPS);
    bool ok = true;
    for (int64_t i = lo; i < hi && ok; i++) {
        env_bind(L, s->name, BIND_LOOP, (Value){.kind = V_INT, .i = i});
        ok = lower_stmts(L, &s->body, false);
    }
    env_unbind(L, s->name);
    return ok;
}

static bool lower_block(Lower *L, const Stmt *s) {
    char *name = eval_string(L, s->value);
    if (!name) return false;
    int outer = L->block;
    L->block = ir_block(L->g, name);
    free(name);
    bool ok = lower_stmts(L, &s->body, false);
    L->block = outer;
    return ok;
}

// ----------------------------------------------------------------------------
// statements

static bool lower_stmt(Lower *L, const Stmt *s, bool top) {
    switch (s->kind) {
    case S_PARAM: return lower_param(L, s, top);
    case S_WEIGHT: return lower_weight(L, s);
    case S_INPUT: return lower_input(L, s);
    case S_ASSIGN: return lower_assign(L, s);
    case S_OUTPUT: return lower_output(L, s);
    case S_FOR: return lower_for(L, s);
    case S_BLOCK: return lower_block(L, s);
    }
    AWQC_PANIC("bad statement kind %d", (int)s->kind);
}

static bool lower_stmts(Lower *L, const StmtList *list, bool top) {
    for (size_t i = 0; i < list->n; i++)
        if (!lower_stmt(L, list->items[i], top)) return false;
    return true;
}

// ----------------------------------------------------------------------------
// the whole model

// Every override must name a param, or a typo would silently change nothing.
static bool check_overrides(Lower *L) {
    for (const char *const *ov = L->opts->param_overrides; ov && *ov; ov++) {
        const char *eq = strchr(*ov, '=');
        if (!eq) return awqc_fail(L->err, "%s: param override '%s' is not name=value", L->src->path, *ov);
        char *name = xstrndup(*ov, (size_t)(eq - *ov));
        Binding *b = env_find(L, name);
        bool ok = b && b->kind == BIND_PARAM;
        free(name);
        if (!ok) return awqc_fail(L->err, "%s: param override '%s' names no param of the model", L->src->path, *ov);
    }
    return true;
}

static void lower_free(Lower *L) {
    while (L->n_env) env_unbind(L, L->env[L->n_env - 1].name);
    free(L->env);
    tried_clear(L);
    free(L->tried);
}

Graph *lang_lower(const ModelAst *ast, const Checkpoint *ckpt, const LowerOptions *opts, AwqcError *err) {
    static const LowerOptions defaults = {0};
    AWQC_ASSERT(ast && ckpt);
    Graph *g = ir_graph_new(ast->name);
    ir_set_meta(g, "arch", ir_attr_string("arch", ast->name));
    Lower L = {.src = &ast->src, .ckpt = ckpt, .opts = opts ? opts : &defaults, .err = err, .g = g, .block = -1};
    bool ok = lower_stmts(&L, &ast->body, true) && check_overrides(&L);
    if (ok && g->n_outputs == 0) ok = lang_error_at(err, &ast->src, ast->name_loc, "model '%s' declares no output", ast->name);
    lower_free(&L);
    if (ok) return g;
    ir_graph_free(g);
    return NULL;
}
