// scale_import.h: applies the AWQ scales that `awqc quantize --dump-scales`
// wrote (a JSON array of {linears, scales, ...}) to a floating-point graph, in
// the unfolded form the pass pipeline starts from: each group's linears get
// their input columns multiplied by s and read `awq_scale x, s` (x / s) in
// place of x. The function is unchanged; fold-awq-scales then moves the
// division into the previous op, as AWQ-SPEC.md section 4 describes.
#ifndef AWQC_SCALE_IMPORT_H
#define AWQC_SCALE_IMPORT_H

#include "common/util.h"
#include "ir/ir.h"

// False with err "FILE: entry N (linears a, b): ..." on a malformed file, a
// linear the graph does not have, linears that do not share one input, a
// scale count that is not their input width, a scale that is not finite and
// positive, or a weight not bound to f32 data. Every entry is checked before
// the graph is touched, so on failure it is unchanged. *applied (may be NULL)
// gets the number of groups.
bool awq_import_scales(Graph *g, const char *path, size_t *applied, AwqcError *err);

#endif
