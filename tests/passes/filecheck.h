// filecheck.h: a small FileCheck-style checker for golden tests. A test file
// carries its expectations as directives in '#' comment lines; filecheck()
// matches them, in order, against the text a tool printed.
#ifndef AWQC_FILECHECK_H
#define AWQC_FILECHECK_H

#include <stdbool.h>

#include "common/util.h"

// Checks `input` (the text a tool produced) against the check directives found in
// `checks` (the text of a test file; directives live in '#' comment lines).
// checks_name names that file in messages. Returns true when every directive matches;
// otherwise false with err holding "checks_name:LINE: error: CHECK-NEXT: expected string not found ..."
// followed by the directive's line and a short excerpt of the input where the search started
// (the next 2-3 input lines), so a failing golden test is easy to read.
//
// Directives (a line whose first non-blank char is '#', then optional blanks):
//   CHECK: text        text occurs on some line at or after the current position;
//                      the next search starts on the line after the match
//   CHECK-NEXT: text   text occurs on the line right after the previous match's line
//   CHECK-SAME: text   text occurs on the previous match's line, after that match
//   CHECK-EMPTY:       the line after the previous match's line is empty
//   CHECK-NOT: text    text does not occur between the previous positive match and
//                      the next one (or the end of input / the next CHECK-LABEL)
//   CHECK-LABEL: text  like CHECK, but labels are found first and split the input:
//                      the directives between two labels match only between them
//   CHECK-COUNT-N: t   like N CHECK directives with the same text (N >= 1)
// In the text, a run of blanks matches any run of one or more blanks, {{re}} is a
// PCRE2 regex, [[NAME:re]] captures what re matched into NAME and a later [[NAME]]
// matches that exact text. A '[[' not followed by NAME]] or NAME: is literal.
// Rejected as errors in the check file: an unknown CHECK-xxx: directive, a known
// one missing its ':', an empty pattern, CHECK-NEXT/SAME/EMPTY with no earlier
// positive directive, variables in CHECK-LABEL, definitions in CHECK-NOT, an
// undefined variable, a bad regex, and a file without any directive.
bool filecheck(const char *checks, const char *checks_name, const char *input, AwqcError *err);

#endif
