// test_filecheck.c: the golden-test checker accepts and rejects what it should
// for every directive, variables, regexes and blank folding, rejects broken
// check files, and writes failure messages that name the line and directive.
#include <string.h>

#include "tests/passes/filecheck.h"
#include "tests/unit/test_support.h"

// ----------------------------------------------------------------------------
// helpers

static void expect_pass(const char *checks, const char *input, int line) {
    AwqcError err = {{0}};
    bool ok = filecheck(checks, "t.ir", input, &err);
    CHECK_MSG(ok, "line %d: expected a pass, got:\n%s", line, err.msg);
}

// Expects a failure whose message holds every string in wants (NULL-ended).
static void expect_fail(const char *checks, const char *input, const char *const *wants, int line) {
    AwqcError err = {{0}};
    bool ok = filecheck(checks, "t.ir", input, &err);
    CHECK_MSG(!ok, "line %d: expected a failure, but it passed", line);
    if (ok) return;
    for (; *wants; wants++)
        CHECK_MSG(strstr(err.msg, *wants), "line %d: message lacks '%s':\n%s", line, *wants, err.msg);
}

#define PASS(checks, input) expect_pass((checks), (input), __LINE__)
#define FAIL(checks, input, ...) \
    expect_fail((checks), (input), (const char *const[]){__VA_ARGS__, NULL}, __LINE__)

// ----------------------------------------------------------------------------
// directives

static void test_check(void) {
    PASS("# CHECK: b\n", "a\nb\nc\n");
    PASS("# CHECK: a\n# CHECK: c\n", "a\nb\nc");
    FAIL("# CHECK: b\n# CHECK: a\n", "a\nb\n", "t.ir:2: error: CHECK: expected string not found in input",
         "# CHECK: a", "input line 1 matches, but outside");
    // A match consumes its whole line: the next search starts on the next line.
    FAIL("# CHECK: x\n# CHECK: x\n", "x x\n", "t.ir:2:");
    PASS("# CHECK: x\n# CHECK: x\n", "x\nx\n");
    // Plain text is literal, metacharacters included.
    PASS("# CHECK: f(a[0]) + 1.5*x ^$|?\n", "y = f(a[0]) + 1.5*x ^$|?\n");
    FAIL("# CHECK: a.c\n", "abc\n", "t.ir:1:");
    PASS("   #   CHECK:    padded   \n", "xx padded yy\n");
    PASS("# CHECK: a\n", "z\r\na\r\n");
}

static void test_next(void) {
    PASS("# CHECK: a\n# CHECK-NEXT: b\n# CHECK-NEXT: c\n", "a\nb\nc\n");
    FAIL("# CHECK: a\n# CHECK-NEXT: c\n", "a\nb\nc\n",
         "t.ir:2: error: CHECK-NEXT: expected string not found in input", "# CHECK-NEXT: c",
         "input line 3 matches, but outside where CHECK-NEXT may match");
    FAIL("# CHECK: a\n# CHECK-NEXT: b\n", "a\n", "CHECK-NEXT", "end of the input");
}

static void test_same(void) {
    PASS("# CHECK: a\n# CHECK-SAME: c\n# CHECK-SAME: d\n", "a b c d\n");
    FAIL("# CHECK: b\n# CHECK-SAME: a\n", "a b\n", "t.ir:2: error: CHECK-SAME:");
    FAIL("# CHECK: a\n# CHECK-SAME: b\n", "a\nb\n", "CHECK-SAME");
    PASS("# CHECK: a\n# CHECK-SAME: b\n# CHECK-NEXT: c\n", "a b\nc\n");
}

static void test_not(void) {
    PASS("# CHECK: a\n# CHECK-NOT: x\n# CHECK: b\n", "a\ny\nb\nx\n");
    FAIL("# CHECK: a\n# CHECK-NOT: x\n# CHECK: b\n", "a\nx\nb\n",
         "t.ir:2: error: CHECK-NOT: excluded string found in input", "# CHECK-NOT: x",
         "note: found at input line 2:\n     2 | x");
    // Up to the end of input when no positive directive follows.
    FAIL("# CHECK: a\n# CHECK-NOT: x\n", "a\nb\nx\n", "CHECK-NOT");
    PASS("# CHECK: a\n# CHECK-NOT: x\n", "x\na\nb\n");
    // From the start of input when it comes first.
    FAIL("# CHECK-NOT: x\n# CHECK: a\n", "x\na\n", "t.ir:1:");
    PASS("# CHECK-NOT: x\n# CHECK: a\n", "a\nx\n");
    // The rest of the previous match's line is inside the region.
    FAIL("# CHECK: a\n# CHECK-NOT: z\n", "a z\n", "CHECK-NOT");
    // The region ends where the next match starts.
    PASS("# CHECK: a\n# CHECK-NOT: z\n# CHECK: b\n", "a\nb z\n");
}

static void test_label(void) {
    const char *out = "func f\n  nop\nfunc g\n  ret\n";
    PASS("# CHECK-LABEL: func f\n# CHECK: nop\n# CHECK-LABEL: func g\n# CHECK: ret\n", out);
    // A CHECK cannot reach past the next label.
    FAIL("# CHECK-LABEL: func f\n# CHECK: ret\n# CHECK-LABEL: func g\n", out,
         "t.ir:2: error: CHECK: expected string not found", "input line 4 matches");
    // CHECK-NOT regions stop at a label.
    PASS("# CHECK-LABEL: func f\n# CHECK-NOT: ret\n# CHECK-LABEL: func g\n", out);
    FAIL("# CHECK-LABEL: func f\n# CHECK-NOT: nop\n# CHECK-LABEL: func g\n", out, "t.ir:2: error: CHECK-NOT");
    FAIL("# CHECK-LABEL: func h\n", out, "t.ir:1: error: CHECK-LABEL: expected string not found");
    FAIL("# CHECK-LABEL: func g\n# CHECK-LABEL: func f\n", out, "t.ir:2: error: CHECK-LABEL");
    PASS("# CHECK-LABEL: func g\n# CHECK-NEXT: ret\n", out);
}

static void test_count(void) {
    PASS("# CHECK-COUNT-3: add\n# CHECK-NEXT: ret\n", "add\nadd\nadd\nret\n");
    FAIL("# CHECK-COUNT-3: add\n", "add\nmul\nadd\n", "t.ir:1: error: CHECK-COUNT-3:", "match 3 of 3");
    FAIL("# CHECK-COUNT-2: add\n# CHECK-NEXT: ret\n", "add\nadd\nadd\nret\n", "t.ir:2: error: CHECK-NEXT");
    FAIL("# CHECK-COUNT-0: add\n", "add\n", "t.ir:1: error: unknown directive CHECK-COUNT-0");
}

static void test_empty(void) {
    PASS("# CHECK: a\n# CHECK-EMPTY:\n# CHECK-NEXT: b\n", "a\n\nb\n");
    FAIL("# CHECK: a\n# CHECK-EMPTY:\n", "a\n  \t\n", "CHECK-EMPTY");  // blanks are not empty
    FAIL("# CHECK: a\n# CHECK-EMPTY:\n", "a\nb\n", "t.ir:2: error: CHECK-EMPTY: expected an empty line");
    FAIL("# CHECK: a\n# CHECK-EMPTY:\n", "a\n", "CHECK-EMPTY");
    FAIL("# CHECK: a\n# CHECK-EMPTY: x\n", "a\n\n", "t.ir:2: error: CHECK-EMPTY takes no pattern");
}

// ----------------------------------------------------------------------------
// pattern syntax

static void test_blanks(void) {
    PASS("# CHECK: %1 = add %0, %0\n", "  %1   =\tadd %0,  %0\n");
    FAIL("# CHECK: a b\n", "ab\n", "t.ir:1:");
    FAIL("# CHECK: a b\n", "a\nb\n", "t.ir:1:");
}

static void test_regex(void) {
    PASS("# CHECK: %{{[0-9]+}} = mul\n", "%12 = mul %1, %2\n");
    FAIL("# CHECK: %{{[0-9]+}} = mul\n", "%x = mul\n", "t.ir:1:");
    PASS("# CHECK: x{{[0-9]{2}}}y\n", "x42y\n");
    FAIL("# CHECK: x{{[0-9]{2}}}y\n", "x4y\n", "t.ir:1:");
    PASS("# CHECK: {{^}}ret{{$}}\n", "  return\nret\n");
    PASS("# CHECK: a{{[}]}}b\n", "a}b\n");
    FAIL("# CHECK: {{(}}\n", "(\n", "t.ir:1: error: CHECK: bad regex '('");
    FAIL("# CHECK: a {{b\n", "a b\n", "t.ir:1: error: CHECK: '{{' without its '}}'");
}

static void test_variables(void) {
    const char *checks = "# CHECK: [[QKV:%[0-9]+]] = linear\n# CHECK: slice [[QKV]]\n";
    PASS(checks, "%3 = linear %1\n%4 = slice %3, 0\n");
    FAIL(checks, "%3 = linear %1\n%4 = slice %4, 0\n", "t.ir:2: error: CHECK: expected string not found",
         "note: [[QKV]] is \"%3\"");
    // A captured value is matched literally, not as a regex.
    FAIL("# CHECK: [[V:a.b]]\n# CHECK: x [[V]]\n", "a.b\nx axb\n", "t.ir:2:");
    PASS("# CHECK: [[V:a.b]]\n# CHECK: x [[V]]\n", "a.b\nx a.b\n");
    // Use in the pattern that defines it.
    PASS("# CHECK: [[X:[a-z]+]] = [[X]]\n", "foo = foo\n");
    FAIL("# CHECK: [[X:[a-z]+]] = [[X]]\n", "foo = bar\n", "t.ir:1:");
    // Redefinition takes the newer value.
    PASS("# CHECK: [[R:[0-9]+]]\n# CHECK: [[R:[0-9]+]]\n# CHECK: use [[R]]\n", "1\n2\nuse 2\n");
    PASS("# CHECK: [[R:%[0-9]+]] = a\n# CHECK-NOT: use [[R]]\n# CHECK: end\n", "%1 = a\nuse %2\nend\n");
    FAIL("# CHECK: [[R:%[0-9]+]] = a\n# CHECK-NOT: use [[R]]\n# CHECK: end\n", "%1 = a\nuse %1\nend\n",
         "t.ir:2: error: CHECK-NOT", "[[R]] is \"%1\"");
    FAIL("# CHECK: [[NOPE]]\n", "x\n", "t.ir:1: error: CHECK uses undefined variable [[NOPE]]");
    FAIL("# CHECK-NOT: [[A:x]]\n# CHECK: y\n", "y\n", "t.ir:1: error: CHECK-NOT cannot define variable");
    FAIL("# CHECK: [[A:x]]\n# CHECK-LABEL: [[A]]\n", "x\nx\n", "t.ir:2: error: CHECK-LABEL cannot use");
    FAIL("# CHECK: [[A:x]] [[A:y]]\n", "x y\n", "defines [[A]] twice");
    FAIL("# CHECK: [[A:x\n", "x\n", "without its ']]'");
    // '[[' that is not a variable is plain text.
    PASS("# CHECK: shape [[1, 2]]\n", "shape [[1, 2]]\n");
    PASS("# CHECK: [[N:[[:digit:]]+]]x\n# CHECK: y[[N]]\n", "12x\ny12\n");
}

// ----------------------------------------------------------------------------
// check-file errors and messages

static void test_bad_check_files(void) {
    FAIL("# CHECK-NXT: a\n", "a\n", "t.ir:1: error: unknown directive CHECK-NXT");
    FAIL("x\n# CHECK-next: a\n", "a\n", "t.ir:2: error: unknown directive CHECK-next");
    FAIL("# CHECK-NEXT a\n", "a\n", "t.ir:1: error: CHECK-NEXT is missing its ':'");
    FAIL("# CHECK:\n", "a\n", "t.ir:1: error: CHECK has an empty pattern");
    FAIL("# CHECK: a\n# CHECK-NEXT:   \n", "a\nb\n", "t.ir:2: error: CHECK-NEXT has an empty pattern");
    FAIL("func f\n# just a comment\n", "func f\n", "t.ir: error: no CHECK directives found");
    FAIL("", "", "no CHECK directives found");
    // Outside '#' comments, or as prose, CHECK is not a directive.
    FAIL("CHECK: a\n# CHECK that this fails\n", "a\n", "no CHECK directives found");
    FAIL("# CHECK-NEXT: a\n", "a\n", "t.ir:1: error: CHECK-NEXT has no earlier positive match");
    FAIL("# CHECK-NOT: b\n# CHECK-SAME: a\n", "a\n", "t.ir:2: error: CHECK-SAME has no earlier");
}

static void test_message_excerpt(void) {
    const char *checks = "# CHECK: one\n# CHECK: two\n# CHECK-NEXT: zzz\n";
    const char *input = "one\ntwo\nthree\nfour\nfive\nsix\n";
    AwqcError err = {{0}};
    CHECK(!filecheck(checks, "golden/x.ir", input, &err));
    const char *head = "golden/x.ir:3: error: CHECK-NEXT: expected string not found in input\n";
    CHECK_MSG(strncmp(err.msg, head, strlen(head)) == 0, "%s", err.msg);
    CHECK_MSG(strstr(err.msg, "\n  # CHECK-NEXT: zzz\n"), "%s", err.msg);
    CHECK_MSG(strstr(err.msg, "note: input from line 3:\n"), "%s", err.msg);
    CHECK_MSG(strstr(err.msg, "     3 | three\n     4 | four\n     5 | five"), "%s", err.msg);
    CHECK_MSG(!strstr(err.msg, "six") && !strstr(err.msg, "two\n"), "%s", err.msg);
}

// A golden test in the shape the pass tests will use.
static void test_realistic(void) {
    const char *checks =
        "# CHECK-LABEL: graph @block\n"
        "# CHECK: [[X:%[0-9]+]] = input\n"
        "# CHECK-NEXT: [[QKV:%[0-9]+]] = linear [[X]], @wqkv\n"
        "# CHECK-NOT: linear\n"
        "# CHECK: slice [[QKV]], 0\n"
        "# CHECK-SAME: {{\\[0, 576\\)}}\n"
        "# CHECK-COUNT-2: slice [[QKV]]\n"
        "# CHECK-EMPTY:\n"
        "# CHECK-LABEL: graph @next\n";
    const char *good = "graph @block {\n  %0 = input f32[1,576]\n  %1 = linear %0, @wqkv\n"
                       "  %2 = slice %1, 0 [0, 576)\n  %3 = slice %1, 1\n  %4 = slice %1, 2\n\n"
                       "graph @next {\n";
    PASS(checks, good);
    const char *fused_twice = "graph @block {\n  %0 = input f32[1,576]\n  %1 = linear %0, @wqkv\n"
                              "  %5 = linear %0, @wo\n  %2 = slice %1, 0 [0, 576)\ngraph @next {\n";
    FAIL(checks, fused_twice, "t.ir:4: error: CHECK-NOT: excluded string found", "     4 |   %5 = linear");
}

int main(void) {
    test_check();
    test_next();
    test_same();
    test_not();
    test_label();
    test_count();
    test_empty();
    test_blanks();
    test_regex();
    test_variables();
    test_bad_check_files();
    test_message_excerpt();
    test_realistic();
    return test_result();
}
