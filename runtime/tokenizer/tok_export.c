// tok_export.c: writes the in-memory tokenizer as a Hugging Face folder
// (tokenizer.json, tokenizer_config.json, special_tokens_map.json), or the
// first two as strings for a compiled artifact, which both the tokenizers
// library and tok_from_hf_json / tok_from_hf_text read back into the same
// encoder. SentencePiece vocabularies merged by score get their merges spelled
// out in score order, since tokenizer.json's BPE knows only ranked merges.
#include <cjson/cJSON.h>

#include "runtime/tokenizer/tok_export.h"
#include "runtime/tokenizer/tok_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char SPM_SPACE[] = "\xe2\x96\x81"; // U+2581, SentencePiece's space

// ----------------------------------------------------------------------------
// Token texts

// The text a special token matches in input, which is what tokenizer.json's
// "content" holds: its decoded bytes (a byte-level vocabulary may spell it in
// its alphabet), or the piece when those bytes hold a NUL. Heap string.
static char *special_content(const Tokenizer *t, int32_t id) {
    const char *d = t->decoded[id];
    uint32_t len = t->decoded_lens[id];
    if (memchr(d, '\0', len)) return xstrdup(t->pieces[id]);
    return xstrndup(d, len);
}

// Only the tokens the special matcher cuts out of the text are added tokens.
static bool is_added(const Tokenizer *t, int32_t id) { return t->pieces[id] && tok_is_special(t, id); }

// How tokenizer_config.json names a token (bos, eos, unk); NULL when absent.
static char *token_name(const Tokenizer *t, int32_t id) {
    if (id < 0 || !t->pieces[id]) return NULL;
    return is_added(t, id) ? special_content(t, id) : xstrdup(t->pieces[id]);
}

// The id a vocabulary entry stands under: a text listed twice keeps its first
// id, as the piece map does, so later duplicates are left out.
static bool is_vocab_entry(const Tokenizer *t, int32_t id) {
    return t->pieces[id] && strmap_get(&t->piece_ids, t->pieces[id], t->piece_lens[id]) == id;
}

// ----------------------------------------------------------------------------
// Merges in rank order

typedef struct {
    float order;    // lower merges first: the rank, or minus the merged piece's score
    int32_t merged; // ties (equal scores) go to the lower merged id...
    uint32_t split; // ...then to the shorter left side
    int32_t left, right;
} MergeRow;

static int merge_row_cmp(const void *a, const void *b) {
    const MergeRow *x = a, *y = b;
    if (x->order != y->order) return x->order < y->order ? -1 : 1;
    if (x->merged != y->merged) return x->merged < y->merged ? -1 : 1;
    return (x->split > y->split) - (x->split < y->split);
}

// The merge table as loaded (GGUF merges or tokenizer.json's), by rank.
static MergeRow *ranked_merges(const Tokenizer *t, size_t *n) {
    const PairMap *m = &t->merges;
    MergeRow *rows = xmalloc((m->count + 1) * sizeof(*rows));
    *n = 0;
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i]) continue;
        uint64_t k = m->keys[i] - 1;
        rows[(*n)++] = (MergeRow){(float)m->ranks[i], m->merged[i], 0, (int32_t)(k >> 32), (int32_t)(uint32_t)k};
    }
    return rows;
}

// Score-merged SentencePiece: every split of a mergeable piece into two
// mergeable pieces (at a character boundary, as the engine's symbols are
// characters) is a merge, ranked by the piece's score, best first.
static MergeRow *score_merges(const Tokenizer *t, size_t *n) {
    MergeRow *rows = NULL;
    size_t cap = 0;
    *n = 0;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        if (!is_vocab_entry(t, id) || !bpe_spm_mergeable(t->types[id])) continue;
        const char *s = t->pieces[id];
        uint32_t len = t->piece_lens[id];
        for (uint32_t k = 1; k < len; k++) {
            if (((uint8_t)s[k] & 0xc0) == 0x80) continue; // inside a UTF-8 sequence
            int32_t left = bpe_spm_piece_id(t, s, k), right = bpe_spm_piece_id(t, s + k, len - k);
            if (left < 0 || right < 0) continue;
            GROW(rows, cap, *n + 1);
            rows[(*n)++] = (MergeRow){-t->scores[id], id, k, left, right};
        }
    }
    if (!rows) rows = xmalloc(sizeof(*rows));
    return rows;
}

// "left right" strings, unless some side holds a space: then [left, right]
// pairs for all (tokenizers reads either form, not a mix).
static cJSON *merges_json(const Tokenizer *t) {
    size_t n;
    MergeRow *rows = t->use_scores ? score_merges(t, &n) : ranked_merges(t, &n);
    qsort(rows, n, sizeof(*rows), merge_row_cmp);
    bool pairs = false;
    for (size_t i = 0; i < n && !pairs; i++)
        pairs = strchr(t->pieces[rows[i].left], ' ') || strchr(t->pieces[rows[i].right], ' ');
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) {
        const char *l = t->pieces[rows[i].left], *r = t->pieces[rows[i].right];
        if (pairs) {
            const char *both[2] = {l, r};
            cJSON_AddItemToArray(arr, cJSON_CreateStringArray(both, 2));
        } else {
            char *s = awqc_asprintf("%s %s", l, r);
            cJSON_AddItemToArray(arr, cJSON_CreateString(s));
            free(s);
        }
    }
    free(rows);
    return arr;
}

// ----------------------------------------------------------------------------
// The model

static cJSON *vocab_json(const Tokenizer *t) {
    cJSON *vocab = cJSON_CreateObject();
    for (int32_t id = 0; id < t->n_vocab; id++)
        if (is_vocab_entry(t, id)) cJSON_AddNumberToObject(vocab, t->pieces[id], id);
    return vocab;
}

// A byte-level model has no unknown token: bytes without a token are dropped
// (SmolLM2 lacks a few), where an unk_token would make tokenizers emit it.
static cJSON *model_json(const Tokenizer *t) {
    bool spm = t->kind == TOK_SPM_BPE;
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "type", "BPE");
    cJSON_AddNullToObject(m, "dropout");
    char *unk = spm ? token_name(t, t->unk) : NULL;
    cJSON_AddItemToObject(m, "unk_token", unk ? cJSON_CreateString(unk) : cJSON_CreateNull());
    free(unk);
    cJSON_AddNullToObject(m, "continuing_subword_prefix");
    cJSON_AddNullToObject(m, "end_of_word_suffix");
    cJSON_AddBoolToObject(m, "fuse_unk", false); // awqc emits one unknown per missing byte
    cJSON_AddBoolToObject(m, "byte_fallback", spm);
    cJSON_AddBoolToObject(m, "ignore_merges", t->ignore_merges);
    cJSON_AddItemToObject(m, "vocab", vocab_json(t));
    cJSON_AddItemToObject(m, "merges", merges_json(t));
    return m;
}

// ----------------------------------------------------------------------------
// Normalizer, pre-tokenizer, post-processor, decoder

static cJSON *typed(const char *type) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", type);
    return o;
}

static cJSON *sequence(const char *list_key, cJSON *items) {
    cJSON *s = typed("Sequence");
    cJSON_AddItemToObject(s, list_key, items);
    return s;
}

// {"type": "Replace", "pattern": {"String": from}, "content": to}
static cJSON *replace_string(const char *from, const char *to) {
    cJSON *r = typed("Replace");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(r, "pattern"), "String", from);
    cJSON_AddStringToObject(r, "content", to);
    return r;
}

static cJSON *byte_level(bool add_prefix_space, bool trim_offsets, bool use_regex) {
    cJSON *b = typed("ByteLevel");
    cJSON_AddBoolToObject(b, "add_prefix_space", add_prefix_space);
    cJSON_AddBoolToObject(b, "trim_offsets", trim_offsets);
    cJSON_AddBoolToObject(b, "use_regex", use_regex);
    return b;
}

// SentencePiece's leading space goes before every stretch of plain text
// (after each special token too), which is what a Prepend normalizer does:
// tokenizers normalizes each stretch between added tokens separately. Only
// "first stretch only" needs Metaspace's prepend_scheme (pre_tokenizer_json).
static cJSON *normalizer_json(const Tokenizer *t) {
    cJSON *steps = cJSON_CreateArray();
    if (t->nfc) cJSON_AddItemToArray(steps, typed("NFC"));
    if (t->kind == TOK_SPM_BPE && !t->spm_prefix_first_only) {
        if (t->add_space_prefix) {
            cJSON *p = typed("Prepend");
            cJSON_AddStringToObject(p, "prepend", SPM_SPACE);
            cJSON_AddItemToArray(steps, p);
        }
        cJSON_AddItemToArray(steps, replace_string(" ", SPM_SPACE));
    }
    int n = cJSON_GetArraySize(steps);
    if (n > 1) return sequence("normalizers", steps);
    cJSON *only = n == 1 ? cJSON_DetachItemFromArray(steps, 0) : cJSON_CreateNull();
    cJSON_Delete(steps);
    return only;
}

static cJSON *split_isolated(const char *regex) {
    cJSON *s = typed("Split");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(s, "pattern"), "Regex", regex);
    cJSON_AddStringToObject(s, "behavior", "Isolated");
    cJSON_AddBoolToObject(s, "invert", false);
    return s;
}

// Byte-level: the regex cascade awqc runs, then the byte mapping alone.
static cJSON *pre_tokenizer_json(const Tokenizer *t) {
    if (t->kind == TOK_SPM_BPE) {
        if (!t->spm_prefix_first_only) return cJSON_CreateNull();
        cJSON *m = typed("Metaspace");
        cJSON_AddStringToObject(m, "replacement", SPM_SPACE);
        cJSON_AddStringToObject(m, "prepend_scheme", "first");
        cJSON_AddBoolToObject(m, "split", false);
        return m;
    }
    const char *patterns[TOK_MAX_PATTERNS];
    int n = pretok_patterns(t->pretok, patterns);
    cJSON *steps = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(steps, split_isolated(patterns[i]));
    cJSON_AddItemToArray(steps, byte_level(false, true, false));
    return sequence("pretokenizers", steps);
}

// {"SpecialToken": {"id": name, "type_id": type_id}} or {"Sequence": ...}
static cJSON *template_piece(const char *kind, const char *id, int type_id) {
    cJSON *piece = cJSON_CreateObject();
    cJSON *body = cJSON_AddObjectToObject(piece, kind);
    cJSON_AddStringToObject(body, "id", id);
    cJSON_AddNumberToObject(body, "type_id", type_id);
    return piece;
}

// BOS before each sequence, when the model wants one.
static cJSON *bos_template(const Tokenizer *t) {
    char *bos = token_name(t, t->bos);
    cJSON *tp = typed("TemplateProcessing");
    cJSON *single = cJSON_AddArrayToObject(tp, "single"), *pair = cJSON_AddArrayToObject(tp, "pair");
    cJSON_AddItemToArray(single, template_piece("SpecialToken", bos, 0));
    cJSON_AddItemToArray(single, template_piece("Sequence", "A", 0));
    cJSON_AddItemToArray(pair, template_piece("SpecialToken", bos, 0));
    cJSON_AddItemToArray(pair, template_piece("Sequence", "A", 0));
    cJSON_AddItemToArray(pair, template_piece("SpecialToken", bos, 1));
    cJSON_AddItemToArray(pair, template_piece("Sequence", "B", 1));
    cJSON *entry = cJSON_AddObjectToObject(cJSON_AddObjectToObject(tp, "special_tokens"), bos);
    cJSON_AddStringToObject(entry, "id", bos);
    cJSON_AddItemToObject(entry, "ids", cJSON_CreateIntArray(&(int){t->bos}, 1));
    cJSON_AddItemToObject(entry, "tokens", cJSON_CreateStringArray((const char *[]){bos}, 1));
    free(bos);
    return tp;
}

static cJSON *post_processor_json(const Tokenizer *t) {
    if (tok_add_bos(t) && t->pieces[t->bos]) return bos_template(t);
    return t->kind == TOK_BYTE_BPE ? byte_level(true, false, true) : cJSON_CreateNull();
}

static cJSON *decoder_json(const Tokenizer *t) {
    if (t->kind == TOK_BYTE_BPE) return byte_level(true, true, true);
    cJSON *steps = cJSON_CreateArray();
    cJSON_AddItemToArray(steps, replace_string(SPM_SPACE, " "));
    cJSON_AddItemToArray(steps, typed("ByteFallback"));
    cJSON_AddItemToArray(steps, typed("Fuse"));
    if (t->add_space_prefix) { // drop the space the encoder put first
        cJSON *strip = typed("Strip");
        cJSON_AddStringToObject(strip, "content", " ");
        cJSON_AddNumberToObject(strip, "start", 1);
        cJSON_AddNumberToObject(strip, "stop", 0);
        cJSON_AddItemToArray(steps, strip);
    }
    return sequence("decoders", steps);
}

// ----------------------------------------------------------------------------
// Added tokens

// One added token's flags; awqc matches added tokens on the raw text, hence
// "normalized": false.
static void add_token_flags(cJSON *o, const char *content, bool special) {
    cJSON_AddStringToObject(o, "content", content);
    cJSON_AddBoolToObject(o, "single_word", false);
    cJSON_AddBoolToObject(o, "lstrip", false);
    cJSON_AddBoolToObject(o, "rstrip", false);
    cJSON_AddBoolToObject(o, "normalized", false);
    cJSON_AddBoolToObject(o, "special", special);
}

// tokenizer.json's list: [{"id": 1, "content": "<|im_start|>", ...}, ...]
static cJSON *added_tokens_json(const Tokenizer *t) {
    cJSON *arr = cJSON_CreateArray();
    for (int32_t id = 0; id < t->n_vocab; id++) {
        if (!is_added(t, id)) continue;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "id", id);
        char *content = special_content(t, id);
        add_token_flags(o, content, t->types[id] == TT_CONTROL);
        free(content);
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

// tokenizer_config.json's map: {"1": {"content": "<|im_start|>", ...}, ...}
static cJSON *added_tokens_decoder_json(const Tokenizer *t) {
    cJSON *map = cJSON_CreateObject();
    for (int32_t id = 0; id < t->n_vocab; id++) {
        if (!is_added(t, id)) continue;
        char key[16], *content = special_content(t, id);
        snprintf(key, sizeof key, "%d", id);
        add_token_flags(cJSON_AddObjectToObject(map, key), content, t->types[id] == TT_CONTROL);
        free(content);
    }
    return map;
}

// ----------------------------------------------------------------------------
// The three files

static cJSON *tokenizer_json(const Tokenizer *t) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "version", "1.0");
    cJSON_AddNullToObject(root, "truncation");
    cJSON_AddNullToObject(root, "padding");
    cJSON_AddItemToObject(root, "added_tokens", added_tokens_json(t));
    cJSON_AddItemToObject(root, "normalizer", normalizer_json(t));
    cJSON_AddItemToObject(root, "pre_tokenizer", pre_tokenizer_json(t));
    cJSON_AddItemToObject(root, "post_processor", post_processor_json(t));
    cJSON_AddItemToObject(root, "decoder", decoder_json(t));
    cJSON_AddItemToObject(root, "model", model_json(t));
    return root;
}

// key: the token's name, or null when the model has none.
static void add_token_name(cJSON *o, const char *key, const Tokenizer *t, int32_t id) {
    char *name = token_name(t, id);
    cJSON_AddItemToObject(o, key, name ? cJSON_CreateString(name) : cJSON_CreateNull());
    free(name);
}

// PreTrainedTokenizerFast: the class that takes tokenizer.json as it is
// (transformers 4 and 5), rather than rebuilding a model family's pipeline.
static cJSON *tokenizer_config_json(const Tokenizer *t, int64_t model_max_length) {
    cJSON *c = cJSON_CreateObject();
    cJSON_AddBoolToObject(c, "add_bos_token", tok_add_bos(t));
    cJSON_AddBoolToObject(c, "add_eos_token", false);
    cJSON_AddItemToObject(c, "added_tokens_decoder", added_tokens_decoder_json(t));
    add_token_name(c, "bos_token", t, t->bos);
    add_token_name(c, "eos_token", t, t->eos);
    if (t->unk >= 0) add_token_name(c, "unk_token", t, t->unk);
    if (t->chat_template) cJSON_AddStringToObject(c, "chat_template", t->chat_template);
    cJSON_AddBoolToObject(c, "clean_up_tokenization_spaces", false);
    if (model_max_length > 0) cJSON_AddNumberToObject(c, "model_max_length", (double)model_max_length);
    cJSON_AddStringToObject(c, "tokenizer_class", "PreTrainedTokenizerFast");
    return c;
}

static cJSON *special_tokens_map_json(const Tokenizer *t) {
    cJSON *m = cJSON_CreateObject();
    if (t->bos >= 0) add_token_name(m, "bos_token", t, t->bos);
    if (t->eos >= 0) add_token_name(m, "eos_token", t, t->eos);
    if (t->unk >= 0) add_token_name(m, "unk_token", t, t->unk);
    return m;
}

// ----------------------------------------------------------------------------
// Text

// The text of root (freed here) as a file holds it: with a final newline.
// Heap string (free()); NULL when cJSON runs out of memory.
static char *json_text(cJSON *root, bool pretty) {
    char *printed = pretty ? cJSON_Print(root) : cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!printed) return NULL;
    char *text = awqc_asprintf("%s\n", printed);
    cJSON_free(printed);
    return text;
}

bool tok_to_hf_text(const Tokenizer *t, int64_t model_max_length, char **tokenizer_json_text,
                    char **tokenizer_config_json_text, AwqcError *err) {
    // tokenizer.json is large; unindented it is about half the size.
    *tokenizer_json_text = json_text(tokenizer_json(t), false);
    *tokenizer_config_json_text = json_text(tokenizer_config_json(t, model_max_length), true);
    if (*tokenizer_json_text && *tokenizer_config_json_text) return true;
    free(*tokenizer_json_text);
    free(*tokenizer_config_json_text);
    *tokenizer_json_text = *tokenizer_config_json_text = NULL;
    return awqc_fail(err, "out of memory while printing the tokenizer's JSON");
}

// ----------------------------------------------------------------------------
// Writing

// Writes text into dir/name, atomically.
static bool write_text(const char *dir, const char *name, const char *text, AwqcError *err) {
    char *path = awqc_asprintf("%s/%s", dir, name);
    bool ok = awqc_write_file_atomic(path, text, strlen(text), err);
    free(path);
    return ok;
}

static bool check_dir(const char *dir, AwqcError *err) {
    struct stat st;
    if (stat(dir, &st) != 0)
        return awqc_fail(err, "%s: cannot write the tokenizer files there: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return awqc_fail(err, "%s: cannot write the tokenizer files there: not a directory", dir);
    return true;
}

bool tok_write_hf(const Tokenizer *t, const char *dir, int64_t model_max_length, AwqcError *err) {
    char *json, *config;
    if (!check_dir(dir, err) || !tok_to_hf_text(t, model_max_length, &json, &config, err)) return false;
    char *map = json_text(special_tokens_map_json(t), true);
    bool ok = write_text(dir, "tokenizer.json", json, err) && write_text(dir, "tokenizer_config.json", config, err);
    if (ok && !map) ok = awqc_fail(err, "%s: out of memory while printing special_tokens_map.json", dir);
    ok = ok && write_text(dir, "special_tokens_map.json", map, err);
    free(json);
    free(config);
    free(map);
    return ok;
}
