// diag.c: see diag.h. Lines and columns are found by walking the text, which
// only happens once per reported error, so no line table is kept.
#include "diag.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

// ----------------------------------------------------------------------------
// walking lines and characters

static bool is_continuation(char c) { return ((unsigned char)c & 0xC0) == 0x80; }

static bool ends_line(char c) { return c == '\n' || c == '\r'; }

// Offset of the start of the 1-based line (the end of the text when out of range).
static size_t line_start(const char *text, size_t len, int line) {
    size_t p = 0;
    for (int l = 1; l < line && p < len; p++)
        if (text[p] == '\n') l++;
    return p;
}

static size_t line_end(const char *text, size_t len, size_t from) {
    while (from < len && !ends_line(text[from])) from++;
    return from;
}

// Moves forward over up to n characters, stopping at end; *moved counts them.
static size_t forward_chars(const char *text, size_t from, size_t end, int n, int *moved) {
    int k = 0;
    while (k < n && from < end) {
        from++;
        while (from < end && is_continuation(text[from])) from++;
        k++;
    }
    if (moved) *moved = k;
    return from;
}

// Moves back over up to n characters, stopping at start.
static size_t back_chars(const char *text, size_t from, size_t start, int n) {
    for (int k = 0; k < n && from > start; k++) {
        from--;
        while (from > start && is_continuation(text[from])) from--;
    }
    return from;
}

// Characters in [from, to), counted up to limit.
static int count_chars(const char *text, size_t from, size_t to, int limit) {
    int n = 0;
    for (size_t p = from; p < to && n < limit; p++) n += !is_continuation(text[p]);
    return n;
}

void diag_line_col(const char *text, size_t len, size_t offset, int *line, int *col) {
    if (offset > len) offset = len;
    int l = 1;
    size_t start = 0;
    for (size_t p = 0; p < offset; p++)
        if (text[p] == '\n') l++, start = p + 1;
    *line = l;
    *col = 1 + count_chars(text, start, offset, INT_MAX - 1);
}

// ----------------------------------------------------------------------------
// the quoted line and its caret

// The part of [start, end) shown around `at`: the whole line when it fits
// in DIAG_SHOWN_WIDTH characters, else at most DIAG_SHOWN_WIDTH / 2 before
// the column and the rest of the width after it.
static void shown_window(const char *text, size_t start, size_t end, size_t at, size_t *from, size_t *to) {
    if (count_chars(text, start, end, DIAG_SHOWN_WIDTH + 1) <= DIAG_SHOWN_WIDTH) {
        *from = start, *to = end;
        return;
    }
    int before = count_chars(text, start, at, DIAG_SHOWN_WIDTH / 2);
    *from = back_chars(text, at, start, before);
    *to = forward_chars(text, at, end, DIAG_SHOWN_WIDTH - before, NULL);
}

// Appends the shown part of the line and, below it, the caret line.
static void quote_line(StrBuf *out, const char *text, size_t len, int line, int col) {
    size_t start = line_start(text, len, line), end = line_end(text, len, start);
    int reached = 0;
    size_t at = forward_chars(text, start, end, col > 1 ? col - 1 : 0, &reached);
    int past_end = col - 1 - reached; // columns beyond the line's last character
    if (past_end > DIAG_SHOWN_WIDTH) past_end = DIAG_SHOWN_WIDTH;
    size_t from, to;
    shown_window(text, start, end, at, &from, &to);
    bool cut_left = from > start, cut_right = to < end;

    if (cut_left) sb_append(out, "...");
    sb_append_n(out, text + from, to - from);
    if (cut_right) sb_append(out, "...");
    sb_append(out, "\n");
    if (cut_left) sb_append(out, "   ");
    for (size_t p = from; p < at; p++)
        if (!is_continuation(text[p])) sb_append(out, text[p] == '\t' ? "\t" : " ");
    for (int k = 0; k < past_end; k++) sb_append(out, " ");
    sb_append(out, "^");
}

bool diag_vfail(AwqcError *err, const char *path, const char *text, size_t len, int line, int col, const char *fmt,
                va_list ap) {
    if (!err) return false;
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    StrBuf quoted = {0};
    quote_line(&quoted, text, len, line, col);
    char *q = sb_finish(&quoted);
    awqc_fail(err, "%s:%d:%d: %s\n%s", path, line, col, msg, q);
    free(q);
    return false;
}

bool diag_fail(AwqcError *err, const char *path, const char *text, size_t len, int line, int col, const char *fmt,
               ...) {
    va_list ap;
    va_start(ap, fmt);
    diag_vfail(err, path, text, len, line, col, fmt, ap);
    va_end(ap);
    return false;
}
