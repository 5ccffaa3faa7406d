// print.c: writes a Graph in the IR's text form (see docs/ir.md), the form
// parse.c reads back. Printing is deterministic and lossless for everything
// the text form carries, so print -> parse -> print is the identity.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"

// ----------------------------------------------------------------------------
// scalars: strings, names, floats

// The escapes here are exactly the ones parse.c understands.
static void print_quoted(FILE *out, const char *s) {
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        case '\n': fputs("\\n", out); break;
        case '\t': fputs("\\t", out); break;
        case '\r': fputs("\\r", out); break;
        default:
            // Bytes >= 0x80 pass through so UTF-8 stays readable.
            if (*p < 0x20 || *p == 0x7f) fprintf(out, "\\x%02x", *p);
            else fputc(*p, out);
        }
    }
    fputc('"', out);
}

static bool is_bare_weight_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
           c == '-' || c == '/';
}

static void print_weight_name(FILE *out, const char *name) {
    bool bare = *name != 0;
    for (const char *p = name; *p && bare; p++) bare = is_bare_weight_char(*p);
    fputc('@', out);
    if (bare) fputs(name, out);
    else print_quoted(out, name);
}

// Keys (metadata, attributes) print bare when they lex as one identifier.
static bool is_identifier(const char *s) {
    bool first_ok = (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_';
    if (!first_ok) return false;
    for (const char *p = s + 1; *p; p++)
        if (!(is_bare_weight_char(*p) && *p != '-' && *p != '/')) return false;
    return true;
}

static void print_key(FILE *out, const char *key) {
    if (is_identifier(key)) fputs(key, out);
    else print_quoted(out, key);
}

// The shortest "%.Ng" that reads back to the same bits, with ".0" appended
// when it would otherwise look like an integer (the parser tells ATTR_FLOAT
// from ATTR_INT by the spelling).
static void format_double(double v, char *buf, size_t cap) {
    if (isnan(v)) {
        snprintf(buf, cap, "nan");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, cap, v < 0 ? "-inf" : "inf");
        return;
    }
    // Whole numbers of ordinary size read better in full: theta = 100000.0.
    if (v == trunc(v) && fabs(v) < 1e15 && !(v == 0 && signbit(v))) {
        snprintf(buf, cap, "%.1f", v);
        return;
    }
    for (int digits = 1; digits <= 17; digits++) {
        snprintf(buf, cap, "%.*g", digits, v);
        double back = strtod(buf, NULL);
        if (memcmp(&back, &v, sizeof v) == 0) break;
    }
    if (!strpbrk(buf, ".e")) strncat(buf, ".0", cap - strlen(buf) - 1);
}

static void print_value(FILE *out, const Attr *a) {
    char buf[64];
    switch (a->kind) {
    case ATTR_INT: fprintf(out, "%lld", (long long)a->i); break;
    case ATTR_FLOAT:
        format_double(a->f, buf, sizeof buf);
        fputs(buf, out);
        break;
    case ATTR_STRING: print_quoted(out, a->s ? a->s : ""); break;
    }
}

static void print_type(FILE *out, const Type *t) {
    char buf[160];
    fputs(ir_type_str(t, buf, sizeof buf), out);
}

// ----------------------------------------------------------------------------
// statements

static void print_header(const Graph *g, FILE *out) {
    fputs("graph ", out);
    print_quoted(out, g->name ? g->name : "");
    fputs(" {\n", out);
    for (size_t i = 0; i < g->n_meta; i++) {
        fputs("  meta ", out);
        print_key(out, g->meta[i].key);
        fputs(" = ", out);
        print_value(out, &g->meta[i].value);
        fputc('\n', out);
    }
    if (g->n_meta && g->n_weights) fputc('\n', out);
    for (size_t i = 0; i < g->n_weights; i++) {
        fputs("  weight ", out);
        print_weight_name(out, g->weights[i].name);
        fputs(" : ", out);
        print_type(out, &g->weights[i].type);
        if (g->weights[i].layout) {
            fputs(" {layout = ", out);
            print_quoted(out, g->weights[i].layout);
            fputc('}', out);
        }
        fputc('\n', out);
    }
    if ((g->n_meta || g->n_weights) && g->n_nodes) fputc('\n', out);
}

static void print_operand(const Graph *g, Operand o, FILE *out) {
    if (o.kind == OPND_NODE) fprintf(out, "%%%d", o.index);
    else print_weight_name(out, g->weights[o.index].name);
}

static void print_attrs(const Node *n, FILE *out) {
    if (n->n_attrs == 0) return;
    fputs(" {", out);
    for (int i = 0; i < n->n_attrs; i++) {
        fputs(i ? ", " : "", out);
        print_key(out, n->attrs[i].key);
        fputs(" = ", out);
        print_value(out, &n->attrs[i]);
    }
    fputc('}', out);
}

static void print_node(const Graph *g, size_t index, const char *indent, FILE *out) {
    const Node *n = &g->nodes[index];
    fprintf(out, "%s%%%zu = %s", indent, index, ir_op_name(n->op));
    for (int i = 0; i < n->n_in; i++) {
        fputs(i ? ", " : " ", out);
        print_operand(g, n->in[i], out);
    }
    print_attrs(n, out);
    fputs(" : ", out);
    print_type(out, &n->type);
    fputc('\n', out);
}

// Consecutive nodes of one block share a `block "name" { ... }`; a block
// whose nodes are interleaved with others' simply opens again.
static void print_nodes(const Graph *g, FILE *out) {
    int open = -1;
    for (size_t i = 0; i < g->n_nodes; i++) {
        int b = g->nodes[i].block;
        if (b != open) {
            if (open >= 0) fputs("  }\n", out);
            if (b >= 0) {
                fputs("  block ", out);
                print_quoted(out, g->blocks[b]);
                fputs(" {\n", out);
            }
            open = b;
        }
        print_node(g, i, b >= 0 ? "    " : "  ", out);
    }
    if (open >= 0) fputs("  }\n", out);
}

static void print_outputs(const Graph *g, FILE *out) {
    if (g->n_outputs == 0) return;
    fputs("  output", out);
    for (size_t i = 0; i < g->n_outputs; i++) fprintf(out, "%s%%%d", i ? ", " : " ", g->outputs[i]);
    fputc('\n', out);
}

// ----------------------------------------------------------------------------
// entry points

void ir_print(const Graph *g, FILE *out) {
    print_header(g, out);
    print_nodes(g, out);
    print_outputs(g, out);
    fputs("}\n", out);
}

char *ir_print_to_string(const Graph *g) {
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    AWQC_ASSERT(out);
    ir_print(g, out);
    AWQC_ASSERT(fclose(out) == 0);
    return text;
}
