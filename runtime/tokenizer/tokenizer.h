// tokenizer.h: text <-> token ids for the two BPE families LLaMA-style models
// use: byte-level BPE (GPT-2, SmolLM2, Llama 3, Qwen2) with a regex
// pre-tokenizer, and SentencePiece-style BPE (Llama 1/2, Mistral, TinyLlama)
// with score-ordered merges and byte fallback. Built from GGUF metadata
// (tokenizer.ggml.*) or from a Hugging Face tokenizer.json. Also renders the
// model's chat template (ChatML for the default model).
#ifndef AWQC_TOKENIZER_H
#define AWQC_TOKENIZER_H

#include "common/util.h"
#include "frontend/ckpt/checkpoint.h"

typedef struct Tokenizer Tokenizer;

typedef enum {
    TOK_BYTE_BPE, // GGUF tokenizer.ggml.model == "gpt2"; tokenizer.json model BPE with ByteLevel
    TOK_SPM_BPE,  // GGUF tokenizer.ggml.model == "llama"; tokenizer.json BPE with byte_fallback + Metaspace
} TokenizerKind;

// From a checkpoint: GGUF metadata, or tokenizer.json (+ tokenizer_config.json)
// in the HF folder. NULL with err when absent or malformed.
Tokenizer *tok_from_checkpoint(const Checkpoint *c, AwqcError *err);
// From a tokenizer.json file directly (tokenizer_config.json and
// chat_template.jinja beside it are read when present).
Tokenizer *tok_from_hf_json(const char *tokenizer_json_path, AwqcError *err);
// From the same documents held in memory, e.g. sections of a compiled
// artifact (tok_to_hf_text in tok_export.h writes them). tokenizer_json needs
// no final NUL; tokenizer_config_json (NUL-terminated, may be NULL) carries
// bos/eos, add_bos_token and the chat template. Errors start with
// origin_for_errors (e.g. "model.awqx: section tokenizer") and give the byte
// offset where malformed JSON stops parsing. NULL with err on bad input.
Tokenizer *tok_from_hf_text(const char *tokenizer_json, size_t json_len, const char *tokenizer_config_json,
                            const char *origin_for_errors, AwqcError *err);
void tok_free(Tokenizer *t);

TokenizerKind tok_kind(const Tokenizer *t);
int32_t tok_vocab_size(const Tokenizer *t);
int32_t tok_bos(const Tokenizer *t); // -1 if none
int32_t tok_eos(const Tokenizer *t); // -1 if none
bool tok_add_bos(const Tokenizer *t); // whether encoding a prompt should start with BOS
// End of generation: EOS, or a chat end marker such as <|im_end|>, <|eot_id|>.
bool tok_is_eog(const Tokenizer *t, int32_t id);
// The model's chat template (Jinja text as stored), NULL when it has none.
const char *tok_chat_template(const Tokenizer *t);
// Id of a token given by its exact text (e.g. "<|im_end|>"), -1 if absent.
int32_t tok_find(const Tokenizer *t, const char *piece);

// Encodes len bytes of text. With parse_special, occurrences of special
// (control) tokens' text such as "<|im_start|>" become those tokens; without,
// they are tokenized as plain text. add_bos prepends BOS when the model has
// one. Returns the number of ids; *ids is heap-allocated (free()).
size_t tok_encode(const Tokenizer *t, const char *text, size_t len, bool add_bos, bool parse_special,
                  int32_t **ids);

// A whole text file (an evaluation or calibration corpus) as plain text: no
// BOS, special tokens' text not parsed. NULL with err when the file cannot be
// read; *bytes (may be NULL) gets its size.
int32_t *tok_encode_file(const Tokenizer *t, const char *path, size_t *n_ids, size_t *bytes, AwqcError *err);

// The bytes a token stands for (byte-level decoded; SentencePiece's U+2581
// turned back into a space; <0xAB> byte tokens into that byte). Special tokens
// give their text. Returns the byte count written (at most cap; truncated
// otherwise). Streaming output may split UTF-8 sequences across tokens.
size_t tok_decode(const Tokenizer *t, int32_t id, char *buf, size_t cap);

// Chat messages and the model's template. Two template families are
// recognised (the Jinja text itself is not interpreted): ChatML
// (<|im_start|>role\n...<|im_end|>\n, SmolLM2 and Qwen2; the template's own
// default system prompt is added when the first message is not a system one)
// and Llama 2's [INST] ... [/INST] (the rendering starts with the BOS text, so
// encode it without add_bos). Other templates are an error. Returns a heap string.
typedef struct {
    const char *role;    // "system", "user", "assistant"
    const char *content;
} ChatMessage;
char *tok_apply_chat_template(const Tokenizer *t, const ChatMessage *msgs, size_t n, bool add_generation_prompt,
                              AwqcError *err);

#endif
