// test_support.h: the small assertion kit every unit test uses. A failed
// CHECK prints file:line and the expression and marks the test failed; tests
// end with `return test_result();`. Tests needing data that may be absent call
// test_skip(), which exits 77 (ctest's SKIP_RETURN_CODE) with the reason.
#ifndef AWQC_TEST_SUPPORT_H
#define AWQC_TEST_SUPPORT_H

#include <stdbool.h>
#include <stdio.h>

extern int test_failures;
extern int test_checks;

#define CHECK(cond)                                                           \
    do {                                                                      \
        test_checks++;                                                        \
        if (!(cond)) {                                                        \
            test_failures++;                                                  \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                     \
    } while (0)

#define CHECK_MSG(cond, ...)                                                  \
    do {                                                                      \
        test_checks++;                                                        \
        if (!(cond)) {                                                        \
            test_failures++;                                                  \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                     \
            fputc('\n', stderr);                                              \
        }                                                                     \
    } while (0)

// Prints a summary and returns the process exit code (0 when all passed).
int test_result(void);
// Prints "SKIP: reason" and exits 77.
_Noreturn void test_skip(const char *reason);
// The source tree ($AWQC_SOURCE_DIR, set by ctest), or "." when unset.
const char *test_source_dir(void);
// Path of the cached default model; skips the test when it is not there.
const char *test_model_or_skip(void);
// A fresh temporary directory for this test, removed with its contents when
// the test exits.
const char *test_tmpdir(void);
// Writes bytes to path; aborts on failure.
void test_write_file(const char *path, const void *data, size_t len);

#endif
