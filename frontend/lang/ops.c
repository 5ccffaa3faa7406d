// ops.c: calls of IR ops. The language does not know the ops: a call's name
// is looked up with ir_op_from_name, positional arguments become operands,
// named arguments become attributes, and ir_add_node checks arity and shapes;
// its message is re-issued at the call's location.
#include <stdlib.h>
#include <string.h>

#include "eval.h"

// ----------------------------------------------------------------------------
// attributes

// Attributes whose kind is fixed by name: eps and theta stay floats even when
// the metadata (or a literal) gives an integer such as rope_theta 10000.
static const struct {
    const char *key;
    AttrKind kind;
} attr_kinds[] = {
    {"eps", ATTR_FLOAT},    {"theta", ATTR_FLOAT}, {"heads", ATTR_INT}, {"kv_heads", ATTR_INT},
    {"head_dim", ATTR_INT}, {"mode", ATTR_STRING}, {"name", ATTR_STRING},
};

static bool attr_kind_for(const char *key, AttrKind *kind) {
    for (size_t i = 0; i < sizeof attr_kinds / sizeof attr_kinds[0]; i++)
        if (strcmp(attr_kinds[i].key, key) == 0) {
            *kind = attr_kinds[i].kind;
            return true;
        }
    return false;
}

static bool is_integral(double f) {
    return f == (double)(int64_t)f;
}

static bool attr_from_value(Lower *L, const Arg *a, const Value *v, Attr *out) {
    AttrKind want = v->kind == V_INT ? ATTR_INT : v->kind == V_FLOAT ? ATTR_FLOAT : ATTR_STRING;
    attr_kind_for(a->name, &want);
    const Loc at = a->value->loc;
    if (v->kind == V_TENSOR)
        return lang_error_at(L->err, L->src, at, "attribute '%s' expects a number or a string, got a tensor", a->name);
    if (want == ATTR_STRING && v->kind != V_STRING)
        return lang_error_at(L->err, L->src, at, "attribute '%s' must be a string, got %s", a->name, value_kind_name(v->kind));
    if (want != ATTR_STRING && v->kind == V_STRING)
        return lang_error_at(L->err, L->src, at, "attribute '%s' must be a number, got a string", a->name);
    if (want == ATTR_INT && v->kind == V_FLOAT && !is_integral(v->f))
        return lang_error_at(L->err, L->src, at, "attribute '%s' must be an integer, got %g", a->name, v->f);
    if (want == ATTR_STRING) *out = ir_attr_string(a->name, v->s);
    else if (want == ATTR_INT) *out = ir_attr_int(a->name, v->kind == V_INT ? v->i : (int64_t)v->f);
    else *out = ir_attr_float(a->name, v->kind == V_INT ? (double)v->i : v->f);
    return true;
}

static bool eval_attr(Lower *L, const Arg *a, Attr *out) {
    Value v;
    if (eval_expr(L, a->value, false, &v) != EV_OK) return false;
    bool ok = attr_from_value(L, a, &v, out);
    value_free(&v);
    return ok;
}

// ----------------------------------------------------------------------------
// argument lists

static bool check_op_name(Lower *L, const Expr *call, OpKind *op) {
    if (ir_op_from_name(call->str, op) && *op != OP_INPUT) return true;
    const char *names[OP_COUNT + 3] = {"meta", "tensor", "by_format"};
    size_t n = 3;
    for (int i = 0; i < OP_COUNT; i++)
        if (i != OP_INPUT) names[n++] = ir_op_name((OpKind)i);
    const char *near = lang_suggest(call->str, names, n);
    if (near) return lang_error_at(L->err, L->src, call->loc, "unknown op '%s' (did you mean '%s'?)", call->str, near);
    return lang_error_at(L->err, L->src, call->loc, "unknown op '%s'", call->str);
}

// Positional arguments first, then named ones, each name once, within the
// IR's limits.
static bool check_arg_shape(Lower *L, const Expr *call) {
    size_t n_pos = 0, n_named = 0;
    for (size_t i = 0; i < call->n_args; i++) {
        const Arg *a = &call->args[i];
        if (!a->name && n_named) return lang_error_at(L->err, L->src, a->loc, "positional argument after named arguments");
        if (!a->name) n_pos++;
        if (!a->name) continue;
        n_named++;
        for (size_t j = 0; j < i; j++)
            if (call->args[j].name && strcmp(call->args[j].name, a->name) == 0)
                return lang_error_at(L->err, L->src, a->loc, "attribute '%s' given twice", a->name);
    }
    if (n_pos > IR_MAX_OPERANDS)
        return lang_error_at(L->err, L->src, call->loc, "%s takes at most %d operands, got %zu", call->str, IR_MAX_OPERANDS, n_pos);
    if (n_named > IR_MAX_ATTRS)
        return lang_error_at(L->err, L->src, call->loc, "%s takes at most %d attributes, got %zu", call->str, IR_MAX_ATTRS, n_named);
    return true;
}

static bool eval_operand(Lower *L, const Expr *call, size_t i, Operand *out) {
    Value v;
    if (eval_expr(L, call->args[i].value, false, &v) != EV_OK) return false;
    if (v.kind == V_TENSOR) {
        *out = v.t;
        return true;
    }
    value_free(&v);
    return lang_error_at(L->err, L->src, call->args[i].loc, "argument %zu of %s must be a tensor, got %s", i + 1,
                         call->str, value_kind_name(v.kind));
}

// ----------------------------------------------------------------------------
// nodes

static EvalStatus add_node(Lower *L, OpKind op, const Operand *in, int n_in, Attr *attrs, int n_attrs, Loc loc,
                           Value *out) {
    AwqcError why;
    int node = ir_add_node(L->g, op, in, n_in, attrs, n_attrs, L->block, &why);
    if (node < 0) {
        lang_error_at(L->err, L->src, loc, "%s", why.msg);
        return EV_FAIL;
    }
    *out = (Value){.kind = V_TENSOR, .t = ir_node_ref(node)};
    return EV_OK;
}

EvalStatus op_call(Lower *L, const Expr *call, Value *out) {
    OpKind op;
    if (!check_op_name(L, call, &op) || !check_arg_shape(L, call)) return EV_FAIL;
    Operand in[IR_MAX_OPERANDS] = {{0}};
    Attr attrs[IR_MAX_ATTRS] = {{0}};
    int n_in = 0, n_attrs = 0;
    for (size_t i = 0; i < call->n_args; i++) {
        bool ok = call->args[i].name ? eval_attr(L, &call->args[i], &attrs[n_attrs++])
                                     : eval_operand(L, call, i, &in[n_in++]);
        if (!ok) {
            for (int k = 0; k < n_attrs; k++) ir_attr_free(&attrs[k]);
            return EV_FAIL;
        }
    }
    return add_node(L, op, in, n_in, attrs, n_attrs, call->loc, out);
}

EvalStatus op_binary(Lower *L, const Expr *e, OpKind op, Value a, Value b, Value *out) {
    Operand in[2] = {a.t, b.t};
    Attr none[1] = {{0}}; // ir_add_node copies from it; never a NULL pointer
    return add_node(L, op, in, 2, none, 0, e->loc, out);
}
