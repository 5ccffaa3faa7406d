// diag.c: error messages that point into a model description:
// "path:line:col: message", then the source line, then a caret under the
// column (rendered by common/diag.c, shared with the IR text parser), plus
// "did you mean" suggestions by edit distance.
#include <stdlib.h>
#include <string.h>

#include "common/diag.h"
#include "lang_internal.h"

// ----------------------------------------------------------------------------
// messages

bool lang_error_at(AwqcError *err, const Source *src, Loc loc, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    diag_vfail(err, src->path, src->text, src->len, loc.line, loc.col, fmt, ap);
    va_end(ap);
    return false;
}

// ----------------------------------------------------------------------------
// suggestions

static size_t min3(size_t a, size_t b, size_t c) {
    size_t m = a < b ? a : b;
    return m < c ? m : c;
}

// Levenshtein distance with one rolling row; names here are short.
static size_t edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    size_t *row = xmalloc((lb + 1) * sizeof *row);
    for (size_t j = 0; j <= lb; j++) row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            row[j] = min3(row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] != b[j - 1]));
            diag = up;
        }
    }
    size_t d = row[lb];
    free(row);
    return d;
}

const char *lang_suggest(const char *name, const char *const *candidates, size_t n) {
    const char *best = NULL;
    size_t best_d = (size_t)-1;
    size_t limit = strlen(name) / 3 + 1; // "rmsnorm" -> "rms_norm", not "relu"
    for (size_t i = 0; i < n; i++) {
        size_t d = edit_distance(name, candidates[i]);
        if (d < best_d) {
            best_d = d;
            best = candidates[i];
        }
    }
    return best_d <= limit ? best : NULL;
}
