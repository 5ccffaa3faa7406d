// manager.h: runs a pipeline of passes over a graph with the compile
// command's inspection options: print the IR before/after chosen passes
// (optionally only the blocks matching a filter), print only passes that
// changed something as a diff, dump numbered files, stop early, verify after
// each pass, and time them.
#ifndef AWQC_PASSES_MANAGER_H
#define AWQC_PASSES_MANAGER_H

#include "passes/pass.h"

typedef struct {
    const char *pipeline;     // comma-separated pass names; NULL: the default pipeline (pass_all order)
    const char *print_before; // comma-separated pass names, or NULL
    const char *print_after;  // comma-separated pass names, or NULL
    bool print_after_all;
    bool print_changed;       // after each pass that changed the IR: a unified diff against before it
    const char *dump_dir;     // NN-pass.ir files (00-input.ir first), or NULL
    const char *stop_after;   // a pass name, or NULL
    const char *filter;       // block name or prefix ("layer.3") for printed IR; NULL: everything
    bool verify_each;         // ir_verify after every pass (always done at the end)
    bool time_passes;         // a table of seconds per pass on ctx->log (or stderr)
    FILE *out;                // where printed IR goes (stdout when NULL)
    // Called after each pass has run (e.g. to compare the interpreter's logits
    // with the input graph's); false stops the pipeline with err. May be NULL.
    bool (*after_pass)(const Graph *g, const Pass *p, void *user, AwqcError *err);
    void *user;
} PassOptions;

// Runs the pipeline on g. False with err when a pass name is unknown (the
// message lists the passes), a pass fails, or verification fails ("after PASS: ...").
bool pass_run_pipeline(Graph *g, const PassContext *ctx, const PassOptions *o, AwqcError *err);

// Prints g, or with a filter only the matching blocks as a graph of their own
// (values from outside become param nodes), which parses back.
void pass_print_ir(const Graph *g, const char *filter, FILE *out);

#endif
