// diag.h: error messages that quote the source they point into, shared by the
// model language and the IR text parser: "path:line:col: message", then the
// source line (a window around the column when the line is long), then a caret
// under the column.
#ifndef AWQC_DIAG_H
#define AWQC_DIAG_H

#include "common/util.h"

// A longer line is shown as a window of this many characters around the
// column (at most half of them before it); a cut side is marked with "...".
#define DIAG_SHOWN_WIDTH 160

// 1-based line and column of a byte offset in text (offset <= len). Columns
// count UTF-8 characters, so a caret can line up under multi-byte text.
void diag_line_col(const char *text, size_t len, size_t offset, int *line, int *col);

// Fills err with "path:line:col: message\n<line>\n<caret>" and returns false.
// line and col are 1-based (col in UTF-8 characters); a column past the end
// of its line puts the caret after the text. Tabs in the shown line stay tabs
// in the caret line so the caret lines up under them.
bool diag_fail(AwqcError *err, const char *path, const char *text, size_t len, int line, int col, const char *fmt,
               ...) __attribute__((format(printf, 7, 8)));
bool diag_vfail(AwqcError *err, const char *path, const char *text, size_t len, int line, int col, const char *fmt,
                va_list ap);

#endif
