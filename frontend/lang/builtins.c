// builtins.c: the three built-in functions that read the checkpoint:
// meta(gguf_key, hf_key) reads a hyper-parameter, tensor(gguf_name, hf_name)
// binds a weight (one IR weight per distinct name), and by_format(gguf: a,
// hf: b) picks an expression by the checkpoint's format.
#include <stdlib.h>
#include <string.h>

#include "eval.h"

// ----------------------------------------------------------------------------
// arguments

bool is_builtin(const char *name) {
    return strcmp(name, "meta") == 0 || strcmp(name, "tensor") == 0 || strcmp(name, "by_format") == 0;
}

// meta() and tensor() take a GGUF name and optionally a different HF name;
// returns the argument that applies to this checkpoint, or NULL (error).
static const Expr *pick_name_arg(Lower *L, const Expr *call) {
    bool named = false;
    for (size_t i = 0; i < call->n_args; i++) named |= call->args[i].name != NULL;
    if (call->n_args < 1 || call->n_args > 2 || named) {
        lang_error_at(L->err, L->src, call->loc,
                      "%s takes 1 or 2 positional arguments (the GGUF name, then the Hugging Face name), got %zu%s",
                      call->str, call->n_args, named ? " with names" : "");
        return NULL;
    }
    bool hf = ckpt_format(L->ckpt) == CKPT_HF;
    return call->args[hf && call->n_args == 2 ? 1 : 0].value;
}

// Outside a fallback only this name was tried: names probed by an enclosing
// `or` before it are not part of this error.
static EvalStatus missing(Lower *L, const char *name, bool is_meta, bool may_miss, Loc loc) {
    if (!may_miss) tried_clear(L);
    tried_add(L, name, is_meta);
    if (may_miss) return EV_MISSING;
    report_missing(L, loc);
    return EV_FAIL;
}

// ----------------------------------------------------------------------------
// meta(gguf_key, hf_key)

static EvalStatus read_meta(Lower *L, const char *key, Loc loc, Value *out) {
    const Checkpoint *c = L->ckpt;
    switch (ckpt_meta_kind(c, key)) {
    case META_INT: out->kind = V_INT; ckpt_meta_int(c, key, &out->i); return EV_OK;
    case META_FLOAT: out->kind = V_FLOAT; ckpt_meta_float(c, key, &out->f); return EV_OK;
    case META_STRING: {
        const char *s = NULL;
        ckpt_meta_string(c, key, &s);
        *out = (Value){.kind = V_STRING, .s = xstrdup(s)};
        return EV_OK;
    }
    case META_ARRAY:
        lang_error_at(L->err, L->src, loc, "metadata key '%s' holds an array; expected a number or a string", key);
        return EV_FAIL;
    case META_NONE: break;
    }
    AWQC_PANIC("read_meta called for an absent key");
}

// Every hyper-parameter read is also kept as graph metadata "hf:<HF key>",
// so a Hugging Face config.json can be written for a GGUF source.
static bool note_hf_meta(Lower *L, const Expr *call, const Value *v) {
    char *hf_key = eval_string(L, call->args[call->n_args - 1].value);
    if (!hf_key) return false;
    char *key = awqc_asprintf("hf:%s", hf_key);
    if (v->kind == V_INT) ir_set_meta(L->g, key, ir_attr_int("", v->i));
    else if (v->kind == V_FLOAT) ir_set_meta(L->g, key, ir_attr_float("", v->f));
    else if (v->kind == V_STRING) ir_set_meta(L->g, key, ir_attr_string("", v->s));
    free(key);
    free(hf_key);
    return true;
}

static EvalStatus call_meta(Lower *L, const Expr *call, bool may_miss, Value *out) {
    const Expr *arg = pick_name_arg(L, call);
    char *key = arg ? eval_string(L, arg) : NULL;
    if (!key) return EV_FAIL;
    EvalStatus st = ckpt_meta_kind(L->ckpt, key) == META_NONE ? missing(L, key, true, may_miss, call->loc)
                                                              : read_meta(L, key, call->loc, out);
    if (st == EV_OK && !note_hf_meta(L, call, out)) st = EV_FAIL;
    free(key);
    return st;
}

// ----------------------------------------------------------------------------
// tensor(gguf_name, hf_name)

// Only for loadable types does the file's size bound the element count, so
// the f32 copy is allocated after that check; otherwise ckpt_load_f32 just
// explains why not, and a bad tensor is a located error, not an abort.
static bool load_weight(Lower *L, int w, const CkptTensor *t, Loc loc) {
    Weight *wt = &L->g->weights[w];
    if (ckpt_tensor_loadable(t)) wt->data = xmalloc((size_t)t->n_elements * sizeof(float));
    AwqcError why;
    if (ckpt_load_f32(L->ckpt, t, wt->data, &why)) return true;
    return lang_error_at(L->err, L->src, loc, "cannot load weight '%s': %s", t->name, why.msg);
}

// A quantized linear kept as codes: type q4/q3 with the folder's group size.
static bool load_codes(Lower *L, int w, const CkptTensor *t, Loc loc) {
    Weight *wt = &L->g->weights[w];
    wt->quant = xcalloc(1, sizeof *wt->quant);
    AwqcError why;
    if (!ckpt_load_codes(L->ckpt, t, wt->quant, &why))
        return lang_error_at(L->err, L->src, loc, "cannot load weight '%s': %s", t->name, why.msg);
    wt->type.dtype = wt->quant->bits == 4 ? DT_Q4 : DT_Q3;
    wt->type.group = wt->quant->group;
    return true;
}

static bool keeps_codes(const Lower *L, const CkptTensor *t) {
    return L->opts->keep_quant_codes && ckpt_tensor_is_awq(t);
}

// One IR weight per distinct checkpoint tensor: a tied embedding used as the
// lm head is the same weight twice.
static EvalStatus bind_weight(Lower *L, const CkptTensor *t, Loc loc, Value *out) {
    int w = ir_find_weight(L->g, t->name);
    if (w < 0) {
        if (t->rank < 1 || t->rank > IR_MAX_RANK) {
            lang_error_at(L->err, L->src, loc, "weight '%s' has rank %d; expected 1 to %d", t->name, t->rank, IR_MAX_RANK);
            return EV_FAIL;
        }
        w = ir_add_weight(L->g, t->name, ir_type_const(DT_F32, t->rank, t->shape), L->err);
        AWQC_ASSERT(w >= 0);
        bool codes = keeps_codes(L, t);
        if (L->opts->load_weights && !(codes ? load_codes(L, w, t, loc) : load_weight(L, w, t, loc))) return EV_FAIL;
    }
    *out = (Value){.kind = V_TENSOR, .t = ir_weight_ref(w)};
    return EV_OK;
}

// The name a Hugging Face export gives the weight: the second argument (the
// only one when there is one), kept on the weight the first time it is bound.
static bool note_hf_name(Lower *L, const Expr *call, int w) {
    Weight *wt = &L->g->weights[w];
    if (wt->hf_name) return true;
    wt->hf_name = eval_string(L, call->args[call->n_args - 1].value);
    return wt->hf_name != NULL;
}

static EvalStatus call_tensor(Lower *L, const Expr *call, bool may_miss, Value *out) {
    const Expr *arg = pick_name_arg(L, call);
    char *name = arg ? eval_string(L, arg) : NULL;
    if (!name) return EV_FAIL;
    const CkptTensor *t = ckpt_find_tensor(L->ckpt, name);
    EvalStatus st = t ? bind_weight(L, t, call->loc, out) : missing(L, name, false, may_miss, call->loc);
    if (st == EV_OK && !note_hf_name(L, call, out->t.index)) st = EV_FAIL;
    free(name);
    return st;
}

// ----------------------------------------------------------------------------
// by_format(gguf: a, hf: b)

static EvalStatus call_by_format(Lower *L, const Expr *call, bool may_miss, Value *out) {
    const char *want = ckpt_format(L->ckpt) == CKPT_GGUF ? "gguf" : "hf";
    const Expr *chosen = NULL;
    for (size_t i = 0; i < call->n_args; i++) {
        const Arg *a = &call->args[i];
        if (!a->name || (strcmp(a->name, "gguf") && strcmp(a->name, "hf"))) {
            lang_error_at(L->err, L->src, a->loc, "by_format takes only the named arguments gguf: and hf:");
            return EV_FAIL;
        }
        if (strcmp(a->name, want) == 0) chosen = a->value;
    }
    if (!chosen) {
        lang_error_at(L->err, L->src, call->loc, "by_format has no '%s:' choice for this %s checkpoint", want,
                      ckpt_format(L->ckpt) == CKPT_GGUF ? "GGUF" : "Hugging Face");
        return EV_FAIL;
    }
    return eval_expr(L, chosen, may_miss, out);
}

// ----------------------------------------------------------------------------
// dispatch

bool builtin_call(Lower *L, const Expr *call, bool may_miss, Value *out, EvalStatus *status) {
    if (strcmp(call->str, "meta") == 0) *status = call_meta(L, call, may_miss, out);
    else if (strcmp(call->str, "tensor") == 0) *status = call_tensor(L, call, may_miss, out);
    else if (strcmp(call->str, "by_format") == 0) *status = call_by_format(L, call, may_miss, out);
    else return false;
    return true;
}
