// interp.c: string literals. The scanner keeps their raw text so escapes
// and `{name}` interpolation are resolved at lowering time, when loop
// variables and params have values, and errors can point at the exact column.
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval.h"

// ----------------------------------------------------------------------------
// locations inside a literal: loc is the opening quote

static Loc raw_loc(const char *raw, size_t offset, Loc loc) {
    Loc l = {loc.line, loc.col + 1};
    for (size_t i = 0; i < offset; i++)
        if (((unsigned char)raw[i] & 0xC0) != 0x80) l.col++;
    return l;
}

// ----------------------------------------------------------------------------
// pieces

// The scanner guarantees a character follows every backslash.
static bool append_escape(Lower *L, StrBuf *b, const char *raw, size_t at, Loc loc) {
    char c = raw[at + 1], out;
    switch (c) {
    case 'n': out = '\n'; break;
    case 't': out = '\t'; break;
    case '"':
    case '\\':
    case '{':
    case '}': out = c; break;
    default: return lang_error_at(L->err, L->src, raw_loc(raw, at, loc), "unknown escape '\\%c' in string", c);
    }
    sb_append_n(b, &out, 1);
    return true;
}

static bool is_name(const char *s, size_t len) {
    if (len == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_')) return false;
    for (size_t i = 1; i < len; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_')) return false;
    return true;
}

static bool append_value(Lower *L, StrBuf *b, const char *name, Loc at) {
    Binding *bind = env_find(L, name);
    if (!bind) return lang_error_at(L->err, L->src, at, "undefined name '%s' in string interpolation", name);
    char tmp[64];
    switch (bind->v.kind) {
    case V_INT: snprintf(tmp, sizeof tmp, "%lld", (long long)bind->v.i); break;
    case V_FLOAT: snprintf(tmp, sizeof tmp, "%g", bind->v.f); break;
    case V_STRING: sb_append_n(b, bind->v.s, strlen(bind->v.s)); return true;
    case V_TENSOR: return lang_error_at(L->err, L->src, at, "cannot interpolate '%s': it is a tensor", name);
    }
    sb_append_n(b, tmp, strlen(tmp));
    return true;
}

// raw[at] is '{'; *end receives the offset of the matching '}'.
static bool append_interpolation(Lower *L, StrBuf *b, const char *raw, size_t at, Loc loc, size_t *end) {
    const char *close = strchr(raw + at, '}');
    if (!close)
        return lang_error_at(L->err, L->src, raw_loc(raw, at, loc), "unterminated '{' in string (write \\{ for a literal brace)");
    size_t len = (size_t)(close - raw) - at - 1;
    if (!is_name(raw + at + 1, len))
        return lang_error_at(L->err, L->src, raw_loc(raw, at, loc), "bad interpolation '%.*s': expected {name}",
                             (int)len + 2, raw + at);
    char *name = xstrndup(raw + at + 1, len);
    bool ok = append_value(L, b, name, raw_loc(raw, at + 1, loc));
    free(name);
    *end = (size_t)(close - raw);
    return ok;
}

// ----------------------------------------------------------------------------
// whole literals

static bool decode(Lower *L, StrBuf *b, const char *raw, Loc loc) {
    for (size_t i = 0; raw[i]; i++) {
        if (raw[i] == '\\') {
            if (!append_escape(L, b, raw, i, loc)) return false;
            i++;
        } else if (raw[i] == '{') {
            if (!append_interpolation(L, b, raw, i, loc, &i)) return false;
        } else if (raw[i] == '}') {
            return lang_error_at(L->err, L->src, raw_loc(raw, i, loc), "unmatched '}' in string (write \\} for a literal brace)");
        } else {
            sb_append_n(b, &raw[i], 1);
        }
    }
    return true;
}

char *interp_string(Lower *L, const char *raw, Loc loc) {
    StrBuf b = {0};
    sb_append_n(&b, "", 0);
    if (decode(L, &b, raw, loc)) return b.s;
    free(b.s);
    return NULL;
}

char *eval_string(Lower *L, const Expr *e) {
    Value v;
    if (eval_expr(L, e, false, &v) != EV_OK) return NULL;
    if (v.kind == V_STRING) return v.s;
    lang_error_at(L->err, L->src, e->loc, "expected a string, got %s", value_kind_name(v.kind));
    value_free(&v);
    return NULL;
}
