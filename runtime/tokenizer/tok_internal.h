// tok_internal.h: the Tokenizer structure and the private interfaces between
// the tokenizer's files. Grouped by file, so this header is the module map:
// hash tables, the BPE merge engine, the regex pre-tokenizer, the loaders
// (GGUF, tokenizer.json) and the chat templates.
#ifndef AWQC_TOK_INTERNAL_H
#define AWQC_TOK_INTERNAL_H

#include "common/strmap.h"
#include "runtime/tokenizer/tokenizer.h"

// Token types, numbered as GGUF's tokenizer.ggml.token_type numbers them.
enum {
    TT_UNDEFINED = 0,
    TT_NORMAL = 1,
    TT_UNKNOWN = 2,
    TT_CONTROL = 3,  // <s>, <|im_start|>: matched in text only with parse_special
    TT_USER = 4,     // user-defined added token: always matched in text
    TT_UNUSED = 5,
    TT_BYTE = 6,     // <0xAB> byte fallback token
};

// ----------------------------------------------------------------------------
// tok_hash.c: the merge table (token text -> id is a StrMap, common/strmap.h)

// (left id, right id) -> (rank, merged id): the byte-level merge table.
typedef struct {
    uint64_t *keys; // (left << 32 | right) + 1; 0 marks an empty slot
    int32_t *ranks;
    int32_t *merged;
    size_t cap;
    size_t count;
} PairMap;

void pairmap_init(PairMap *m, size_t expected);
void pairmap_free(PairMap *m);
void pairmap_put(PairMap *m, int32_t left, int32_t right, int32_t rank, int32_t merged);
bool pairmap_get(const PairMap *m, int32_t left, int32_t right, int32_t *rank, int32_t *merged);

// ----------------------------------------------------------------------------
// tok_pretok.c: regex pre-tokenizers

#define TOK_MAX_PATTERNS 4

typedef struct PreTokenizer PreTokenizer;

// Builds a pre-tokenizer applying the patterns one after another (each splits
// the pieces of the previous one; text between matches stays a piece).
PreTokenizer *pretok_new(const char *const *patterns, int n, AwqcError *err);
// The patterns a GGUF tokenizer.ggml.pre name stands for; unknown names warn
// on stderr and get the GPT-2 pattern. Returns the count.
int pretok_patterns_for(const char *pre_name, const char **patterns);
void pretok_free(PreTokenizer *p);
// The patterns p applies, in order (borrowed; at most TOK_MAX_PATTERNS). Returns the count.
int pretok_patterns(const PreTokenizer *p, const char **patterns);
// Calls fn for every piece of text in order.
typedef void (*PieceFn)(void *ctx, const char *piece, size_t len);
void pretok_split(const PreTokenizer *p, const char *text, size_t len, PieceFn fn, void *ctx);

extern const char TOK_REGEX_GPT2[];  // GPT-2's split (tokenizers' ByteLevel regex)
extern const char TOK_REGEX_DIGIT[]; // every digit on its own

// ----------------------------------------------------------------------------
// The tokenizer

// A piece of text matched whole before pre-tokenization (special/added token).
typedef struct {
    const char *text; // the bytes to match (the token's decoded form)
    uint32_t len;
    int32_t id;
    bool control; // matched only when parse_special
} SpecialTok;

struct Tokenizer {
    TokenizerKind kind;
    int32_t n_vocab;
    char **pieces;       // token text as the vocabulary spells it (owned)
    uint32_t *piece_lens;
    uint8_t *types;      // TT_*
    float *scores;       // SentencePiece scores; NULL when merges give ranks
    StrMap piece_ids;    // piece -> id

    PairMap merges;      // rank-ordered merges (byte-level, or tokenizer.json SPM)
    bool use_scores;     // SPM from GGUF: merge by score of the concatenation
    bool ignore_merges;  // a pre-token that is a whole token is taken as is
    bool nfc;            // tokenizer.json asks for NFC normalization (Qwen2)
    PreTokenizer *pretok; // byte-level only
    int32_t byte_ids[256]; // byte-level: token of each byte; SPM: <0xAB> tokens; -1 if none

    char **decoded;      // bytes each token stands for (owned)
    uint32_t *decoded_lens;

    SpecialTok *specials; // longest first
    size_t n_specials;
    uint8_t special_first[256]; // whether some special starts with this byte

    int32_t bos, eos, unk;
    bool add_bos;
    bool add_space_prefix; // SPM: a "▁" before the text
    bool spm_prefix_first_only; // ...only before the text's start, not after each special token
    bool *eog;             // per token

    char *chat_template;   // NULL when the model has none
};

// ----------------------------------------------------------------------------
// tok_vocab.c: building the shared tables once the loader filled the vocab

Tokenizer *tok_new_empty(void); // no vocabulary yet; bos/eos/unk -1
// Allocates n tokens' arrays (pieces NULL, types TT_NORMAL).
void tok_alloc_vocab(Tokenizer *t, int32_t n);
void tok_set_piece(Tokenizer *t, int32_t id, const char *text, size_t len);
// Adds the merge "left right"; false when a side or the result is no token.
bool tok_add_merge(Tokenizer *t, const char *left, size_t left_len, const char *right, size_t right_len,
                   int32_t rank);
// After pieces, types, bos/eos are set: piece map, byte tokens, decoded
// forms, specials and end-of-generation flags. False on an unusable vocab.
bool tok_finish(Tokenizer *t, const char *where, AwqcError *err);
// Piece map only (loaders need it before adding merges).
void tok_index_pieces(Tokenizer *t);
// Whether token i is cut out of input text as a whole (control and user
// tokens with a non-empty text): the special matcher's rule.
bool tok_is_special(const Tokenizer *t, int32_t i);

// tok_bytelevel.c: GPT-2's byte <-> printable code point mapping
uint32_t bytelevel_char_of(uint8_t b);
int bytelevel_byte_of(uint32_t cp); // -1 when cp is not in the alphabet
// Decodes a byte-level spelling into raw bytes; false if some char is not in
// the alphabet (the token then stands for its own text).
bool bytelevel_decode(const char *s, size_t len, char *out, size_t *out_len);

// ----------------------------------------------------------------------------
// tok_bpe.c: the merge engine

typedef struct {
    int32_t *ids;
    size_t n, cap;
} IdBuf;

void idbuf_push(IdBuf *b, int32_t id);

typedef struct BpeWork BpeWork;
BpeWork *bpe_work_new(void);
void bpe_work_free(BpeWork *w);
// One byte-level pre-token.
void bpe_encode_bytes(const Tokenizer *t, BpeWork *w, const char *word, size_t len, IdBuf *out);
// Whether the SentencePiece engine builds pieces of this type by merging.
bool bpe_spm_mergeable(uint8_t type);
// The id of the piece s[0..len) when the engine may build it by merging, else -1.
int32_t bpe_spm_piece_id(const Tokenizer *t, const char *s, uint32_t len);
// One SentencePiece text segment; prefix: put "▁" before it.
void bpe_encode_spm(const Tokenizer *t, BpeWork *w, const char *text, size_t len, bool prefix, IdBuf *out);

// ----------------------------------------------------------------------------
// tok_gguf.c: the GGUF loader (tok_hfjson.c implements tok_from_hf_json)

Tokenizer *tok_from_gguf(const Checkpoint *c, AwqcError *err);

#endif
