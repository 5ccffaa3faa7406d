// calib.h: calibration statistics for AWQ (AWQ-SPEC.md section 2): runs the
// FP32 reference interpreter over windows of calibration text and records,
// for every scale group's input, the mean absolute value of each channel
// (s_x[c] = mean over calibration tokens of |x[c]|).
#ifndef AWQC_CALIB_H
#define AWQC_CALIB_H

#include "common/util.h"
#include "ir/scale_groups.h"
#include "runtime/model.h"

typedef struct {
    size_t n_groups;
    ScaleGroup *groups; // from ir_find_scale_groups, in its order
    // Per group: mean |x[c]| over all calibration tokens of the value the
    // group's linears read (a norm's output; for linear -> linear the mul or
    // attention output feeding down/o). Length groups[i].channels.
    double **abs_mean;
    size_t tokens; // calibration tokens seen
} CalibStats;

// The node whose value a group's linears read (operand 0 of its linears).
int calib_group_input(const Graph *g, const ScaleGroup *sg);

// Tokenizes text (no BOS, special-token text taken literally), cuts it into
// consecutive windows of seqlen tokens and runs up to n_windows of them
// (n_windows <= 0: every complete window; fewer complete windows than asked:
// those there are), each from an empty KV cache, through an interpreter with
// n_threads threads, accumulating abs_mean for every scale group's input.
// With progress, one line per window on stderr. False with err when the text
// holds less than one window ("calibration text has N tokens, fewer than one
// window of L"), the graph has no scale group, or the interpreter fails.
bool calib_collect(const Model *m, const char *text, size_t len, int seqlen, int n_windows, int n_threads,
                   bool progress, CalibStats *out, AwqcError *err);

// The same on token ids already at hand, for a bound graph g (no progress).
bool calib_collect_ids(const Graph *g, const int32_t *ids, size_t n_ids, int seqlen, int n_windows, int n_threads,
                       CalibStats *out, AwqcError *err);

void calib_stats_free(CalibStats *s);

#endif
