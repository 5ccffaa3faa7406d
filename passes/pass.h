// pass.h: the pass pipeline's module map. A Pass rewrites a Graph in place
// and says whether it changed anything; the pass manager (manager.c) runs a
// named pipeline with the inspection options of the compile command
// (--print-after, --dump-ir, --stop-after, --time-passes, --verify-each...).
// One pass per file: fold_awq_scales.c, merge_linears.c (merge-qkv and
// merge-gate-up), fuse.c, dce.c, plan_memory.c, quantize_head.c,
// pack_weights.c, quantize_acts.c.
#ifndef AWQC_PASSES_PASS_H
#define AWQC_PASSES_PASS_H

#include <stdio.h>

#include "common/util.h"
#include "ir/ir.h"

// What every pass may read: the target and the planning parameters.
typedef struct {
    const char *target; // "host", "x86-64", "x86-64-vnni", "aarch64", "cuda:sm_80", ... (pack-weights)
    int64_t ctx;        // context length the memory plan is sized for (plan-memory)
    FILE *log;          // one-line remarks of each pass ("merge-qkv: 30 merged"); NULL: silent
} PassContext;

// Whether target is one pack-weights knows (err lists the known ones), and
// its name with "host" (or NULL) resolved to the build machine's ("x86-64").
bool pass_check_target(const char *target, AwqcError *err);
const char *pass_target_name(const char *target);
// Whether a known target runs its plan on a GPU (cuda:sm_XX, orin), whose
// weights are packed in awq-gemm.
bool pass_target_is_gpu(const char *target);

typedef struct {
    const char *name; // as on the command line: "merge-qkv"
    const char *what; // one line for --help
    bool (*run)(Graph *g, const PassContext *ctx, bool *changed, AwqcError *err);
} Pass;

// The passes in the default pipeline's order, NULL-terminated.
const Pass *const *pass_all(void);
const Pass *pass_find(const char *name); // NULL if unknown

// The graph's activation kind, its "quantize_acts" metadata (awqc compile
// --act): "q8" (8-bit activations where the target's layout reads them; the
// default), "f32" (W4A16 in f32) or "f16" (GPU targets: the q4 GEMV computes
// in f16x2). False with err for another value.
bool pass_acts_kind(const Graph *g, const char **kind, AwqcError *err);

// The passes themselves (each in its own file).
bool pass_fold_awq_scales(Graph *g, const PassContext *ctx, bool *changed, AwqcError *err);
bool pass_merge_qkv(Graph *g, const PassContext *ctx, bool *changed, AwqcError *err);
bool pass_merge_gate_up(Graph *g, const PassContext *ctx, bool *changed, AwqcError *err);
bool pass_fuse(Graph *g, const PassContext *ctx, bool *changed, AwqcError *err);
bool pass_dce(Graph *g, const PassContext *ctx, bool *changed, AwqcError *err);
bool pass_plan_memory(Graph *g, const PassContext *ctx, bool *changed, AwqcError *err);
bool pass_quantize_head(Graph *g, const PassContext *ctx, bool *changed, AwqcError *err);
bool pass_pack_weights(Graph *g, const PassContext *ctx, bool *changed, AwqcError *err);
bool pass_quantize_acts(Graph *g, const PassContext *ctx, bool *changed, AwqcError *err);

#endif
