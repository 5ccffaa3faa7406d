// awq_driver.h: quantizes a whole bound FP32 graph in place as fake
// quantization (every quantized weight replaced by its dequantized values), by
// plain RTN or by AWQ (AWQ-SPEC.md sections 1-5: per block, scale search on
// full-precision activations, folding, clip search, then rounding).
#ifndef AWQC_AWQ_DRIVER_H
#define AWQC_AWQ_DRIVER_H

#include <stdbool.h>

#include "common/util.h"
#include "ir/ir.h"
#include "quantizer/quant.h"

typedef enum { QM_RTN, QM_AWQ } QuantMethod;

// AWQ progress, after each block: done of total blocks, the block's name,
// its seconds, and the summed block-output losses of its scale groups with
// plain RTN scales and with the chosen ones.
typedef struct {
    int done, total;
    const char *block;
    double seconds, rtn_loss, best_loss;
} QuantProgress;
typedef void (*QuantProgressFn)(const QuantProgress *p, void *user);

typedef struct {
    QuantMethod method;
    int bits, group; // the quantizer's (quant.h)
    bool duo;        // AWQ: duo scaling (awq.h)
    bool clip;       // AWQ: clip search on every linear except those feeding a rope
    int threads;     // <= 0: one per logical CPU
    bool progress;   // AWQ: one line per block on stderr (when on_block is NULL)
    QuantProgressFn on_block; // AWQ: called after each block instead
    void *progress_user;
} QuantOptions;

typedef struct {
    size_t quantized, skipped;
    char **skipped_names;   // [skipped]: linear weights left FP (group does not divide, tied, lm head)
    size_t n_groups_scaled; // AWQ scale groups whose scales were folded
    double seconds;
    // Per graph weight ([n_weights]): the codes, scales and zero points the
    // rounded weight was dequantized from (q NULL for weights left FP); the
    // exporters write these, so files hold exactly what was evaluated.
    QuantMatrix *codes;
    size_t n_weights;
    // AWQ: every scale group's search result, for inspection (--dump-scales).
    struct QuantScaleRecord *scales;
    size_t n_scales;
} QuantReport;

typedef struct QuantScaleRecord {
    char *prev;      // name of the weight of the op the scales fold into (norm or linear)
    char **linears;  // weight names of the scaled linears
    int n_linears;
    int64_t channels;
    double ratio, rtn_loss, best_loss;
    float *scales;   // [channels]
} QuantScaleRecord;

// Which linear weights are quantized: each weight read as the matrix of an
// OP_LINEAR that no OP_EMBEDDING also reads (a tied head), that is not the
// matrix of a graph output's linear (the lm head), and whose in_features the
// group divides; the other linear matrices are reported as skipped.
//
// ids: calibration tokens, run as `windows` windows of `window_len` tokens
// (ignored for RTN). AWQ processes the blocks in node order; each block's
// activations are captured from the full-precision model (the weights the
// driver has already rewritten are swapped back to pristine copies for the
// capture), as section 2 of the spec asks.
//
// False with err on bad options, too few ids, or a failure of a search or of
// the interpreter; the graph may then be partly quantized. rep is filled on
// success (free with quant_report_free) and left empty on failure.
bool awq_quantize_graph(Graph *g, const int32_t *ids, size_t n_ids, int window_len, int windows,
                        const QuantOptions *o, QuantReport *rep, AwqcError *err);

void quant_report_free(QuantReport *r);

#endif
