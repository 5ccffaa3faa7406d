// tok_export.h: writes a tokenizer as a Hugging Face tokenizer folder
// (tokenizer.json, tokenizer_config.json, special_tokens_map.json), so that a
// model folder the quantizer builds from a GGUF file carries the GGUF's
// tokenizer for transformers, vLLM and awqc itself.
#ifndef AWQC_TOK_EXPORT_H
#define AWQC_TOK_EXPORT_H

#include "runtime/tokenizer/tokenizer.h"

// Writes the three files into dir, which must exist; each file is replaced
// atomically (a failure leaves no half-written file). model_max_length is the
// context length written to tokenizer_config.json; <= 0 leaves it out.
// False with err naming the path when dir is unusable or a write fails.
bool tok_write_hf(const Tokenizer *t, const char *dir, int64_t model_max_length, AwqcError *err);

#endif
