// lang.h: the model description language (models/*.model): parsing with
// flex + bison into an AST, and lowering the AST against a checkpoint into a
// graph IR whose weights are bound to the checkpoint's tensors. See
// docs/model-language.md for the language itself.
#ifndef AWQC_LANG_H
#define AWQC_LANG_H

#include "common/util.h"
#include "frontend/ckpt/checkpoint.h"
#include "ir/ir.h"

typedef struct ModelAst ModelAst;

// Parses a model description from memory (path is used in messages) or from
// a file. Syntax errors: "path:line:col: message", then the source line and a
// caret under the column.
ModelAst *lang_parse(const char *text, size_t len, const char *path, AwqcError *err);
ModelAst *lang_parse_file(const char *path, AwqcError *err);
void lang_ast_free(ModelAst *ast);
const char *lang_model_name(const ModelAst *ast);

typedef struct {
    bool load_weights; // false: weights get their types but no data (fast; for dumps and checks)
    // An AWQ folder's quantized linears become q4/q3 weights bound by their
    // codes (Weight.quant), not dequantized f32: what the compiler merges and packs.
    bool keep_quant_codes;
    // Optional override of parameters, e.g. for tests: NULL-terminated "name=value" strings.
    const char *const *param_overrides;
} LowerOptions;

// Evaluates parameters from the checkpoint's metadata, unrolls loops, resolves
// tensor names (GGUF names for a GGUF checkpoint, HF names for a HF folder),
// checks every shape, and builds the graph. Semantic errors (unknown op,
// missing metadata key or weight, shape mismatch, wrong argument count) are
// reported at the offending expression: "path:line:col: message", the source
// line and a caret. Weights are stored as f32 when load_weights.
Graph *lang_lower(const ModelAst *ast, const Checkpoint *ckpt, const LowerOptions *opts, AwqcError *err);

// Picks the model description for a checkpoint: GGUF "general.architecture" or
// HF "model_type" (e.g. "llama") -> <models_dir>/<arch>.model. Heap string, or
// NULL with err when no description exists for that architecture.
char *lang_model_path_for(const Checkpoint *ckpt, const char *models_dir, AwqcError *err);

#endif
