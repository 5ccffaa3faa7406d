// test_support.c: implementation of the assertion kit in test_support.h.
#include "test_support.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"

int test_failures = 0;
int test_checks = 0;

int test_result(void) {
    if (test_failures) {
        fprintf(stderr, "%d of %d checks failed\n", test_failures, test_checks);
        return 1;
    }
    printf("all %d checks passed\n", test_checks);
    return 0;
}

void test_skip(const char *reason) {
    printf("SKIP: %s\n", reason);
    exit(77);
}

const char *test_source_dir(void) {
    const char *s = getenv("AWQC_SOURCE_DIR");
    return s && *s ? s : ".";
}

const char *test_model_or_skip(void) {
    static char *path;
    if (!path) path = awqc_default_model_path();
    if (access(path, R_OK) != 0) {
        static char msg[4096];
        snprintf(msg, sizeof msg, "default model not found at %s (run scripts/setup.sh)", path);
        test_skip(msg);
    }
    return path;
}

static char tmp_dir[256];

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

// At exit (a pass, a failure or a skip alike): a test's artifacts run to
// hundreds of MiB, and a directory left per run fills the disk.
static void remove_tmpdir(void) { nftw(tmp_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS); }

const char *test_tmpdir(void) {
    if (!tmp_dir[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(tmp_dir, sizeof tmp_dir, "%s/awqc-test-XXXXXX", base && *base ? base : "/tmp");
        if (!mkdtemp(tmp_dir)) AWQC_PANIC("mkdtemp failed");
        atexit(remove_tmpdir);
    }
    return tmp_dir;
}

void test_write_file(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) AWQC_PANIC("cannot write %s", path);
}
