// fuzz_common.h: the little the harnesses share: writing an input to a file,
// and, with AWQC_FUZZ_VERBOSE=1 in the environment, printing why an input was
// refused (to check that seeds load: fuzz_X -runs=0 corpus/fuzz_X).
// Header-only and static: each harness is its own executable.
#ifndef AWQC_FUZZ_COMMON_H
#define AWQC_FUZZ_COMMON_H

#include <stdio.h>
#include <stdlib.h>

#include "common/util.h"

static inline void fuzz_write_file(const char *path, const void *data, size_t size) {
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    if (fclose(f) != 0) abort();
}

static inline void fuzz_note(const char *what, const AwqcError *err) {
    static int verbose = -1;
    if (verbose < 0) verbose = getenv("AWQC_FUZZ_VERBOSE") && *getenv("AWQC_FUZZ_VERBOSE") == '1';
    if (verbose) fprintf(stderr, "%s: %s\n", what, err->msg);
}

#endif
