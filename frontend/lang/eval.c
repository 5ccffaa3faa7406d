// eval.c: evaluating expressions while lowering: numbers and their
// arithmetic, names, `or` / `default` (the first option that exists), and the
// dispatch of calls to the built-ins or to IR ops.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval.h"

// ----------------------------------------------------------------------------
// values

const char *value_kind_name(ValueKind k) {
    switch (k) {
    case V_INT: return "an integer";
    case V_FLOAT: return "a float";
    case V_STRING: return "a string";
    case V_TENSOR: return "a tensor";
    }
    AWQC_PANIC("bad value kind %d", (int)k);
}

void value_free(Value *v) {
    free(v->s);
    v->s = NULL;
}

Value value_copy(const Value *v) {
    Value c = *v;
    if (v->s) c.s = xstrdup(v->s);
    return c;
}

// ----------------------------------------------------------------------------
// the environment: few names (a few dozen), so a flat array is enough

Binding *env_find(Lower *L, const char *name) {
    for (size_t i = 0; i < L->n_env; i++)
        if (strcmp(L->env[i].name, name) == 0) return &L->env[i];
    return NULL;
}

void env_bind(Lower *L, const char *name, BindKind kind, Value v) {
    Binding *b = env_find(L, name);
    if (b) {
        value_free(&b->v);
        b->kind = kind;
        b->v = v;
        return;
    }
    GROW(L->env, L->cap_env, L->n_env + 1);
    L->env[L->n_env++] = (Binding){.name = xstrdup(name), .kind = kind, .v = v};
}

void env_unbind(Lower *L, const char *name) {
    Binding *b = env_find(L, name);
    if (!b) return;
    free(b->name);
    value_free(&b->v);
    *b = L->env[--L->n_env];
}

// ----------------------------------------------------------------------------
// missing metadata keys and tensors

void tried_add(Lower *L, const char *name, bool is_meta) {
    GROW(L->tried, L->cap_tried, L->n_tried + 1);
    L->tried[L->n_tried++] = (Tried){.name = xstrdup(name), .is_meta = is_meta};
}

void tried_clear(Lower *L) {
    for (size_t i = 0; i < L->n_tried; i++) free(L->tried[i].name);
    L->n_tried = 0;
}

static const char *format_name(const Checkpoint *c) {
    return ckpt_format(c) == CKPT_GGUF ? "GGUF" : "Hugging Face";
}

bool report_missing(Lower *L, Loc loc) {
    AWQC_ASSERT(L->n_tried > 0);
    bool all_meta = true, all_tensors = true;
    for (size_t i = 0; i < L->n_tried; i++) {
        all_meta &= L->tried[i].is_meta;
        all_tensors &= !L->tried[i].is_meta;
    }
    const char *what = all_meta ? "metadata key" : all_tensors ? "weight" : "metadata key or weight";
    char names[768] = "";
    size_t n = 0;
    for (size_t i = 0; i < L->n_tried && n < sizeof names; i++)
        n += (size_t)snprintf(names + n, sizeof names - n, "%s'%s'", i ? ", " : "", L->tried[i].name);
    const char *fmt = L->n_tried == 1 ? "missing %s %s in %s checkpoint '%s'" : "missing %s: none of %s in %s checkpoint '%s'";
    lang_error_at(L->err, L->src, loc, fmt, what, names, format_name(L->ckpt), ckpt_path(L->ckpt));
    tried_clear(L);
    return false;
}

// ----------------------------------------------------------------------------
// names

static EvalStatus eval_name(Lower *L, const Expr *e, Value *out) {
    Binding *b = env_find(L, e->str);
    if (b) {
        *out = value_copy(&b->v);
        return EV_OK;
    }
    const char **names = xmalloc((L->n_env + 1) * sizeof *names);
    for (size_t i = 0; i < L->n_env; i++) names[i] = L->env[i].name;
    const char *near = lang_suggest(e->str, names, L->n_env);
    if (near) lang_error_at(L->err, L->src, e->loc, "undefined name '%s' (did you mean '%s'?)", e->str, near);
    else lang_error_at(L->err, L->src, e->loc, "undefined name '%s'", e->str);
    free(names);
    return EV_FAIL;
}

// ----------------------------------------------------------------------------
// arithmetic on numbers: int op int stays int (division truncates), any float
// makes a float

static bool is_number(const Value *v) {
    return v->kind == V_INT || v->kind == V_FLOAT;
}

static double as_double(const Value *v) {
    return v->kind == V_INT ? (double)v->i : v->f;
}

static EvalStatus int_arith(Lower *L, const Expr *e, int64_t a, int64_t b, Value *out) {
    bool overflow = false;
    int64_t r = 0;
    switch (e->op) {
    case '+': overflow = __builtin_add_overflow(a, b, &r); break;
    case '-': overflow = __builtin_sub_overflow(a, b, &r); break;
    case '*': overflow = __builtin_mul_overflow(a, b, &r); break;
    case '/':
        if (b == 0) {
            lang_error_at(L->err, L->src, e->loc, "division by zero (%lld / 0)", (long long)a);
            return EV_FAIL;
        }
        overflow = a == INT64_MIN && b == -1;
        if (!overflow) r = a / b;
        break;
    }
    if (overflow) {
        lang_error_at(L->err, L->src, e->loc, "integer overflow in '%c'", e->op);
        return EV_FAIL;
    }
    *out = (Value){.kind = V_INT, .i = r};
    return EV_OK;
}

static EvalStatus float_arith(Lower *L, const Expr *e, double a, double b, Value *out) {
    if (e->op == '/' && b == 0.0) {
        lang_error_at(L->err, L->src, e->loc, "division by zero");
        return EV_FAIL;
    }
    double r = e->op == '+' ? a + b : e->op == '-' ? a - b : e->op == '*' ? a * b : a / b;
    *out = (Value){.kind = V_FLOAT, .f = r};
    return EV_OK;
}

static EvalStatus combine(Lower *L, const Expr *e, Value a, Value b, Value *out) {
    if (a.kind == V_TENSOR && b.kind == V_TENSOR) {
        if (e->op == '+') return op_binary(L, e, OP_ADD, a, b, out);
        if (e->op == '*') return op_binary(L, e, OP_MUL, a, b, out);
        lang_error_at(L->err, L->src, e->loc, "operator '%c' is not defined on tensors (only + and * are)", e->op);
        return EV_FAIL;
    }
    if (!is_number(&a) || !is_number(&b)) {
        lang_error_at(L->err, L->src, e->loc, "operator '%c' needs two numbers or two tensors, got %s and %s", e->op,
                      value_kind_name(a.kind), value_kind_name(b.kind));
        return EV_FAIL;
    }
    if (a.kind == V_INT && b.kind == V_INT) return int_arith(L, e, a.i, b.i, out);
    return float_arith(L, e, as_double(&a), as_double(&b), out);
}

static EvalStatus eval_binary(Lower *L, const Expr *e, Value *out) {
    Value a = {0}, b = {0};
    if (eval_expr(L, e->lhs, false, &a) != EV_OK) return EV_FAIL;
    if (eval_expr(L, e->rhs, false, &b) != EV_OK) {
        value_free(&a);
        return EV_FAIL;
    }
    EvalStatus st = combine(L, e, a, b, out);
    value_free(&a);
    value_free(&b);
    return st;
}

static EvalStatus eval_negate(Lower *L, const Expr *e, Value *out) {
    Value v;
    if (!eval_number(L, e->lhs, &v)) return EV_FAIL;
    if (v.kind == V_INT && v.i == INT64_MIN) {
        lang_error_at(L->err, L->src, e->loc, "integer overflow in '-'");
        return EV_FAIL;
    }
    if (v.kind == V_INT) v.i = -v.i;
    else v.f = -v.f;
    *out = v;
    return EV_OK;
}

// ----------------------------------------------------------------------------
// `a or b`, `a default b`: a is probed; only when it is missing is b used

static EvalStatus eval_fallback(Lower *L, const Expr *e, bool may_miss, Value *out) {
    EvalStatus st = eval_expr(L, e->lhs, true, out);
    if (st != EV_MISSING) return st;
    st = eval_expr(L, e->rhs, true, out);
    if (st == EV_OK) tried_clear(L);
    if (st != EV_MISSING || may_miss) return st;
    report_missing(L, e->loc);
    return EV_FAIL;
}

// ----------------------------------------------------------------------------
// dispatch

EvalStatus eval_expr(Lower *L, const Expr *e, bool may_miss, Value *out) {
    *out = (Value){0};
    switch (e->kind) {
    case E_INT: *out = (Value){.kind = V_INT, .i = e->ival}; return EV_OK;
    case E_FLOAT: *out = (Value){.kind = V_FLOAT, .f = e->fval}; return EV_OK;
    case E_STRING:
        out->kind = V_STRING;
        out->s = interp_string(L, e->str, e->loc);
        return out->s ? EV_OK : EV_FAIL;
    case E_NAME: return eval_name(L, e, out);
    case E_CALL: {
        EvalStatus st;
        if (builtin_call(L, e, may_miss, out, &st)) return st;
        return op_call(L, e, out);
    }
    case E_BINARY: return eval_binary(L, e, out);
    case E_NEG: return eval_negate(L, e, out);
    case E_FALLBACK: return eval_fallback(L, e, may_miss, out);
    }
    AWQC_PANIC("bad expression kind %d", (int)e->kind);
}

bool eval_number(Lower *L, const Expr *e, Value *out) {
    if (eval_expr(L, e, false, out) != EV_OK) return false;
    if (is_number(out)) return true;
    lang_error_at(L->err, L->src, e->loc, "expected a number, got %s", value_kind_name(out->kind));
    value_free(out);
    return false;
}

bool eval_int(Lower *L, const Expr *e, int64_t *out) {
    Value v;
    if (!eval_number(L, e, &v)) return false;
    if (v.kind == V_FLOAT && (v.f != floor(v.f) || fabs(v.f) > 9e15))
        return lang_error_at(L->err, L->src, e->loc, "expected an integer, got %g", v.f);
    *out = v.kind == V_INT ? v.i : (int64_t)v.f;
    return true;
}
