// tok_export.h: writes a tokenizer as a Hugging Face tokenizer folder
// (tokenizer.json, tokenizer_config.json, special_tokens_map.json), so that a
// model folder the quantizer builds from a GGUF file carries the GGUF's
// tokenizer for transformers, vLLM and awqc itself; or as those documents'
// text, for a compiled artifact to embed.
#ifndef AWQC_TOK_EXPORT_H
#define AWQC_TOK_EXPORT_H

#include "runtime/tokenizer/tokenizer.h"

// Writes the three files into dir, which must exist; each file is replaced
// atomically (a failure leaves no half-written file). model_max_length is the
// context length written to tokenizer_config.json; <= 0 leaves it out.
// False with err naming the path when dir is unusable or a write fails.
bool tok_write_hf(const Tokenizer *t, const char *dir, int64_t model_max_length, AwqcError *err);

// The first two of those files as heap strings (free()), byte for byte what
// tok_write_hf writes: tokenizer.json unindented, tokenizer_config.json
// (which holds the chat template) indented. For carrying a tokenizer inside
// a single-file artifact; tok_from_hf_text reads them back. False with err
// (both strings NULL) only when printing runs out of memory.
bool tok_to_hf_text(const Tokenizer *t, int64_t model_max_length, char **tokenizer_json,
                    char **tokenizer_config_json, AwqcError *err);

#endif
