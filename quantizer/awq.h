// awq.h: the AWQ searches (AWQ-SPEC.md sections 3 and 5): per scale group, the
// per-channel scale that minimises the fake-quantized module's output error on
// captured full-precision activations; per linear, the per-group clipping
// threshold that minimises the error of the group's partial dot products.
#ifndef AWQC_AWQ_H
#define AWQC_AWQ_H

#include "common/util.h"
#include "ir/scale_groups.h"
#include "ir/uses.h"

// ----------------------------------------------------------------------------
// Captured full-precision activations
//
// The calibration tokens run as `windows` windows of `window_len` tokens, each
// from an empty KV cache (positions 0..window_len-1), so modules holding an
// attention are re-run window by window.

typedef struct {
    int windows, window_len;
    size_t n_nodes;
    float **value; // per node: [windows * window_len, width] (row-major) or NULL
} AwqActs;

// Runs windows consecutive windows of ids (n_ids >= windows * window_len)
// through an interpreter on g (weights bound to f32) and keeps the values of
// the nodes lo..hi (a graph output, computed for the last token only, is not
// kept: its value stays NULL). False with err when the ids are too few or a
// forward fails.
bool awq_acts_capture(const Graph *g, const int32_t *ids, size_t n_ids, int window_len, int windows, int lo, int hi,
                      int n_threads, AwqActs *out, AwqcError *err);
void awq_acts_free(AwqActs *a);
// The rows of window `window` in node's captured value, or NULL when node has
// none: the input a region re-run for that window reads.
const float *awq_acts_window(const AwqActs *a, const Graph *g, int node, int window);

// Full-precision activations streamed through the graph block by block, the
// way spec section 2 feeds each block the full-precision output of the one
// before: only the values later nodes still read are kept, so memory holds
// about one block's activations instead of the whole model's.
typedef struct {
    const Graph *g;
    AwqActs acts;     // values of the nodes evaluated so far that are still kept
    int frontier;     // the last node evaluated
    IrUses uses;      // last_reader: which values later nodes still read
    int n_threads;
} AwqStream;

// Runs the windows through a forward once, keeping the values of nodes
// 0..upto (the graph's head, up to the first block the driver searches).
bool awq_stream_start(AwqStream *s, const Graph *g, const int32_t *ids, size_t n_ids, int window_len, int windows,
                      int upto, int n_threads, AwqcError *err);
// Evaluates nodes frontier+1..last window by window on the kept values
// (weights as bound now: the caller swaps in full-precision ones) and keeps
// their values. Nothing to do when last <= frontier.
bool awq_stream_advance(AwqStream *s, int last, AwqcError *err);
// Frees the values of nodes before `from` that no node at or after `from` reads.
void awq_stream_forget(AwqStream *s, int from);
void awq_stream_free(AwqStream *s);

// Floats per token of a node's value (the product of its dims after the first).
int64_t awq_node_width(const Graph *g, int node);

// ----------------------------------------------------------------------------
// Scale search for one group (section 3)

typedef struct {
    int bits, group; // the quantizer's (quant.h)
    bool duo;        // s = s_x^r / (s_w^(1-r) + 1e-4) instead of s = s_x^r
    int n_threads;   // for the region interpreter; <= 0: one per logical CPU
} AwqScaleOptions;

#define AWQ_GRID 20

typedef struct {
    double best_loss;  // of the chosen scales
    double rtn_loss;   // with s = 1 (plain RTN); the ratio-0 loss unless duo
    double best_ratio; // r / AWQ_GRID of the chosen scales
    float *scales;     // [channels], heap; normalised so sqrt(max * min) = 1
} AwqScaleResult;

// For r = 0..AWQ_GRID-1 builds candidate scales from s_x (the group input's
// per-channel mean |x|, length sg->channels), temporarily replaces each linear
// W of the group by fakequant(W diag(s)) diag(1/s), re-runs the node range
// [sg->linears[0] .. sg->inspect] per window on the captured values of the
// nodes before it, and measures the mean squared difference to that range's
// full-precision output. Loss ties keep the smaller ratio. The graph's
// weights are back to their original arrays (bit for bit) on return, also on
// failure. Errors: a linear whose shape the quantizer refuses (the message
// names the weight), a value the range reads that acts lacks, an interpreter
// failure.
bool awq_search_scales(Graph *g, const ScaleGroup *sg, const AwqActs *acts, const double *s_x,
                       const AwqScaleOptions *opt, AwqScaleResult *out, AwqcError *err);
void awq_scale_result_free(AwqScaleResult *r);

// ----------------------------------------------------------------------------
// Clip search for one linear (section 5)

#define AWQ_CLIP_TOKENS 512 // tokens sampled from the linear's input
#define AWQ_CLIP_STEPS 10   // max_val = org_max * (1 - i / 20), i = 0..9

// w[rows, cols] is the (already scaled) weight, x[n_tokens, cols] its input
// before the scales: in_scale[cols] (NULL: none) divides each channel of the
// sampled tokens, as the folded model would, without copying all of x.
// Samples up to AWQ_CLIP_TOKENS tokens (every max(1, n_tokens / 512)-th one)
// and, for each output row and column group, picks the max_val minimising the
// mean over sampled tokens of the squared difference between the group's
// partial dot product with fakequant(clamp(w, +-max_val)) and with w; ties
// keep the larger max_val. Writes max_val[rows * (cols / group)], ready for
// quant_fake_inplace / quant_rtn_clipped. Callers skip q and k projections.
bool awq_search_clip(const float *w, int64_t rows, int64_t cols, const float *x, int64_t n_tokens,
                     const float *in_scale, int bits, int group, float *max_val, AwqcError *err);

#endif
