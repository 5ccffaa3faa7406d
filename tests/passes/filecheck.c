// filecheck.c: the FileCheck-style checker behind the pass golden tests. Each
// directive's text becomes one PCRE2 regex (escaped literals, folded blanks,
// {{regex}}, [[VAR:regex]] captures, [[VAR]] substitutions) that is matched line
// by line against the tool's output; failures quote the directive and the input.
#define PCRE2_CODE_UNIT_WIDTH 8
#include "tests/passes/filecheck.h"

#include <ctype.h>
#include <pcre2.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// ----------------------------------------------------------------------------
// lines

typedef struct {
    const char *s;
    size_t len;  // without the '\n' (and without a trailing '\r')
} Line;

// Splits text at '\n'; a final '\n' does not start an extra empty line.
static size_t split_lines(const char *text, Line **out) {
    Line *v = NULL;
    size_t n = 0, cap = 0;
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        GROW(v, cap, n + 1);
        v[n].s = p;
        v[n].len = len > 0 && p[len - 1] == '\r' ? len - 1 : len;
        n++;
        p += nl ? len + 1 : len;
    }
    *out = v;
    return n;
}

static bool is_blank(char c) { return c == ' ' || c == '\t'; }

// Copies [s, s+len) without its leading and trailing blanks.
static char *trimmed_copy(const char *s, size_t len) {
    while (len > 0 && is_blank(*s)) s++, len--;
    while (len > 0 && is_blank(s[len - 1])) len--;
    return xstrndup(s, len);
}

// ----------------------------------------------------------------------------
// directives

typedef enum { FC_CHECK, FC_NEXT, FC_SAME, FC_NOT, FC_LABEL, FC_COUNT, FC_EMPTY } FcKind;

typedef struct {
    FcKind kind;
    int line;       // 1-based line in the check file
    long count;     // repetitions (CHECK-COUNT-N), else 1
    char *name;     // as written ("CHECK-COUNT-3"), for messages
    char *pattern;  // the text after ':', trimmed
    char *source;   // the whole directive line, trimmed, for messages
} Directive;

typedef struct {
    Directive *v;
    size_t n, cap;
} DirectiveList;

static void free_directives(DirectiveList *dl) {
    for (size_t i = 0; i < dl->n; i++) {
        free(dl->v[i].name);
        free(dl->v[i].pattern);
        free(dl->v[i].source);
    }
    free(dl->v);
}

// Parses the suffix after "CHECK-" (e.g. "NEXT", "COUNT-3"); false when unknown.
static bool kind_from_suffix(const char *s, size_t len, FcKind *kind, long *count) {
    static const struct { const char *name; FcKind kind; } names[] = {
        {"NEXT", FC_NEXT}, {"SAME", FC_SAME}, {"NOT", FC_NOT}, {"LABEL", FC_LABEL}, {"EMPTY", FC_EMPTY},
    };
    *count = 1;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strlen(names[i].name) == len && memcmp(names[i].name, s, len) == 0) {
            *kind = names[i].kind;
            return true;
        }
    }
    if (len <= 6 || memcmp(s, "COUNT-", 6) != 0 || len - 6 > 6) return false;
    long n = 0;
    for (size_t i = 6; i < len; i++) {
        if (!isdigit((unsigned char)s[i])) return false;
        n = n * 10 + (s[i] - '0');
    }
    *kind = FC_COUNT;
    *count = n;
    return n >= 1;
}

// Length of the directive word at s ("CHECK", "CHECK-NEXT", "CHECK-next", ...),
// or 0 when the comment does not start with CHECK.
static size_t directive_word_len(const char *s, const char *end) {
    if (end - s < 5 || memcmp(s, "CHECK", 5) != 0) return 0;
    const char *p = s + 5;
    if (p < end && *p == '-')
        while (p < end && (isalnum((unsigned char)*p) || *p == '-')) p++;
    return (size_t)(p - s);
}

// The part of a check-file line that tells what it is.
typedef struct {
    const char *checks_name;
    int lineno;
    const char *s, *end;  // the line
} CheckLine;

// Fills d from a line already known to hold "WORD:" at word; false on a bad one.
static bool build_directive(const CheckLine *cl, const char *word, size_t wlen, Directive *d,
                            AwqcError *err) {
    d->kind = FC_CHECK;
    d->count = 1;
    if (wlen > 5 && !kind_from_suffix(word + 6, wlen - 6, &d->kind, &d->count))
        return awqc_fail(err, "%s:%d: error: unknown directive %.*s", cl->checks_name, cl->lineno,
                         (int)wlen, word);
    const char *text = word + wlen + 1;
    d->line = cl->lineno;
    d->name = xstrndup(word, wlen);
    d->pattern = trimmed_copy(text, (size_t)(cl->end - text));
    d->source = trimmed_copy(cl->s, (size_t)(cl->end - cl->s));
    if (d->kind == FC_EMPTY && d->pattern[0])
        return awqc_fail(err, "%s:%d: error: CHECK-EMPTY takes no pattern", cl->checks_name, cl->lineno);
    if (d->kind != FC_EMPTY && !d->pattern[0])
        return awqc_fail(err, "%s:%d: error: %s has an empty pattern", cl->checks_name, cl->lineno,
                         d->name);
    return true;
}

// Reads one check-file line: *found tells whether it held a directive (then in d).
static bool parse_check_line(const CheckLine *cl, Directive *d, bool *found, AwqcError *err) {
    *found = false;
    const char *p = cl->s;
    while (p < cl->end && is_blank(*p)) p++;
    if (p == cl->end || *p != '#') return true;
    p++;
    while (p < cl->end && is_blank(*p)) p++;
    size_t wlen = directive_word_len(p, cl->end);
    if (wlen == 0) return true;
    if (p + wlen < cl->end && p[wlen] == ':') {
        *found = true;
        return build_directive(cl, p, wlen, d, err);
    }
    FcKind kind;
    long count;
    // "# CHECK-NEXT foo" would otherwise be skipped silently and never checked.
    if (wlen > 5 && kind_from_suffix(p + 6, wlen - 6, &kind, &count))
        return awqc_fail(err, "%s:%d: error: %.*s is missing its ':'", cl->checks_name, cl->lineno,
                         (int)wlen, p);
    return true;
}

// A directive that needs a previous match must not come before any positive one.
static bool check_anchors(const DirectiveList *dl, const char *checks_name, AwqcError *err) {
    for (size_t i = 0; i < dl->n; i++) {
        FcKind k = dl->v[i].kind;
        if (k == FC_NEXT || k == FC_SAME || k == FC_EMPTY)
            return awqc_fail(err, "%s:%d: error: %s has no earlier positive match to follow",
                             checks_name, dl->v[i].line, dl->v[i].name);
        if (k != FC_NOT) return true;
    }
    return true;
}

static bool parse_directives(const char *checks, const char *checks_name, DirectiveList *dl,
                             AwqcError *err) {
    Line *lines;
    size_t n = split_lines(checks, &lines);
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++) {
        CheckLine cl = {checks_name, (int)i + 1, lines[i].s, lines[i].s + lines[i].len};
        Directive d = {0};
        bool found;
        ok = parse_check_line(&cl, &d, &found, err);
        if (found) {
            GROW(dl->v, dl->cap, dl->n + 1);
            dl->v[dl->n++] = d;
        }
    }
    free(lines);
    if (ok && dl->n == 0)
        return awqc_fail(err, "%s: error: no CHECK directives found (a test without checks cannot fail)",
                         checks_name);
    return ok && check_anchors(dl, checks_name, err);
}

// ----------------------------------------------------------------------------
// pattern -> regex

typedef struct {
    char *name, *value;
} Var;

typedef struct {
    Var *v;
    size_t n, cap;
} VarTable;

static Var *find_var(VarTable *t, const char *name, size_t len) {
    for (size_t i = 0; i < t->n; i++)
        if (strlen(t->v[i].name) == len && memcmp(t->v[i].name, name, len) == 0) return &t->v[i];
    return NULL;
}

static void set_var(VarTable *t, const char *name, const char *value, size_t len) {
    Var *v = find_var(t, name, strlen(name));
    if (!v) {
        GROW(t->v, t->cap, t->n + 1);
        v = &t->v[t->n++];
        v->name = xstrdup(name);
    } else {
        free(v->value);
    }
    v->value = xstrndup(value, len);
}

// One directive's regex, with the variables it defines: definition k is the
// named group "fcvK", so user regexes may hold their own groups.
typedef struct {
    StrBuf re;
    char **defs;
    size_t ndefs, defs_cap;
    StrBuf notes;  // "[[X]] is ..." lines for a failure message
} Translation;

static void free_translation(Translation *t) {
    free(sb_finish(&t->re));
    free(sb_finish(&t->notes));
    for (size_t i = 0; i < t->ndefs; i++) free(t->defs[i]);
    free(t->defs);
}

// Appends one byte so that PCRE2 reads it literally (backslash before any ASCII
// punctuation is always a literal in PCRE2; bytes >= 0x80 need nothing).
static void append_literal_char(StrBuf *b, char c) {
    unsigned char u = (unsigned char)c;
    if (u < 0x80 && !isalnum(u) && c != '_') sb_append_n(b, "\\", 1);
    sb_append_n(b, &c, 1);
}

static void append_literal(StrBuf *b, const char *s) {
    for (; *s; s++) append_literal_char(b, *s);
}

// Inside a [...] class starting at s (just past '['): returns the closing ']'.
static const char *skip_class(const char *s) {
    if (*s == '^') s++;
    if (*s == ']') s++;  // a leading ']' is a member, not the end
    for (; *s && *s != ']'; s++) {
        if (*s == '\\' && s[1]) s++;
        else if (s[0] == '[' && s[1] == ':') {
            const char *e = strstr(s + 2, ":]");
            if (e) s = e + 1;
        }
    }
    return *s ? s : NULL;
}

// Finds the doubled closer ("}}" or "]]") ending a regex that starts at s,
// stepping over escapes, character classes and (for braces) nested {m,n}.
static const char *find_regex_end(const char *s, char closer) {
    int depth = 0;
    for (; *s; s++) {
        if (*s == '\\') {
            if (!s[1]) return NULL;
            s++;
        } else if (*s == '[') {
            s = skip_class(s + 1);
            if (!s) return NULL;
        } else if (closer == '}' && *s == '{') {
            depth++;
        } else if (closer == '}' && *s == '}' && depth > 0) {
            depth--;
        } else if (*s == closer && s[1] == closer) {
            return s;
        }
    }
    return NULL;
}

// Context for translating one directive.
typedef struct {
    const char *checks_name;
    const Directive *d;
    VarTable *vars;
    AwqcError *err;
} Translator;

static bool check_regex(const Translator *tr, const char *re, size_t len) {
    int code;
    PCRE2_SIZE off;
    pcre2_code *c = pcre2_compile((PCRE2_SPTR)re, len, 0, &code, &off, NULL);
    if (c) {
        pcre2_code_free(c);
        return true;
    }
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(code, msg, sizeof msg);
    return awqc_fail(tr->err, "%s:%d: error: %s: bad regex '%.*s': %s (at offset %zu)", tr->checks_name,
                     tr->d->line, tr->d->name, (int)len, re, (const char *)msg, (size_t)off);
}

// Translates "{{re}}" at p; *next is set past it.
static bool translate_regex(const Translator *tr, const char *p, Translation *t, const char **next) {
    const char *end = find_regex_end(p + 2, '}');
    if (!end)
        return awqc_fail(tr->err, "%s:%d: error: %s: '{{' without its '}}'", tr->checks_name, tr->d->line,
                         tr->d->name);
    size_t len = (size_t)(end - (p + 2));
    if (!check_regex(tr, p + 2, len)) return false;
    sb_append(&t->re, "(?:");
    sb_append_n(&t->re, p + 2, len);
    sb_append(&t->re, ")");
    *next = end + 2;
    return true;
}

// Length of a variable name at s ([A-Za-z_][A-Za-z0-9_]*), 0 if none.
static size_t var_name_len(const char *s) {
    if (!isalpha((unsigned char)*s) && *s != '_') return 0;
    size_t n = 1;
    while (isalnum((unsigned char)s[n]) || s[n] == '_') n++;
    return n;
}

static long def_index(const Translation *t, const char *name, size_t len) {
    for (size_t i = 0; i < t->ndefs; i++)
        if (strlen(t->defs[i]) == len && memcmp(t->defs[i], name, len) == 0) return (long)i;
    return -1;
}

// Translates "[[NAME:re]]" (name at p, body after the ':').
static bool translate_def(const Translator *tr, const char *name, size_t nlen, Translation *t,
                          const char **next) {
    const Directive *d = tr->d;
    if (d->kind == FC_NOT || d->kind == FC_LABEL)
        return awqc_fail(tr->err, "%s:%d: error: %s cannot define variable [[%.*s]]", tr->checks_name,
                         d->line, d->name, (int)nlen, name);
    if (def_index(t, name, nlen) >= 0)
        return awqc_fail(tr->err, "%s:%d: error: %s defines [[%.*s]] twice", tr->checks_name, d->line,
                         d->name, (int)nlen, name);
    const char *body = name + nlen + 1;
    const char *end = find_regex_end(body, ']');
    if (!end)
        return awqc_fail(tr->err, "%s:%d: error: %s: '[[%.*s:' without its ']]'", tr->checks_name,
                         d->line, d->name, (int)nlen, name);
    if (!check_regex(tr, body, (size_t)(end - body))) return false;
    char group[32];
    snprintf(group, sizeof group, "(?<fcv%zu>", t->ndefs);
    sb_append(&t->re, group);
    sb_append_n(&t->re, body, (size_t)(end - body));
    sb_append(&t->re, ")");
    GROW(t->defs, t->defs_cap, t->ndefs + 1);
    t->defs[t->ndefs++] = xstrndup(name, nlen);
    *next = end + 2;
    return true;
}

// Translates "[[NAME]]": a backreference when this pattern defined NAME, else
// the value an earlier directive captured.
static bool translate_use(const Translator *tr, const char *name, size_t nlen, Translation *t) {
    const Directive *d = tr->d;
    if (d->kind == FC_LABEL)
        return awqc_fail(tr->err, "%s:%d: error: CHECK-LABEL cannot use variable [[%.*s]]",
                         tr->checks_name, d->line, (int)nlen, name);
    long k = def_index(t, name, nlen);
    if (k >= 0) {
        char ref[32];
        snprintf(ref, sizeof ref, "\\k<fcv%ld>", k);
        sb_append(&t->re, ref);
        return true;
    }
    Var *v = find_var(tr->vars, name, nlen);
    if (!v)
        return awqc_fail(tr->err, "%s:%d: error: %s uses undefined variable [[%.*s]]", tr->checks_name,
                         d->line, d->name, (int)nlen, name);
    append_literal(&t->re, v->value);
    char *note = awqc_asprintf("note: [[%s]] is \"%s\"\n", v->name, v->value);
    sb_append(&t->notes, note);
    free(note);
    return true;
}

// Tries "[[NAME]]" / "[[NAME:" at p; *handled is false when p is a literal "[[".
static bool translate_var(const Translator *tr, const char *p, Translation *t, const char **next,
                          bool *handled) {
    const char *name = p + 2;
    size_t nlen = var_name_len(name);
    *handled = nlen > 0 && (name[nlen] == ':' || (name[nlen] == ']' && name[nlen + 1] == ']'));
    if (!*handled) return true;
    if (name[nlen] == ':') return translate_def(tr, name, nlen, t, next);
    *next = name + nlen + 2;
    return translate_use(tr, name, nlen, t);
}

static bool translate_pattern(const Translator *tr, Translation *t) {
    const char *p = tr->d->pattern;
    while (*p) {
        bool handled = false;
        if (p[0] == '{' && p[1] == '{') {
            if (!translate_regex(tr, p, t, &p)) return false;
            continue;
        }
        if (p[0] == '[' && p[1] == '[') {
            if (!translate_var(tr, p, t, &p, &handled)) return false;
            if (handled) continue;
        }
        if (is_blank(*p)) {
            while (is_blank(*p)) p++;
            sb_append(&t->re, "[ \\t]+");
            continue;
        }
        append_literal_char(&t->re, *p++);
    }
    return true;
}

// ----------------------------------------------------------------------------
// compiled directives

typedef struct {
    pcre2_code *code;
    pcre2_match_data *md;
    Translation tr;
} Compiled;

static void free_compiled(Compiled *c) {
    pcre2_match_data_free(c->md);
    pcre2_code_free(c->code);
    free_translation(&c->tr);
}

static bool compile_directive(const Translator *tr, Compiled *c) {
    memset(c, 0, sizeof *c);
    if (!translate_pattern(tr, &c->tr)) {
        free_translation(&c->tr);
        return false;
    }
    int code;
    PCRE2_SIZE off;
    c->code = pcre2_compile((PCRE2_SPTR)c->tr.re.s, c->tr.re.n, 0, &code, &off, NULL);
    if (!c->code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        awqc_fail(tr->err, "%s:%d: error: %s: pattern does not compile: %s", tr->checks_name,
                  tr->d->line, tr->d->name, (const char *)msg);
        free_translation(&c->tr);
        return false;
    }
    c->md = pcre2_match_data_create_from_pattern(c->code, NULL);
    return true;
}

// ----------------------------------------------------------------------------
// searching the input

typedef struct {
    size_t line, col;
} Pos;

typedef struct {
    size_t line, start, end;  // matches never span lines
} Match;

static Pos pos_min(Pos a, Pos b) {
    return a.line < b.line || (a.line == b.line && a.col <= b.col) ? a : b;
}

typedef struct {
    const char *checks_name;
    const Line *lines;
    size_t nlines;
    VarTable vars;
    Compiled *nots;  // CHECK-NOT directives waiting for the next positive match
    const Directive **not_dirs;
    size_t nnots, nots_cap, not_dirs_cap;
    bool have_prev;
    Match prev;  // the last positive match
    Pos limit;   // searches stop here: the next label's match, or the end of input
    AwqcError *err;
} Checker;

static Pos input_end(const Checker *ck) { return (Pos){ck->nlines, 0}; }

// Finds the first match starting at or after from and ending at or before to.
static bool search(const Checker *ck, const Compiled *c, Pos from, Pos to, Match *m) {
    for (size_t l = from.line; l < ck->nlines && l <= to.line; l++) {
        size_t len = ck->lines[l].len;
        if (l == to.line && to.col < len) len = to.col;
        size_t start = l == from.line ? from.col : 0;
        if (start > len) continue;
        int rc = pcre2_match(c->code, (PCRE2_SPTR)ck->lines[l].s, len, start, 0, c->md, NULL);
        if (rc < 0) continue;  // no match (or a match-limit error: treated the same)
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(c->md);
        *m = (Match){l, ov[0], ov[1]};
        return true;
    }
    return false;
}

static void record_vars(Checker *ck, const Compiled *c, const Match *m) {
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(c->md);
    for (size_t k = 0; k < c->tr.ndefs; k++) {
        char group[32];
        snprintf(group, sizeof group, "fcv%zu", k);
        int g = pcre2_substring_number_from_name(c->code, (PCRE2_SPTR)group);
        AWQC_ASSERT(g > 0);
        const char *s = ck->lines[m->line].s;
        bool set = ov[2 * g] != PCRE2_UNSET;
        set_var(&ck->vars, c->tr.defs[k], set ? s + ov[2 * g] : "", set ? ov[2 * g + 1] - ov[2 * g] : 0);
    }
}

// ----------------------------------------------------------------------------
// failure messages

// Appends up to three input lines from `from`, numbered, so the reader sees
// where the search began (or, for CHECK-NOT, what it found: intro says which).
static void append_excerpt(StrBuf *b, const Checker *ck, Pos from, const char *intro) {
    if (from.line >= ck->nlines) {
        sb_append(b, "note: the search started at the end of the input\n");
        return;
    }
    char *head = awqc_asprintf("note: %s line %zu:\n", intro, from.line + 1);
    sb_append(b, head);
    free(head);
    for (size_t l = from.line; l < ck->nlines && l < from.line + 3; l++) {
        int len = ck->lines[l].len > 160 ? 160 : (int)ck->lines[l].len;
        char *row = awqc_asprintf("%6zu | %.*s%s\n", l + 1, len, ck->lines[l].s,
                                  ck->lines[l].len > 160 ? " ..." : "");
        sb_append(b, row);
        free(row);
    }
}

// The parts of a failure message besides the directive itself.
typedef struct {
    const char *what;   // "expected string not found in input", ...
    const char *notes;  // extra "note: ..." lines, or NULL
    Pos at;             // where the excerpt starts
    const char *intro;  // "input from", "found at input"
} Failure;

// Formats the whole message into the checker's error; always false.
static bool report(const Checker *ck, const Directive *d, const Failure *f) {
    StrBuf b = {0};
    char *head = awqc_asprintf("%s:%d: error: %s: %s\n  %s\n", ck->checks_name, d->line, d->name, f->what,
                               d->source);
    sb_append(&b, head);
    free(head);
    if (f->notes) sb_append(&b, f->notes);
    append_excerpt(&b, ck, f->at, f->intro);
    char *msg = sb_finish(&b);
    size_t n = strlen(msg);
    if (n > 0 && msg[n - 1] == '\n') msg[n - 1] = 0;
    awqc_fail(ck->err, "%s", msg);
    free(msg);
    return false;
}

// A directive did not match between from and to: say so, and point at a match
// further on if there is one (the usual cause: output moved, not vanished).
static bool report_not_found(const Checker *ck, const Directive *d, const Compiled *c, Pos from,
                             const char *what) {
    StrBuf notes = {0};
    if (c) {
        sb_append(&notes, c->tr.notes.s ? c->tr.notes.s : "");
        Match elsewhere;
        if (search(ck, c, (Pos){0, 0}, input_end(ck), &elsewhere)) {
            char *n = awqc_asprintf("note: input line %zu matches, but outside where %s may match\n",
                                    elsewhere.line + 1, d->name);
            sb_append(&notes, n);
            free(n);
        }
    }
    char *s = sb_finish(&notes);
    report(ck, d, &(Failure){what, s, from, "input from"});
    free(s);
    return false;
}

// ----------------------------------------------------------------------------
// matching directives

static Pos next_line_start(const Checker *ck) {
    return ck->have_prev ? (Pos){ck->prev.line + 1, 0} : (Pos){0, 0};
}

static Translator translator(Checker *ck, const Directive *d) {
    return (Translator){ck->checks_name, d, &ck->vars, ck->err};
}

// Checks every pending CHECK-NOT between the previous match and `to`.
static bool flush_nots(Checker *ck, Pos to) {
    Pos from = ck->have_prev ? (Pos){ck->prev.line, ck->prev.end} : (Pos){0, 0};
    bool ok = true;
    for (size_t i = 0; i < ck->nnots; i++) {
        Match m;
        if (ok && search(ck, &ck->nots[i], from, to, &m)) {
            Failure f = {"excluded string found in input", ck->nots[i].tr.notes.s, {m.line, 0},
                         "found at input"};
            ok = report(ck, ck->not_dirs[i], &f);
        }
        free_compiled(&ck->nots[i]);
    }
    ck->nnots = 0;
    return ok;
}

static bool queue_not(Checker *ck, const Directive *d) {
    Compiled c;
    Translator tr = translator(ck, d);
    if (!compile_directive(&tr, &c)) return false;
    GROW(ck->nots, ck->nots_cap, ck->nnots + 1);
    GROW(ck->not_dirs, ck->not_dirs_cap, ck->nnots + 1);
    ck->not_dirs[ck->nnots] = d;
    ck->nots[ck->nnots++] = c;
    return true;
}

// The line after the previous match, if it is empty and before the limit.
static bool match_empty(Checker *ck, const Directive *d) {
    Pos at = next_line_start(ck);
    bool ok = at.line < ck->nlines && at.line <= ck->limit.line && ck->lines[at.line].len == 0;
    if (!ok) return report(ck, d, &(Failure){"expected an empty line", NULL, at, "input from"});
    if (!flush_nots(ck, at)) return false;
    ck->prev = (Match){at.line, 0, 0};
    return true;
}

// Where a positive directive of kind k may match, given the previous match.
static void search_range(const Checker *ck, FcKind k, Pos *from, Pos *to) {
    *to = ck->limit;
    if (k == FC_NEXT) {
        *from = next_line_start(ck);
        *to = pos_min(*to, (Pos){from->line, SIZE_MAX});
    } else if (k == FC_SAME) {
        *from = (Pos){ck->prev.line, ck->prev.end};
        *to = pos_min(*to, (Pos){from->line, SIZE_MAX});
    } else {
        *from = next_line_start(ck);
    }
}

// Matches one positive directive (one repetition of a CHECK-COUNT).
static bool match_positive(Checker *ck, const Directive *d, long rep) {
    Compiled c;
    Translator tr = translator(ck, d);
    if (!compile_directive(&tr, &c)) return false;
    Pos from, to;
    search_range(ck, d->kind, &from, &to);
    Match m;
    bool found = search(ck, &c, from, to, &m);
    if (!found) {
        char what[96];
        if (d->kind == FC_COUNT)
            snprintf(what, sizeof what, "expected string not found in input (match %ld of %ld)", rep + 1,
                     d->count);
        else
            snprintf(what, sizeof what, "expected string not found in input");
        report_not_found(ck, d, &c, from, what);
    }
    bool ok = found && flush_nots(ck, (Pos){m.line, m.start});
    if (ok) {
        record_vars(ck, &c, &m);
        ck->prev = m;
        ck->have_prev = true;
    }
    free_compiled(&c);
    return ok;
}

static bool match_directive(Checker *ck, const Directive *d) {
    switch (d->kind) {
    case FC_NOT: return queue_not(ck, d);
    case FC_EMPTY: return match_empty(ck, d);
    default:
        for (long rep = 0; rep < d->count; rep++)
            if (!match_positive(ck, d, rep)) return false;
        return true;
    }
}

// Finds a label from the current position, before the directives ahead of it run.
static bool find_label(Checker *ck, const Directive *d, Match *m) {
    Compiled c;
    Translator tr = translator(ck, d);
    if (!compile_directive(&tr, &c)) return false;
    Pos from = next_line_start(ck);
    bool found = search(ck, &c, from, input_end(ck), m);
    if (!found) report_not_found(ck, d, &c, from, "expected string not found in input");
    free_compiled(&c);
    return found;
}

static size_t next_label(const DirectiveList *dl, size_t i) {
    while (i < dl->n && dl->v[i].kind != FC_LABEL) i++;
    return i;
}

// Labels split the input into blocks: each label is found first, then the
// directives before it must match above it, so one missing line is reported
// inside its own block instead of matching somewhere far below.
static bool run_checks(Checker *ck, const DirectiveList *dl) {
    size_t i = 0;
    for (;;) {
        size_t j = next_label(dl, i);
        Match label = {0};
        ck->limit = input_end(ck);
        if (j < dl->n) {
            if (!find_label(ck, &dl->v[j], &label)) return false;
            ck->limit = (Pos){label.line, label.start};
        }
        for (; i < j; i++)
            if (!match_directive(ck, &dl->v[i])) return false;
        if (!flush_nots(ck, ck->limit)) return false;
        if (j == dl->n) return true;
        ck->prev = label;
        ck->have_prev = true;
        i = j + 1;
    }
}

// ----------------------------------------------------------------------------
// entry point

static void free_checker(Checker *ck) {
    for (size_t i = 0; i < ck->nnots; i++) free_compiled(&ck->nots[i]);
    free(ck->nots);
    free(ck->not_dirs);
    for (size_t i = 0; i < ck->vars.n; i++) {
        free(ck->vars.v[i].name);
        free(ck->vars.v[i].value);
    }
    free(ck->vars.v);
}

bool filecheck(const char *checks, const char *checks_name, const char *input, AwqcError *err) {
    AWQC_ASSERT(checks && checks_name && input);
    DirectiveList dl = {0};
    bool ok = parse_directives(checks, checks_name, &dl, err);
    if (ok) {
        Line *lines;
        size_t nlines = split_lines(input, &lines);
        Checker ck = {.checks_name = checks_name, .lines = lines, .nlines = nlines, .err = err};
        ok = run_checks(&ck, &dl);
        free_checker(&ck);
        free(lines);
    }
    free_directives(&dl);
    return ok;
}
