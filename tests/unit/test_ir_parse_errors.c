// test_ir_parse_errors.c: every kind of bad IR text gives a "name:line:col:
// message" error with the source line and a caret, and never crashes: a table
// of one-edit breakages of a small graph, every truncated prefix of the golden
// file, and byte substitutions all over it.
#include <stdlib.h>
#include <string.h>

#include "ir/ir.h"
#include "test_support.h"

// ----------------------------------------------------------------------------
// one-edit breakages of a small valid graph

#define GOOD_HEADER "graph \"t\" {\n  weight @w : f32[8, 4]\n"
#define GOOD_INPUT "  %0 = input {name = \"tokens\"} : i32[T]\n"
#define GOOD_EMBED "  %1 = embedding @w, %0 : f32[T, 4]\n"
#define GOOD_TAIL "  output %1\n}\n"

typedef struct {
    const char *text;
    const char *where;   // "t.ir:line:col:"
    const char *message; // a substring of the message
} BadCase;

static const BadCase bad_cases[] = {
    {GOOD_HEADER GOOD_INPUT "  %1 = embeding @w, %0 : f32[T, 4]\n" GOOD_TAIL, "t.ir:4:8:", "unknown op 'embeding'"},
    {GOOD_HEADER GOOD_INPUT "  %1 = embedding @w, %5 : f32[T, 4]\n" GOOD_TAIL, "t.ir:4:22:",
     "%1 = embedding: operand %5 is used before its definition: no node defines it (a dangling value)"},
    {GOOD_HEADER GOOD_INPUT "  %1 = embedding @w, %1 : f32[T, 4]\n" GOOD_TAIL, "t.ir:4:22:",
     "%1 = embedding: operand %1 is used before its definition: it is this node's own value (a cycle)"},
    {GOOD_HEADER "  %0 = input {name = \"tokens\"} : i32[T]\n  %1 = add %2, %0 : i32[T]\n  %2 = input {name = \"x\"} : i32[T]\n"
     GOOD_TAIL, "t.ir:4:12:", "%1 = add: operand %2 is used before its definition: it is defined later, at line 5 (a cycle"},
    // A comment or a string that looks like the definition is not one.
    {GOOD_HEADER GOOD_INPUT "  %1 = embedding @w, %3 : f32[T, 4]\n  # %3 = input\n  meta s = \"%3 = \"\n" GOOD_TAIL,
     "t.ir:4:22:", "operand %3 is used before its definition: no node defines it (a dangling value)"},
    {GOOD_HEADER GOOD_INPUT "  %1 = embedding @v, %0 : f32[T, 4]\n" GOOD_TAIL, "t.ir:4:18:", "unknown weight @v"},
    {GOOD_HEADER GOOD_INPUT "  %1 = embedding @w, %0 : f32[T, 5]\n" GOOD_TAIL, "t.ir:4:27:",
     "%1 = embedding: type mismatch: printed f32[T, 5] but embedding gives f32[T, 4]"},
    {GOOD_HEADER GOOD_INPUT "  %1 = embedding %0, @w : f32[T, 4]\n" GOOD_TAIL, "t.ir:4:8:",
     "%1 = embedding: operand 1 must be f32, not i32"},
    {"graph \"t\" {\n  weight @w : f32[8]\n" GOOD_INPUT GOOD_EMBED GOOD_TAIL, "t.ir:4:8:", "embedding: table must be 2-D"},
    {GOOD_HEADER GOOD_INPUT "  %1 = embedding @w : f32[T, 4]\n" GOOD_TAIL, "t.ir:4:8:", "%1 = embedding: embedding takes 2 operands, got 1"},
    {GOOD_HEADER "  %0 = input : i32[T]\n" GOOD_EMBED GOOD_TAIL, "t.ir:3:8:", "%0 = input: input needs the attribute 'name'"},
    {GOOD_HEADER GOOD_INPUT "  %1 embedding @w, %0 : f32[T, 4]\n" GOOD_TAIL, "t.ir:4:6:", "expected '=', got 'embedding'"},
    {GOOD_HEADER GOOD_INPUT "  %2 = embedding @w, %0 : f32[T, 4]\n" GOOD_TAIL, "t.ir:4:3:", "expected %1 here"},
    {GOOD_HEADER GOOD_INPUT "  %1 = embedding @w, %0 f32[T, 4]\n" GOOD_TAIL, "t.ir:4:25:", "expected ':', got 'f32'"},
    {GOOD_HEADER GOOD_INPUT "  %1 = embedding @w, %0 : f32[T, 4\n" GOOD_TAIL, "t.ir:5:3:", "expected ',' or ']', got 'output'"},
    {"graph \"t\" {\n  weight @w : f32[8x, 4]\n}\n", "t.ir:2:19:", "bad number '8x'"},
    {"graph \"t\" {\n  meta x = 1e\n}\n", "t.ir:2:12:", "bad number '1e'"},
    {"graph \"t\" {\n  meta x = 1.5.2\n}\n", "t.ir:2:12:", "bad number '1.5.2'"},
    {"graph \"t\" {\n  meta x = 99999999999999999999\n}\n", "t.ir:2:12:", "bad number"},
    {"graph \"t\" {\n  meta x = 1e999\n}\n", "t.ir:2:12:", "bad number '1e999'"},
    {"graph \"t\" {\n  meta x = -\n}\n", "t.ir:2:12:", "bad number '-'"},
    {GOOD_HEADER "  %0 = input {name = \"tokens} : i32[T]\n" GOOD_EMBED GOOD_TAIL, "t.ir:3:22:", "unterminated string"},
    {"graph \"t", "t.ir:1:7:", "unterminated string"},
    {"graph \"t\" {\n  meta s = \"a\\qb\"\n}\n", "t.ir:2:14:", "bad escape"},
    {"graph \"t\" {\n  meta s = \"a\\x00b\"\n}\n", "t.ir:2:14:", "bad escape"},
    {"graph \"t\" {\n  weight @w : g32[8, 4]\n}\n", "t.ir:2:15:", "unknown type 'g32'"},
    {"graph \"t\" {\n  weight @w : f32g8[8, 4]\n}\n", "t.ir:2:15:", "unknown type 'f32g8'"},
    {"graph \"t\" {\n  weight @w : f32[T, 4]\n}\n", "t.ir:2:15:", "must be constant"},
    {"graph \"t\" {\n  weight @w : f32[1, 2, 3, 4, 5]\n}\n", "t.ir:2:31:", "at most 4 dimensions"},
    {"graph \"t\" {\n  weight @w : f32[4]\n  weight @w : f32[4]\n}\n", "t.ir:3:10:", "weight 'w' defined twice"},
    {"graph \"t\" {\n  meta a = 1\n  meta a = 2\n}\n", "t.ir:3:8:", "meta 'a' defined twice"},
    {GOOD_HEADER "  %0 = input {name = \"a\", name = \"b\"} : i32[T]\n" GOOD_TAIL, "t.ir:3:27:", "attribute 'name' given twice"},
    {GOOD_HEADER GOOD_INPUT GOOD_EMBED "  output %9\n}\n", "t.ir:5:10:",
     "output %9 is used before its definition: no node defines it (a dangling value)"},
    {GOOD_HEADER "  output %0\n" GOOD_INPUT "}\n", "t.ir:3:10:", "output %0 is used before its definition: it is defined later, at line 4"},
    {GOOD_HEADER GOOD_INPUT GOOD_EMBED GOOD_TAIL "x", "t.ir:7:1:", "expected end of input"},
    {GOOD_HEADER GOOD_INPUT GOOD_EMBED "  output %1\n", "t.ir:6:1:", "expected '}', got end of input"},
    {GOOD_HEADER "  $\n}\n", "t.ir:3:3:", "unexpected character '$'"},
    {GOOD_HEADER "  frob\n}\n", "t.ir:3:3:", "expected 'meta', 'weight', 'block', 'output'"},
    {GOOD_HEADER "  block \"b\" {\n    block \"c\" {\n  }\n}\n", "t.ir:4:5:", "or '}' closing the block"},
    {GOOD_HEADER "  %x = input\n}\n", "t.ir:3:3:", "expected a value number after '%'"},
    {GOOD_HEADER "  %1x = input\n}\n", "t.ir:3:3:", "bad value name '%1x'"},
    {GOOD_HEADER "  weight @ : f32[4]\n}\n", "t.ir:3:10:", "expected a weight name after '@'"},
    {"", "t.ir:1:1:", "expected 'graph', got end of input"},
    {"graph t {}", "t.ir:1:7:", "expected the graph's name (a string), got 't'"},
};

// The whole message: location, text, the source line, and a caret under the column.
static void check_message_shape(const char *msg, const char *text) {
    const char *nl1 = strchr(msg, '\n');
    const char *nl2 = nl1 ? strchr(nl1 + 1, '\n') : NULL;
    CHECK_MSG(nl1 && nl2 && !strchr(nl2 + 1, '\n'), "not three lines: %s", msg);
    if (!nl2) return;
    const char *caret = nl2 + 1;
    size_t pad = strspn(caret, " \t");
    CHECK_MSG(caret[pad] == '^' && caret[pad + 1] == 0, "bad caret line in: %s", msg);
    // The column in the location is the caret's column (no tabs or UTF-8 here).
    const char *col = strchr(strchr(msg, ':') + 1, ':') + 1;
    CHECK_MSG((size_t)atoi(col) == pad + 1, "caret at %zu but location says %d: %s", pad + 1, atoi(col), msg);
    (void)text;
}

static void test_bad_cases(void) {
    for (size_t i = 0; i < sizeof bad_cases / sizeof *bad_cases; i++) {
        const BadCase *c = &bad_cases[i];
        AwqcError err = {{0}};
        Graph *g = ir_parse(c->text, "t.ir", &err);
        CHECK_MSG(!g, "case %zu parsed but should fail with %s", i, c->message);
        ir_graph_free(g);
        CHECK_MSG(strncmp(err.msg, c->where, strlen(c->where)) == 0, "case %zu: want %s, got: %s", i, c->where, err.msg);
        CHECK_MSG(strstr(err.msg, c->message), "case %zu: want '%s' in: %s", i, c->message, err.msg);
        check_message_shape(err.msg, c->text);
    }
}

static void test_exact_message(void) {
    AwqcError err;
    CHECK(!ir_parse(GOOD_HEADER GOOD_INPUT "  %1 = embeding @w, %0 : f32[T, 4]\n" GOOD_TAIL, "t.ir", &err));
    CHECK_MSG(strcmp(err.msg, "t.ir:4:8: unknown op 'embeding'\n  %1 = embeding @w, %0 : f32[T, 4]\n       ^") == 0,
              "%s", err.msg);
    // Tabs in the source line stay tabs under it, so the caret still lines up.
    CHECK(!ir_parse("graph \"t\" {\n\tmeta x = @\n}\n", "t.ir", &err));
    CHECK_MSG(strstr(err.msg, "t.ir:2:11: ") == err.msg && strstr(err.msg, "\n\tmeta x = @\n\t         ^"), "%s", err.msg);
    // Columns count UTF-8 characters: "\xc3\xa9" is one column and one caret space.
    CHECK(!ir_parse("graph \"t\" {\n  meta \"\xc3\xa9\" = @\n}\n", "t.ir", &err));
    CHECK_MSG(strcmp(err.msg, "t.ir:2:14: expected a weight name after '@'\n  meta \"\xc3\xa9\" = @\n             ^") == 0,
              "%s", err.msg);
    CHECK(!ir_parse("graph \"t\" {", NULL, &err));
    CHECK_MSG(strstr(err.msg, "<ir>:1:") == err.msg, "%s", err.msg);
}

// A very long line is shown as a window around the column.
static void test_long_line(void) {
    char text[1200];
    snprintf(text, sizeof text, "graph \"t\" {\n%*s$\n}\n", 1000, "");
    AwqcError err;
    CHECK(!ir_parse(text, "t.ir", &err));
    const char *want = "t.ir:2:1001: unexpected character '$'\n...";
    CHECK_MSG(strncmp(err.msg, want, strlen(want)) == 0, "%s", err.msg);
    CHECK(strlen(err.msg) < 300);
    const char *caret = strrchr(err.msg, '\n') + 1;
    const char *shown = strchr(err.msg, '\n') + 1;
    CHECK(strchr(shown, '$') - shown == strchr(caret, '^') - caret);
}

// ----------------------------------------------------------------------------
// damaged copies of the golden file

static char *read_fixture(size_t *len) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fixtures/ir/tiny_llama.ir", test_source_dir());
    AwqcError err;
    char *text = awqc_read_file(path, len, &err);
    if (!text) test_skip(err.msg);
    return text;
}

// Whatever parses must print and parse back to the same text.
static void check_outcome(Graph *g, const AwqcError *err, const char *what, size_t at) {
    if (!g) {
        CHECK_MSG(strncmp(err->msg, "tiny_llama.ir:", 14) == 0, "%s %zu: %s", what, at, err->msg);
        return;
    }
    char *once = ir_print_to_string(g);
    AwqcError e2;
    Graph *g2 = ir_parse(once, "reprint", &e2);
    CHECK_MSG(g2, "%s %zu: reprint does not parse: %s", what, at, e2.msg);
    char *twice = g2 ? ir_print_to_string(g2) : NULL;
    CHECK_MSG(twice && strcmp(once, twice) == 0, "%s %zu: print is not stable", what, at);
    free(once);
    free(twice);
    ir_graph_free(g2);
    ir_graph_free(g);
}

static void test_truncated_prefixes(const char *text, size_t len) {
    size_t parsed = 0;
    for (size_t n = 0; n <= len; n++) {
        char *prefix = xstrndup(text, n);
        AwqcError err = {{0}};
        Graph *g = ir_parse(prefix, "tiny_llama.ir", &err);
        parsed += g != NULL;
        // Only the whole file, with or without its final newline, is a graph.
        CHECK_MSG((g != NULL) == (n >= len - 1), "prefix of %zu bytes: %s", n, g ? "parsed" : err.msg);
        check_outcome(g, &err, "prefix", n);
        free(prefix);
    }
    CHECK(parsed == 2);
}

static void test_byte_substitutions(const char *text, size_t len) {
    static const char subst[] = {'"', '%', '@', '{', '}', '9', '-', ' ', '\\', '\x80', 'e', ','};
    char *copy = xstrndup(text, len);
    for (size_t at = 0; at < len; at += 4)
        for (size_t k = 0; k < sizeof subst; k++) {
            char saved = copy[at];
            copy[at] = subst[k];
            AwqcError err = {{0}};
            check_outcome(ir_parse(copy, "tiny_llama.ir", &err), &err, "substitution at", at);
            copy[at] = saved;
        }
    free(copy);
}

int main(void) {
    test_bad_cases();
    test_exact_message();
    test_long_line();
    size_t len;
    char *text = read_fixture(&len);
    test_truncated_prefixes(text, len);
    test_byte_substitutions(text, len);
    free(text);
    return test_result();
}
