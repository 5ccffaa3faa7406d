// diag.c: error messages that point into a model description:
// "path:line:col: message", then the source line, then a caret under the
// column (chibicc style), plus "did you mean" suggestions by edit distance.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lang_internal.h"

// ----------------------------------------------------------------------------
// locating lines

// Start of the 1-based line in the text (or its end when out of range).
static const char *line_start(const Source *src, int line) {
    const char *p = src->text, *end = src->text + src->len;
    for (int l = 1; l < line && p < end; p++)
        if (*p == '\n') l++;
    return p;
}

static size_t line_length(const char *start, const char *end) {
    const char *p = start;
    while (p < end && *p != '\n' && *p != '\r') p++;
    return (size_t)(p - start);
}

// The caret line: tabs are kept so the caret lines up under tabbed source;
// UTF-8 continuation bytes take no column, matching the scanner's counting.
static void caret_line(const char *line, size_t len, int col, char *out, size_t cap) {
    size_t n = 0;
    int c = 1;
    for (size_t i = 0; i < len && c < col && n + 2 < cap; i++) {
        unsigned char ch = (unsigned char)line[i];
        if ((ch & 0xC0) == 0x80) continue;
        out[n++] = ch == '\t' ? '\t' : ' ';
        c++;
    }
    for (; c < col && n + 2 < cap; c++) out[n++] = ' ';
    out[n++] = '^';
    out[n] = '\0';
}

// ----------------------------------------------------------------------------
// messages

bool lang_error_at(AwqcError *err, const Source *src, Loc loc, const char *fmt, ...) {
    if (!err) return false;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *start = line_start(src, loc.line);
    size_t len = line_length(start, src->text + src->len);
    if (len > 400) len = 400; // a pathological line must not crowd out the message
    char caret[512];
    caret_line(start, len, loc.col, caret, sizeof caret);
    return awqc_fail(err, "%s:%d:%d: %s\n%.*s\n%s", src->path, loc.line, loc.col, msg, (int)len, start, caret);
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
