// parse.c: reads the IR's text form (the output of print.c; grammar in
// docs/ir.md) back into a Graph. A hand-written lexer and recursive-descent
// parser rebuild the graph through the builder, so every node's type is
// inferred again and checked against the printed one.
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/diag.h"
#include "ir.h"

// ----------------------------------------------------------------------------
// tokens and parser state

typedef enum {
    TK_EOF,
    TK_IDENT,  // [A-Za-z_][A-Za-z0-9_.]*: keywords, ops, keys, types, T, P, inf, nan
    TK_STRING, // "..." with C escapes; str holds the decoded bytes
    TK_INT,
    TK_FLOAT,
    TK_VALUE,  // %N
    TK_WEIGHT, // @name or @"name"; str holds the name
    TK_PUNCT,  // one of { } [ ] , = :
    TK_ERROR,  // the lexer already reported it
} TokKind;

typedef struct {
    TokKind kind;
    const char *start; // in the source; errors point here
    size_t len;
    char *str;         // TK_STRING, TK_WEIGHT (heap)
    int64_t i;         // TK_INT, TK_VALUE
    double f;          // TK_FLOAT
} Token;

typedef struct {
    const char *src;
    const char *name; // for error messages
    const char *p;    // the lexer's position
    Token tok;        // the one token of lookahead
    Graph *g;
    AwqcError *err;
    bool failed;      // only the first error is reported
    // A cursor for source_position: nodes are read in order, so each
    // position is found from the last one instead of from the start.
    size_t pos_offset, pos_line_start;
    int pos_line;
} Parser;

// Limits that keep shape arithmetic (products of dimensions) far from overflow.
#define MAX_DIM INT32_MAX
#define MAX_WEIGHT_ELEMENTS (INT64_C(1) << 48)
#define MAX_GROUP 65536

// ----------------------------------------------------------------------------
// errors: "name:line:col: message", the source line, and a caret under the
// column (common/diag.c, shared with the model language)

static void fail_at(Parser *ps, const char *at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail_at(Parser *ps, const char *at, const char *fmt, ...) {
    if (ps->failed) return;
    ps->failed = true;
    size_t len = strlen(ps->src);
    int line, col;
    diag_line_col(ps->src, len, (size_t)(at - ps->src), &line, &col);
    va_list ap;
    va_start(ap, fmt);
    diag_vfail(ps->err, ps->name, ps->src, len, line, col, fmt, ap);
    va_end(ap);
}

// How a token is named in "expected X, got Y".
static const char *describe(const Token *t, char *buf, size_t cap) {
    if (t->kind == TK_EOF) return "end of input";
    int n = t->len > 32 ? 32 : (int)t->len;
    snprintf(buf, cap, "'%.*s%s'", n, t->start, t->len > 32 ? "..." : "");
    return buf;
}

static void fail_expected(Parser *ps, const char *what) {
    char buf[64];
    fail_at(ps, ps->tok.start, "expected %s, got %s", what, describe(&ps->tok, buf, sizeof buf));
}

// Line and column of `at` as error messages give them: the line is counted
// on from the previous call's, the column by diag_line_col within it.
static void source_position(Parser *ps, const char *at, int *line, int *col) {
    size_t off = (size_t)(at - ps->src);
    if (off < ps->pos_offset || ps->pos_line == 0) ps->pos_offset = 0, ps->pos_line_start = 0, ps->pos_line = 1;
    for (; ps->pos_offset < off; ps->pos_offset++)
        if (ps->src[ps->pos_offset] == '\n') ps->pos_line++, ps->pos_line_start = ps->pos_offset + 1;
    int in_line;
    size_t from_start = off - ps->pos_line_start;
    diag_line_col(ps->src + ps->pos_line_start, from_start, from_start, &in_line, col);
    *line = ps->pos_line;
}

// ----------------------------------------------------------------------------
// lexer: characters

static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static bool is_ident_char(char c) { return is_alpha(c) || is_digit(c) || c == '.'; }
static bool is_weight_char(char c) { return is_alpha(c) || is_digit(c) || c == '.' || c == '-' || c == '/'; }

static int hex_value(char c) {
    if (is_digit(c)) return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Whitespace and '#' comments.
static void skip_blank(Parser *ps) {
    for (;;) {
        while (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r') ps->p++;
        if (*ps->p != '#') return;
        while (*ps->p && *ps->p != '\n') ps->p++;
    }
}

// ----------------------------------------------------------------------------
// lexer: strings and numbers

// One escape after a backslash at *pp; appends the byte and advances past it.
static bool lex_escape(Parser *ps, const char **pp, char *out) {
    const char *bs = *pp - 1;
    char c = **pp;
    (*pp)++;
    switch (c) {
    case 'n': *out = '\n'; return true;
    case 't': *out = '\t'; return true;
    case 'r': *out = '\r'; return true;
    case '"': *out = '"'; return true;
    case '\\': *out = '\\'; return true;
    case 'x': {
        int hi = hex_value((*pp)[0]), lo = hi < 0 ? -1 : hex_value((*pp)[1]);
        if (lo < 0 || (hi == 0 && lo == 0)) break;
        *out = (char)(hi * 16 + lo);
        *pp += 2;
        return true;
    }
    default: break;
    }
    fail_at(ps, bs, "bad escape in string (use \\n \\t \\r \\\" \\\\ or \\xHH, HH not 00)");
    return false;
}

// A quoted string starting at ps->p; the decoded bytes go to tok->str.
static bool lex_string(Parser *ps, Token *tok) {
    const char *open = ps->p, *q = ps->p + 1;
    size_t n = 0, cap = 16;
    char *s = xmalloc(cap);
    for (;;) {
        if (*q == 0 || *q == '\n') {
            free(s);
            fail_at(ps, open, "unterminated string");
            return false;
        }
        if (*q == '"') break;
        char c = *q++;
        if (c == '\\' && !lex_escape(ps, &q, &c)) {
            free(s);
            return false;
        }
        GROW(s, cap, n + 2);
        s[n++] = c;
    }
    s[n] = 0;
    tok->str = s;
    ps->p = q + 1;
    return true;
}

// Digits, an optional fraction and exponent; anything glued on makes it bad.
static const char *scan_number(const char *p, bool *is_float) {
    while (is_digit(*p)) p++;
    if (*p == '.') {
        *is_float = true;
        for (p++; is_digit(*p);) p++;
    }
    if (*p == 'e' || *p == 'E') {
        *is_float = true;
        p++;
        if (*p == '+' || *p == '-') p++;
        if (!is_digit(*p)) return NULL;
        while (is_digit(*p)) p++;
    }
    return p;
}

static bool bad_number(Parser *ps, const char *start) {
    const char *end = start + 1;
    while (is_ident_char(*end) || *end == '+' || *end == '-') end++;
    fail_at(ps, start, "bad number '%.*s'", (int)(end - start > 40 ? 40 : end - start), start);
    return false;
}

static bool lex_number(Parser *ps, Token *tok) {
    const char *start = ps->p, *digits = start + (*start == '-');
    if (*start == '-' && strncmp(digits, "inf", 3) == 0 && !is_ident_char(digits[3])) {
        *tok = (Token){.kind = TK_FLOAT, .start = start, .len = 4, .f = -INFINITY};
        ps->p = digits + 3;
        return true;
    }
    bool is_float = false;
    const char *end = is_digit(*digits) ? scan_number(digits, &is_float) : NULL;
    if (!end || is_ident_char(*end)) return bad_number(ps, start);
    errno = 0;
    if (is_float) {
        tok->f = strtod(start, NULL);
        if (errno == ERANGE && isinf(tok->f)) return bad_number(ps, start);
    } else {
        tok->i = strtoll(start, NULL, 10);
        if (errno == ERANGE) return bad_number(ps, start);
    }
    tok->kind = is_float ? TK_FLOAT : TK_INT;
    ps->p = end;
    return true;
}

// ----------------------------------------------------------------------------
// lexer: tokens

static bool lex_value_ref(Parser *ps, Token *tok) {
    const char *q = ps->p + 1;
    int64_t v = 0;
    if (!is_digit(*q)) {
        fail_at(ps, ps->p, "expected a value number after '%%'");
        return false;
    }
    for (; is_digit(*q); q++) {
        v = v * 10 + (*q - '0');
        if (v > INT_MAX) {
            fail_at(ps, ps->p, "value number too large");
            return false;
        }
    }
    if (is_ident_char(*q)) {
        while (is_ident_char(*q)) q++;
        fail_at(ps, ps->p, "bad value name '%.*s'", (int)(q - ps->p > 40 ? 40 : q - ps->p), ps->p);
        return false;
    }
    tok->kind = TK_VALUE;
    tok->i = v;
    ps->p = q;
    return true;
}

static bool lex_weight_ref(Parser *ps, Token *tok) {
    tok->kind = TK_WEIGHT;
    ps->p++;
    if (*ps->p == '"') return lex_string(ps, tok);
    const char *q = ps->p;
    while (is_weight_char(*q)) q++;
    if (q == ps->p) {
        fail_at(ps, ps->p - 1, "expected a weight name after '@'");
        return false;
    }
    tok->str = xstrndup(ps->p, (size_t)(q - ps->p));
    ps->p = q;
    return true;
}

static bool lex_token(Parser *ps, Token *tok) {
    char c = *ps->p;
    if (c == 0) return true; // TK_EOF
    if (strchr("{}[],=:", c)) {
        tok->kind = TK_PUNCT;
        ps->p++;
        return true;
    }
    if (c == '"') {
        tok->kind = TK_STRING;
        return lex_string(ps, tok);
    }
    if (c == '%') return lex_value_ref(ps, tok);
    if (c == '@') return lex_weight_ref(ps, tok);
    if (is_digit(c) || c == '-') return lex_number(ps, tok);
    if (is_alpha(c)) {
        while (is_ident_char(*ps->p)) ps->p++;
        tok->kind = TK_IDENT;
        return true;
    }
    if ((unsigned char)c < 0x20 || (unsigned char)c >= 0x7f) fail_at(ps, ps->p, "unexpected byte 0x%02x", (unsigned char)c);
    else fail_at(ps, ps->p, "unexpected character '%c'", c);
    return false;
}

// Replaces the lookahead with the next token.
static void advance(Parser *ps) {
    free(ps->tok.str);
    skip_blank(ps);
    Token tok = {.kind = TK_EOF, .start = ps->p};
    if (ps->failed || !lex_token(ps, &tok)) {
        free(tok.str);
        tok = (Token){.kind = TK_ERROR, .start = tok.start};
        ps->failed = true;
    }
    tok.len = (size_t)(ps->p - tok.start);
    ps->tok = tok;
}

// ----------------------------------------------------------------------------
// parser: token tests

static bool at_punct(const Parser *ps, char c) {
    return ps->tok.kind == TK_PUNCT && *ps->tok.start == c;
}

static bool at_word(const Parser *ps, const char *word) {
    return ps->tok.kind == TK_IDENT && ps->tok.len == strlen(word) && strncmp(ps->tok.start, word, ps->tok.len) == 0;
}

static bool expect_punct(Parser *ps, char c) {
    if (at_punct(ps, c)) {
        advance(ps);
        return true;
    }
    char what[8];
    snprintf(what, sizeof what, "'%c'", c);
    fail_expected(ps, what);
    return false;
}

// Moves the decoded string out of the lookahead (the caller frees it).
static char *take_str(Parser *ps) {
    char *s = ps->tok.str;
    ps->tok.str = NULL;
    return s;
}

// A metadata or attribute key: an identifier or a quoted string.
static char *parse_key(Parser *ps) {
    char *key = NULL;
    if (ps->tok.kind == TK_IDENT) key = xstrndup(ps->tok.start, ps->tok.len);
    else if (ps->tok.kind == TK_STRING) key = take_str(ps);
    else {
        fail_expected(ps, "a key (a name or a string)");
        return NULL;
    }
    advance(ps);
    return key;
}

// A number or string; `inf` and `nan` are floats.
static bool parse_value(Parser *ps, const char *key, Attr *out) {
    const Token *t = &ps->tok;
    if (t->kind == TK_INT) *out = (Attr){.key = (char *)key, .kind = ATTR_INT, .i = t->i};
    else if (t->kind == TK_FLOAT) *out = (Attr){.key = (char *)key, .kind = ATTR_FLOAT, .f = t->f};
    else if (t->kind == TK_STRING) *out = (Attr){.key = (char *)key, .kind = ATTR_STRING, .s = take_str(ps)};
    else if (at_word(ps, "inf")) *out = (Attr){.key = (char *)key, .kind = ATTR_FLOAT, .f = INFINITY};
    else if (at_word(ps, "nan")) *out = (Attr){.key = (char *)key, .kind = ATTR_FLOAT, .f = NAN};
    else {
        fail_expected(ps, "a value (a number or a string)");
        return false;
    }
    advance(ps);
    return true;
}

// ----------------------------------------------------------------------------
// parser: types

// "f32", "q4g128": a dtype name, with a group size for the quantized ones.
static bool dtype_from_spelling(const char *s, size_t len, DType *dt, int *group) {
    char buf[32];
    if (len >= sizeof buf) return false;
    memcpy(buf, s, len);
    buf[len] = 0;
    *group = 0;
    if (ir_dtype_from_name(buf, dt)) return true;
    char *g = strrchr(buf, 'g');
    if (!g || !g[1] || g[1] == '0' || strspn(g + 1, "0123456789") != strlen(g + 1) || strlen(g + 1) > 5) return false;
    *group = atoi(g + 1);
    *g = 0;
    return ir_dtype_from_name(buf, dt) && ir_dtype_bits(*dt) && *group <= MAX_GROUP;
}

static bool parse_dim(Parser *ps, Dim *d) {
    if (at_word(ps, "T")) *d = (Dim){DIM_T, 0};
    else if (at_word(ps, "P")) *d = (Dim){DIM_P, 0};
    else if (ps->tok.kind == TK_INT && ps->tok.i >= 0 && ps->tok.i <= MAX_DIM) *d = (Dim){DIM_CONST, ps->tok.i};
    else if (ps->tok.kind == TK_INT) {
        fail_at(ps, ps->tok.start, "dimension %lld is out of range", (long long)ps->tok.i);
        return false;
    } else {
        fail_expected(ps, "a dimension (a size, T or P)");
        return false;
    }
    advance(ps);
    return true;
}

// dtype '[' dims ']'
static bool parse_type(Parser *ps, Type *t) {
    *t = (Type){0};
    if (ps->tok.kind != TK_IDENT) {
        fail_expected(ps, "a type such as f32[T, 576]");
        return false;
    }
    if (!dtype_from_spelling(ps->tok.start, ps->tok.len, &t->dtype, &t->group)) {
        fail_at(ps, ps->tok.start, "unknown type '%.*s'", (int)(ps->tok.len > 32 ? 32 : ps->tok.len), ps->tok.start);
        return false;
    }
    advance(ps);
    if (!expect_punct(ps, '[')) return false;
    while (!ps->failed && !at_punct(ps, ']')) {
        if (t->rank > 0 && !at_punct(ps, ',')) {
            fail_expected(ps, "',' or ']'");
            return false;
        }
        if (t->rank > 0) advance(ps);
        if (t->rank == IR_MAX_RANK) {
            fail_at(ps, ps->tok.start, "a type has at most %d dimensions", IR_MAX_RANK);
            return false;
        }
        if (!parse_dim(ps, &t->dims[t->rank++])) return false;
    }
    return expect_punct(ps, ']');
}

// ----------------------------------------------------------------------------
// parser: graph-level statements

// meta key = value
static void parse_meta(Parser *ps) {
    advance(ps);
    const char *at = ps->tok.start;
    char *key = parse_key(ps);
    if (!key) return;
    Attr v;
    if (ir_get_meta(ps->g, key)) fail_at(ps, at, "meta '%s' defined twice", key);
    else if (expect_punct(ps, '=') && parse_value(ps, NULL, &v)) ir_set_meta(ps->g, key, v);
    free(key);
}

static bool weight_type_ok(Parser *ps, const char *at, const Type *t) {
    int64_t n = 1;
    for (int i = 0; i < t->rank; i++) {
        if (t->dims[i].kind != DIM_CONST) {
            fail_at(ps, at, "a weight's shape must be constant (no T or P)");
            return false;
        }
        // Checked before multiplying: n * size must stay below the cap.
        if (t->dims[i].size && n > MAX_WEIGHT_ELEMENTS / t->dims[i].size) {
            fail_at(ps, at, "weight has too many elements");
            return false;
        }
        n *= t->dims[i].size;
    }
    return true;
}

typedef struct NodeText NodeText;
// The parts of one node statement before the builder sees them.
struct NodeText {
    OpKind op;
    const char *head_at, *op_at, *type_at; // the "%N" that starts it, its op, its printed type
    Operand in[IR_MAX_OPERANDS];
    int n_in;
    Attr attrs[IR_MAX_ATTRS];
    int n_attrs;
    Type printed;
};

static NodeText *node_text_new(void) { return xcalloc(1, sizeof(NodeText)); }
static void node_text_free(NodeText *nt) {
    for (int i = 0; i < nt->n_attrs; i++) ir_attr_free(&nt->attrs[i]);
    free(nt);
}
static bool parse_attrs(Parser *ps, NodeText *nt);

// A weight's attributes: only layout = "NAME" (set by pack-weights) exists.
static void parse_weight_attrs(Parser *ps, Weight *w) {
    const char *at = ps->tok.start;
    NodeText *nt = node_text_new();
    if (parse_attrs(ps, nt)) {
        const Attr *layout = NULL;
        for (int i = 0; i < nt->n_attrs; i++) {
            const Attr *a = &nt->attrs[i];
            if (strcmp(a->key, "layout") || a->kind != ATTR_STRING) {
                fail_at(ps, at, "a weight's only attribute is layout = \"NAME\", not '%s'", a->key);
                break;
            }
            layout = a;
        }
        if (layout && !ps->failed) w->layout = xstrdup(layout->s);
    }
    node_text_free(nt);
}

// weight @name : type [{layout = "NAME"}]
static void parse_weight(Parser *ps) {
    advance(ps);
    const char *name_at = ps->tok.start;
    if (ps->tok.kind != TK_WEIGHT) {
        fail_expected(ps, "a weight name '@name'");
        return;
    }
    char *name = take_str(ps);
    advance(ps);
    if (expect_punct(ps, ':')) {
        const char *type_at = ps->tok.start;
        Type t;
        AwqcError e;
        if (parse_type(ps, &t) && weight_type_ok(ps, type_at, &t) && ir_add_weight(ps->g, name, t, &e) < 0)
            fail_at(ps, name_at, "%s", e.msg);
        else if (!ps->failed && at_punct(ps, '{')) parse_weight_attrs(ps, &ps->g->weights[ps->g->n_weights - 1]);
    }
    free(name);
}

// ----------------------------------------------------------------------------
// parser: values used before their definition

// The line of the statement "%value = ..." after the lookahead, or 0: a
// second lexer reads on from there (its own errors are not reported).
static int line_defined_later(const Parser *ps, int64_t value) {
    AwqcError ignored;
    Parser ahead = {.src = ps->src, .name = ps->name, .p = ps->p, .err = &ignored};
    int line = 0;
    bool after_value = false;
    for (;;) {
        advance(&ahead);
        if (ahead.tok.kind == TK_EOF || ahead.tok.kind == TK_ERROR) break;
        if (after_value && at_punct(&ahead, '=')) {
            int col;
            source_position(&ahead, ahead.tok.start, &line, &col);
            break;
        }
        after_value = ahead.tok.kind == TK_VALUE && ahead.tok.i == value;
    }
    free(ahead.tok.str);
    return line;
}

// Why %value, read where the graph has only n_nodes values, is not defined
// yet: the node's own value or a later one (a cycle), or none (dangling).
static const char *why_undefined(const Parser *ps, int64_t value, bool in_node, char *buf, size_t cap) {
    int later = 0;
    if (value == (int64_t)ps->g->n_nodes && in_node) snprintf(buf, cap, "it is this node's own value (a cycle)");
    else if ((later = line_defined_later(ps, value)) > 0)
        snprintf(buf, cap, "it is defined later, at line %d (a cycle, or nodes out of order)", later);
    else snprintf(buf, cap, "no node defines it (a dangling value)");
    return buf;
}

// output %a, %b, ...
static void parse_output(Parser *ps) {
    do {
        advance(ps);
        if (ps->tok.kind != TK_VALUE) {
            fail_expected(ps, "an output value '%N'");
            return;
        }
        if (ps->tok.i >= (int64_t)ps->g->n_nodes) {
            char why[128];
            fail_at(ps, ps->tok.start, "output %%%lld is used before its definition: %s", (long long)ps->tok.i,
                    why_undefined(ps, ps->tok.i, false, why, sizeof why));
            return;
        }
        ir_add_output(ps->g, (int)ps->tok.i);
        advance(ps);
    } while (at_punct(ps, ','));
}

// ----------------------------------------------------------------------------
// parser: nodes


static bool parse_operand(Parser *ps, const NodeText *nt, Operand *o) {
    const Token *t = &ps->tok;
    if (t->kind == TK_VALUE) {
        if (t->i >= (int64_t)ps->g->n_nodes) {
            char why[128];
            fail_at(ps, t->start, "%%%zu = %s: operand %%%lld is used before its definition: %s", ps->g->n_nodes,
                    ir_op_name(nt->op), (long long)t->i, why_undefined(ps, t->i, true, why, sizeof why));
            return false;
        }
        *o = ir_node_ref((int)t->i);
    } else if (t->kind == TK_WEIGHT) {
        int w = ir_find_weight(ps->g, t->str);
        if (w < 0) {
            fail_at(ps, t->start, "unknown weight @%s", t->str);
            return false;
        }
        *o = ir_weight_ref(w);
    } else {
        fail_expected(ps, "an operand ('%N' or '@weight')");
        return false;
    }
    advance(ps);
    return true;
}

static bool parse_operands(Parser *ps, NodeText *nt) {
    if (ps->tok.kind != TK_VALUE && ps->tok.kind != TK_WEIGHT) return true;
    for (;;) {
        if (nt->n_in == IR_MAX_OPERANDS) {
            fail_at(ps, ps->tok.start, "a node has at most %d operands", IR_MAX_OPERANDS);
            return false;
        }
        if (!parse_operand(ps, nt, &nt->in[nt->n_in++])) return false;
        if (!at_punct(ps, ',')) return true;
        advance(ps);
    }
}

static bool has_attr(const NodeText *nt, const char *key) {
    for (int i = 0; i < nt->n_attrs; i++)
        if (strcmp(nt->attrs[i].key, key) == 0) return true;
    return false;
}

// key = value
static bool parse_attr(Parser *ps, NodeText *nt) {
    const char *at = ps->tok.start;
    if (nt->n_attrs == IR_MAX_ATTRS) {
        fail_at(ps, at, "a node has at most %d attributes", IR_MAX_ATTRS);
        return false;
    }
    char *key = parse_key(ps);
    if (!key) return false;
    if (has_attr(nt, key)) fail_at(ps, at, "attribute '%s' given twice", key);
    else if (expect_punct(ps, '=') && parse_value(ps, key, &nt->attrs[nt->n_attrs])) {
        nt->n_attrs++;
        return true;
    }
    free(key);
    return false;
}

// '{' [ attr { ',' attr } ] '}'
static bool parse_attrs(Parser *ps, NodeText *nt) {
    if (!at_punct(ps, '{')) return true;
    advance(ps);
    if (at_punct(ps, '}')) {
        advance(ps);
        return true;
    }
    for (;;) {
        if (!parse_attr(ps, nt)) return false;
        if (!at_punct(ps, ',')) return expect_punct(ps, '}');
        advance(ps);
    }
}

// The value number must be the next in sequence: %0, %1, ...
static bool parse_node_head(Parser *ps, NodeText *nt) {
    size_t expected = ps->g->n_nodes;
    nt->head_at = ps->tok.start;
    if (ps->tok.i != (int64_t)expected) {
        fail_at(ps, ps->tok.start, "expected %%%zu here (values are numbered in order), got %%%lld", expected,
                (long long)ps->tok.i);
        return false;
    }
    advance(ps);
    if (!expect_punct(ps, '=')) return false;
    nt->op_at = ps->tok.start;
    if (ps->tok.kind != TK_IDENT) {
        fail_expected(ps, "an op name");
        return false;
    }
    char op[32];
    snprintf(op, sizeof op, "%.*s", (int)(ps->tok.len > 31 ? 31 : ps->tok.len), ps->tok.start);
    if (ps->tok.len > 31 || !ir_op_from_name(op, &nt->op)) {
        fail_at(ps, ps->tok.start, "unknown op '%.*s'", (int)(ps->tok.len > 40 ? 40 : ps->tok.len), ps->tok.start);
        return false;
    }
    advance(ps);
    return true;
}

// The builder infers the type again; it must be the printed one. The node
// remembers where its statement starts, for the verifier's messages.
static void add_node(Parser *ps, NodeText *nt, int block) {
    AwqcError e;
    size_t index = ps->g->n_nodes;
    const char *op = ir_op_name(nt->op);
    int idx = ir_add_node(ps->g, nt->op, nt->in, nt->n_in, nt->attrs, nt->n_attrs, block, &e);
    if (idx < 0) { // the builder already freed the attrs
        fail_at(ps, nt->op_at, "%%%zu = %s: %s", index, op, ir_strip_op_prefix(e.msg, nt->op));
        return;
    }
    Node *n = &ps->g->nodes[idx];
    source_position(ps, nt->head_at, &n->src_line, &n->src_col);
    if (!ir_type_equal(&n->type, &nt->printed)) {
        char a[160], b[160];
        fail_at(ps, nt->type_at, "%%%zu = %s: type mismatch: printed %s but %s gives %s", index, op,
                ir_type_str(&nt->printed, a, sizeof a), op, ir_type_str(&n->type, b, sizeof b));
    }
}

// %N = op operands {attrs} : type
static void parse_node(Parser *ps, int block) {
    NodeText nt = {0};
    bool ok = parse_node_head(ps, &nt) && parse_operands(ps, &nt) && parse_attrs(ps, &nt) && expect_punct(ps, ':');
    if (ok) {
        nt.type_at = ps->tok.start;
        ok = parse_type(ps, &nt.printed);
    }
    if (ok) {
        add_node(ps, &nt, block); // the attrs now belong to the graph (or were freed by the builder)
        return;
    }
    for (int i = 0; i < nt.n_attrs; i++) ir_attr_free(&nt.attrs[i]);
}

// block "name" { nodes }
static void parse_block(Parser *ps) {
    advance(ps);
    if (ps->tok.kind != TK_STRING) {
        fail_expected(ps, "a block name (a string)");
        return;
    }
    int b = ir_block(ps->g, ps->tok.str);
    advance(ps);
    if (!expect_punct(ps, '{')) return;
    while (!ps->failed && ps->tok.kind == TK_VALUE) parse_node(ps, b);
    if (at_punct(ps, '}')) advance(ps);
    else fail_expected(ps, "a node '%N = ...' or '}' closing the block");
}

// ----------------------------------------------------------------------------
// parser: the graph

static void parse_item(Parser *ps) {
    if (at_word(ps, "meta")) parse_meta(ps);
    else if (at_word(ps, "weight")) parse_weight(ps);
    else if (at_word(ps, "block")) parse_block(ps);
    else if (at_word(ps, "output")) parse_output(ps);
    else if (ps->tok.kind == TK_VALUE) parse_node(ps, -1);
    else fail_expected(ps, "'meta', 'weight', 'block', 'output', a node '%N = ...' or '}'");
}

// graph "name" { items }
static Graph *parse_graph(Parser *ps) {
    if (!at_word(ps, "graph")) {
        fail_expected(ps, "'graph'");
        return NULL;
    }
    advance(ps);
    if (ps->tok.kind != TK_STRING) {
        fail_expected(ps, "the graph's name (a string)");
        return NULL;
    }
    ps->g = ir_graph_new(ps->tok.str);
    ps->g->origin = xstrdup(ps->name);
    advance(ps);
    if (!expect_punct(ps, '{')) return ps->g;
    while (!ps->failed && !at_punct(ps, '}') && ps->tok.kind != TK_EOF) parse_item(ps);
    if (expect_punct(ps, '}') && ps->tok.kind != TK_EOF) fail_expected(ps, "end of input after the graph's '}'");
    return ps->g;
}

Graph *ir_parse(const char *text, const char *name_for_errors, AwqcError *err) {
    Parser ps = {.src = text, .name = name_for_errors ? name_for_errors : "<ir>", .p = text, .err = err};
    advance(&ps);
    Graph *g = parse_graph(&ps);
    free(ps.tok.str);
    if (!ps.failed) return g;
    ir_graph_free(g);
    return NULL;
}
