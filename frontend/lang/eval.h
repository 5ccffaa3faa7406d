// eval.h: the evaluator's state while a model description is lowered against
// one checkpoint: values, the name environment, and the "first that exists"
// bookkeeping of `or` / `default`. Shared by eval.c, interp.c, builtins.c,
// ops.c and lower.c.
#ifndef AWQC_LANG_EVAL_H
#define AWQC_LANG_EVAL_H

#include "lang_internal.h"

// ----------------------------------------------------------------------------
// values and names

typedef enum { V_INT, V_FLOAT, V_STRING, V_TENSOR } ValueKind;

typedef struct {
    ValueKind kind;
    int64_t i;  // V_INT
    double f;   // V_FLOAT
    char *s;    // V_STRING (owned)
    Operand t;  // V_TENSOR: a node's value or a weight
} Value;

typedef enum {
    BIND_PARAM, // param: fixed once evaluated
    BIND_LOOP,  // a loop variable: read-only inside its loop
    BIND_VALUE, // assigned names, weights, inputs: rebinding makes a new SSA value
} BindKind;

typedef struct {
    char *name;
    BindKind kind;
    Value v;
} Binding;

// One name tried by a chain of `or` / `default` whose options were all missing.
typedef struct {
    char *name;
    bool is_meta; // a metadata key, else a tensor name
} Tried;

typedef enum {
    EV_OK,
    EV_MISSING, // a metadata key or tensor is absent; the caller may fall back
    EV_FAIL,    // an error is in L->err
} EvalStatus;

typedef struct {
    const Source *src;
    const Checkpoint *ckpt;
    const LowerOptions *opts;
    AwqcError *err;
    Graph *g;
    int block; // block that new nodes go into, or -1
    Binding *env;
    size_t n_env, cap_env;
    Tried *tried;
    size_t n_tried, cap_tried;
} Lower;

const char *value_kind_name(ValueKind k); // "an integer", "a tensor", ...
void value_free(Value *v);
Value value_copy(const Value *v);

Binding *env_find(Lower *L, const char *name);
// Binds name (replacing an existing binding's value and kind).
void env_bind(Lower *L, const char *name, BindKind kind, Value v);
void env_unbind(Lower *L, const char *name);

// ----------------------------------------------------------------------------
// eval.c: expressions

// Evaluates e into out. With may_miss, an absent metadata key or tensor
// returns EV_MISSING (its name recorded in L->tried) instead of an error.
EvalStatus eval_expr(Lower *L, const Expr *e, bool may_miss, Value *out);
// Evaluates e and requires a number (int or float) or an int.
bool eval_number(Lower *L, const Expr *e, Value *out);
bool eval_int(Lower *L, const Expr *e, int64_t *out);
// Reports the names in L->tried as missing at loc, then forgets them.
bool report_missing(Lower *L, Loc loc);
void tried_add(Lower *L, const char *name, bool is_meta);
void tried_clear(Lower *L);

// ----------------------------------------------------------------------------
// interp.c: string literals: escapes and {name} interpolation

// Decodes the raw text of a string literal at loc; heap string or NULL (error).
char *interp_string(Lower *L, const char *raw, Loc loc);
// Evaluates a string-valued expression (a literal or a string param).
char *eval_string(Lower *L, const Expr *e);

// ----------------------------------------------------------------------------
// builtins.c: meta(), tensor(), by_format()

// True when name is a built-in; then *status is the result of calling it.
bool builtin_call(Lower *L, const Expr *call, bool may_miss, Value *out, EvalStatus *status);
bool is_builtin(const char *name);

// ----------------------------------------------------------------------------
// ops.c: calls of IR ops and tensor arithmetic

EvalStatus op_call(Lower *L, const Expr *call, Value *out);
// a + b -> add, a * b -> mul (both tensors).
EvalStatus op_binary(Lower *L, const Expr *e, OpKind op, Value a, Value b, Value *out);

#endif
