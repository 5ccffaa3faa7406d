// model.h: everything needed to run a model, loaded in one call: from a
// checkpoint, the checkpoint itself, its model description lowered to a bound
// graph and the tokenizer; from a compiled artifact (.awqx), its plan with the
// weights mapped in place and its tokenizer.
#ifndef AWQC_MODEL_H
#define AWQC_MODEL_H

#include "frontend/ckpt/checkpoint.h"
#include "ir/ir.h"
#include "runtime/tokenizer/tokenizer.h"

typedef struct {
    const char *models_dir;  // where <arch>.model files live
    const char *description; // explicit .model file, or NULL to pick by architecture
    bool load_weights;       // false: shapes only
    bool quiet;              // no progress on stderr
    bool keep_quant_codes;   // AWQ folders: q4/q3 weights bound by codes (LowerOptions)
} ModelLoadOptions;

typedef struct Artifact Artifact;

typedef struct {
    char *path;             // as given to model_load
    Checkpoint *ckpt;       // NULL for an artifact
    Artifact *artifact;     // NULL for a checkpoint
    Graph *graph;
    Tokenizer *tok;
    char *description_path; // NULL for an artifact
} Model;

Model *model_load(const char *path, const ModelLoadOptions *o, AwqcError *err);
void model_free(Model *m);

// The training context length recorded by the checkpoint, or 0 if unknown.
int64_t model_train_ctx(const Model *m);

#endif
