// tok_hfjson.c: builds a tokenizer from a Hugging Face tokenizer.json (BPE
// model: vocab, merges, added_tokens) and its tokenizer_config.json (bos/eos,
// add_bos_token, chat_template), read from a folder or given as text (a
// compiled artifact's sections). Byte-level files are told apart from
// SentencePiece-style ones by their pre-tokenizer, decoder and normalizer.
#include <cjson/cJSON.h>

#include "runtime/tokenizer/tok_internal.h"
#include "common/json.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// ----------------------------------------------------------------------------
// JSON helpers

static const char *json_str(const cJSON *obj, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool json_bool(const cJSON *obj, const char *key, bool fallback) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : fallback;
}

static bool is_type(const cJSON *node, const char *type) {
    const char *t = json_str(node, "type");
    return t && strcmp(t, type) == 0;
}

// The component of the given type in a pre-tokenizer/normalizer/decoder/
// post-processor: the node itself or one inside a Sequence. NULL if none.
static const cJSON *find_component(const cJSON *node, const char *type) {
    if (!cJSON_IsObject(node)) return NULL;
    if (is_type(node, type)) return node;
    if (!is_type(node, "Sequence")) return NULL;
    static const char *const list_keys[] = {"pretokenizers", "normalizers", "decoders", "processors"};
    for (size_t k = 0; k < 4; k++) {
        const cJSON *item, *list = cJSON_GetObjectItemCaseSensitive(node, list_keys[k]);
        cJSON_ArrayForEach(item, list) {
            const cJSON *found = find_component(item, type);
            if (found) return found;
        }
    }
    return NULL;
}

// A special token in tokenizer_config.json: "text" or {"content": "text"}.
static const char *token_text(const cJSON *v) {
    if (cJSON_IsString(v)) return v->valuestring;
    return cJSON_IsObject(v) ? json_str(v, "content") : NULL;
}

// ----------------------------------------------------------------------------
// Which kind of BPE

// A Replace normalizer turning " " into "▁" (alone or in a Sequence).
static bool replaces_space_by_metaspace(const cJSON *normalizer) {
    const cJSON *r = find_component(normalizer, "Replace");
    const char *from = json_str(cJSON_GetObjectItemCaseSensitive(r, "pattern"), "String");
    const char *content = r ? json_str(r, "content") : NULL;
    return from && content && strcmp(from, " ") == 0 && strcmp(content, "\xe2\x96\x81") == 0;
}

static bool detect_kind(Tokenizer *t, const cJSON *root, const cJSON *model, const char *path, AwqcError *err) {
    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer");
    const cJSON *dec = cJSON_GetObjectItemCaseSensitive(root, "decoder");
    const cJSON *norm = cJSON_GetObjectItemCaseSensitive(root, "normalizer");
    if (find_component(pre, "ByteLevel") || find_component(dec, "ByteLevel")) {
        t->kind = TOK_BYTE_BPE;
        return true;
    }
    if (json_bool(model, "byte_fallback", false) || find_component(pre, "Metaspace") ||
        find_component(dec, "Metaspace") || replaces_space_by_metaspace(norm)) {
        t->kind = TOK_SPM_BPE;
        return true;
    }
    return awqc_fail(err, "%s: cannot tell byte-level BPE from SentencePiece-style BPE "
                          "(no ByteLevel, Metaspace or byte_fallback)", path);
}

// SentencePiece's leading "▁": Metaspace's prepend_scheme, or a Prepend normalizer.
static void detect_space_prefix(Tokenizer *t, const cJSON *root) {
    const cJSON *meta = find_component(cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), "Metaspace");
    const cJSON *prepend = find_component(cJSON_GetObjectItemCaseSensitive(root, "normalizer"), "Prepend");
    if (meta) {
        const char *scheme = json_str(meta, "prepend_scheme");
        t->add_space_prefix = scheme ? strcmp(scheme, "never") != 0 : json_bool(meta, "add_prefix_space", true);
        t->spm_prefix_first_only = scheme && strcmp(scheme, "first") == 0;
    } else {
        t->add_space_prefix = prepend != NULL;
    }
}

// The normalizers we implement: NFC, and SentencePiece's space handling
// (Prepend "▁", Replace " " -> "▁", done by the SPM encoder itself). Anything
// else would change the ids silently, so it is refused.
static bool check_normalizer_component(Tokenizer *t, const cJSON *c, const char *path, AwqcError *err) {
    if (is_type(c, "NFC")) {
        t->nfc = true;
        return true;
    }
    if (t->kind == TOK_SPM_BPE && (is_type(c, "Prepend") || replaces_space_by_metaspace(c))) return true;
    const char *type = json_str(c, "type");
    return awqc_fail(err, "%s: normalizer '%s' is not supported", path, type ? type : "?");
}

static bool read_normalizer(Tokenizer *t, const cJSON *root, const char *path, AwqcError *err) {
    const cJSON *norm = cJSON_GetObjectItemCaseSensitive(root, "normalizer"), *item;
    if (!cJSON_IsObject(norm)) return true;
    if (!is_type(norm, "Sequence")) return check_normalizer_component(t, norm, path, err);
    cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(norm, "normalizers")) {
        if (!check_normalizer_component(t, item, path, err)) return false;
    }
    return true;
}

// ----------------------------------------------------------------------------
// Byte-level pre-tokenizer

// The regex one pre-tokenizer component stands for; NULL with err when unsupported.
static const char *component_pattern(const cJSON *c, const char *path, AwqcError *err) {
    if (is_type(c, "ByteLevel")) return json_bool(c, "use_regex", true) ? TOK_REGEX_GPT2 : "";
    if (is_type(c, "Digits")) return json_bool(c, "individual_digits", false) ? TOK_REGEX_DIGIT : "\\p{N}+";
    if (is_type(c, "Split")) {
        const char *behavior = json_str(c, "behavior");
        const char *regex = json_str(cJSON_GetObjectItemCaseSensitive(c, "pattern"), "Regex");
        if (regex && !json_bool(c, "invert", false) && behavior && strcmp(behavior, "Isolated") == 0) return regex;
        awqc_fail(err, "%s: pre_tokenizer Split: only an isolated, non-inverted Regex pattern is supported", path);
        return NULL;
    }
    const char *type = json_str(c, "type");
    awqc_fail(err, "%s: pre_tokenizer '%s' is not supported", path, type ? type : "?");
    return NULL;
}

static bool add_component(const cJSON *c, const char **patterns, int *n, const char *path, AwqcError *err) {
    const char *p = component_pattern(c, path, err);
    if (!p) return false;
    if (!*p) return true; // ByteLevel without its regex splits nothing
    if (*n == TOK_MAX_PATTERNS) return awqc_fail(err, "%s: pre_tokenizer has too many regex steps", path);
    patterns[(*n)++] = p;
    return true;
}

static bool build_pretokenizer(Tokenizer *t, const cJSON *root, const char *path, AwqcError *err) {
    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), *item;
    const char *patterns[TOK_MAX_PATTERNS];
    int n = 0;
    if (is_type(pre, "Sequence")) {
        cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(pre, "pretokenizers")) {
            if (!add_component(item, patterns, &n, path, err)) return false;
        }
    } else if (cJSON_IsObject(pre) && !add_component(pre, patterns, &n, path, err)) {
        return false;
    }
    t->pretok = pretok_new(patterns, n, err);
    if (!t->pretok) awqc_error_prefix(err, "%s", path);
    return t->pretok != NULL;
}

// ----------------------------------------------------------------------------
// Vocabulary

// Ids are integers; far beyond any real vocabulary is taken as corruption.
static bool valid_id(const cJSON *v) {
    return cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 1e8 && v->valuedouble == v->valueint;
}

static bool count_vocab(const cJSON *vocab, const cJSON *added, int32_t *n, const char *path, AwqcError *err) {
    const cJSON *item;
    int32_t max_id = -1;
    cJSON_ArrayForEach(item, vocab) {
        if (!valid_id(item)) return awqc_fail(err, "%s: model.vocab['%s'] is not a token id", path, item->string);
        if (item->valueint > max_id) max_id = item->valueint;
    }
    cJSON_ArrayForEach(item, added) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(item, "id");
        if (!valid_id(id) || !json_str(item, "content"))
            return awqc_fail(err, "%s: added_tokens entry without an id and content", path);
        if (id->valueint > max_id) max_id = id->valueint;
    }
    if (max_id < 0) return awqc_fail(err, "%s: model.vocab is empty", path);
    // Real vocabularies are dense, with a few holes at most; an id far past
    // the entry count would size the tables by a corrupt number.
    int64_t entries = cJSON_GetArraySize(vocab) + cJSON_GetArraySize(added);
    if (max_id >= 2 * entries + 65536)
        return awqc_fail(err, "%s: token id %d is far beyond the %lld vocabulary entries", path, max_id,
                         (long long)entries);
    *n = max_id + 1;
    return true;
}

static bool read_vocab(Tokenizer *t, const cJSON *root, const cJSON *model, const char *path, AwqcError *err) {
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    if (!cJSON_IsObject(vocab)) return awqc_fail(err, "%s: model.vocab is missing or not an object", path);
    int32_t n = 0;
    if (!count_vocab(vocab, added, &n, path, err)) return false;
    tok_alloc_vocab(t, n);
    memset(t->types, TT_UNUSED, (size_t)n); // ids no entry names stay unused holes
    const cJSON *item;
    cJSON_ArrayForEach(item, vocab) {
        tok_set_piece(t, item->valueint, item->string, strlen(item->string));
        t->types[item->valueint] = TT_NORMAL;
    }
    cJSON_ArrayForEach(item, added) {
        int32_t id = cJSON_GetObjectItemCaseSensitive(item, "id")->valueint;
        const char *content = json_str(item, "content");
        tok_set_piece(t, id, content, strlen(content));
        t->types[id] = json_bool(item, "special", false) ? TT_CONTROL : TT_USER;
    }
    return true;
}

// A merge is "left right" or ["left", "right"].
static bool merge_sides(const cJSON *m, const char **l, size_t *ll, const char **r, size_t *rl) {
    if (cJSON_IsString(m)) {
        const char *s = m->valuestring, *space = s[0] ? strchr(s + 1, ' ') : NULL;
        if (!space) return false;
        *l = s, *ll = (size_t)(space - s), *r = space + 1, *rl = strlen(space + 1);
        return true;
    }
    if (cJSON_GetArraySize(m) != 2) return false;
    const cJSON *a = cJSON_GetArrayItem(m, 0), *b = cJSON_GetArrayItem(m, 1);
    if (!cJSON_IsString(a) || !cJSON_IsString(b)) return false;
    *l = a->valuestring, *ll = strlen(a->valuestring), *r = b->valuestring, *rl = strlen(b->valuestring);
    return true;
}

static bool read_merges(Tokenizer *t, const cJSON *model, const char *path, AwqcError *err) {
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    if (!cJSON_IsArray(merges)) return awqc_fail(err, "%s: model.merges is missing or not an array", path);
    tok_index_pieces(t);
    pairmap_init(&t->merges, (size_t)cJSON_GetArraySize(merges));
    const cJSON *m;
    int32_t rank = 0;
    cJSON_ArrayForEach(m, merges) {
        const char *l, *r;
        size_t ll, rl;
        if (!merge_sides(m, &l, &ll, &r, &rl))
            return awqc_fail(err, "%s: model.merges[%d] is neither \"left right\" nor [left, right]", path, rank);
        tok_add_merge(t, l, ll, r, rl, rank++); // merges naming unknown tokens are ignored, as HF does
    }
    return true;
}

// ----------------------------------------------------------------------------
// tokenizer_config.json

static int32_t id_of_text(const Tokenizer *t, const char *text) {
    return text ? strmap_get(&t->piece_ids, text, (uint32_t)strlen(text)) : -1;
}

// Whether the post-processor puts bos first (Llama 3 says so only there).
static bool post_processor_adds_bos(const Tokenizer *t, const cJSON *root) {
    const cJSON *tp = find_component(cJSON_GetObjectItemCaseSensitive(root, "post_processor"), "TemplateProcessing");
    const cJSON *first = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(tp, "single"), 0);
    const char *name = json_str(cJSON_GetObjectItemCaseSensitive(first, "SpecialToken"), "id");
    return name && t->bos >= 0 && id_of_text(t, name) == t->bos;
}

static void read_chat_template(Tokenizer *t, const cJSON *config) {
    const cJSON *tmpl = cJSON_GetObjectItemCaseSensitive(config, "chat_template"), *item;
    if (cJSON_IsString(tmpl)) {
        t->chat_template = xstrdup(tmpl->valuestring);
        return;
    }
    cJSON_ArrayForEach(item, tmpl) { // [{"name": "default", "template": "..."}, ...]
        const char *name = json_str(item, "name"), *text = json_str(item, "template");
        if (!name || !text || strcmp(name, "default") != 0) continue;
        free(t->chat_template); // a repeated "default": the last one wins
        t->chat_template = xstrdup(text);
    }
}

// The config is optional (NULL): no bos/eos then, and add_bos as the
// post-processor says.
static void apply_config(Tokenizer *t, const cJSON *root, const cJSON *config) {
    tok_index_pieces(t);
    t->bos = id_of_text(t, token_text(cJSON_GetObjectItemCaseSensitive(config, "bos_token")));
    t->eos = id_of_text(t, token_text(cJSON_GetObjectItemCaseSensitive(config, "eos_token")));
    const cJSON *add_bos = cJSON_GetObjectItemCaseSensitive(config, "add_bos_token");
    t->add_bos = cJSON_IsBool(add_bos) ? cJSON_IsTrue(add_bos) : post_processor_adds_bos(t, root);
    read_chat_template(t, config);
    // A byte-level model never emits its unknown token, so tok_export names
    // it only here; SentencePiece's unk stays the model's own, as it changes ids.
    if (t->kind == TOK_BYTE_BPE && t->unk < 0)
        t->unk = id_of_text(t, token_text(cJSON_GetObjectItemCaseSensitive(config, "unk_token")));
}

// ----------------------------------------------------------------------------
// Loading

static bool load_bpe_model(Tokenizer *t, const cJSON *root, const char *path, AwqcError *err) {
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const char *type = json_str(model, "type");
    if (!cJSON_IsObject(model)) return awqc_fail(err, "%s: no \"model\" object", path);
    if (type && strcmp(type, "BPE") != 0)
        return awqc_fail(err, "%s: model.type '%s' is not supported (only BPE)", path, type);
    if (!detect_kind(t, root, model, path, err) || !read_normalizer(t, root, path, err) ||
        !read_vocab(t, root, model, path, err) || !read_merges(t, model, path, err))
        return false;
    t->ignore_merges = json_bool(model, "ignore_merges", false);
    t->unk = id_of_text(t, json_str(model, "unk_token"));
    if (t->kind == TOK_SPM_BPE) {
        detect_space_prefix(t, root);
        return true;
    }
    return build_pretokenizer(t, root, path, err);
}

// The core both entry points share: parsed tokenizer.json and config (may be
// NULL); origin names the source in errors.
static Tokenizer *tokenizer_from_documents(const cJSON *root, const cJSON *config, const char *origin,
                                           AwqcError *err) {
    Tokenizer *t = tok_new_empty();
    bool ok = load_bpe_model(t, root, origin, err);
    if (ok) apply_config(t, root, config);
    if (ok && tok_finish(t, origin, err)) return t;
    tok_free(t);
    return NULL;
}

// ----------------------------------------------------------------------------
// From a folder

// A file in the same folder as tokenizer.json.
static char *path_beside(const char *tokenizer_json_path, const char *name) {
    const char *slash = strrchr(tokenizer_json_path, '/');
    int dir_len = slash ? (int)(slash - tokenizer_json_path + 1) : 0;
    return awqc_asprintf("%.*s%s", dir_len, tokenizer_json_path, name);
}

// transformers 5 saves the template as chat_template.jinja rather than in
// tokenizer_config.json; an unreadable file just means no template.
static void read_chat_template_file(Tokenizer *t, const char *json_path) {
    char *path = path_beside(json_path, "chat_template.jinja");
    if (access(path, R_OK) == 0) t->chat_template = awqc_read_file(path, NULL, NULL);
    free(path);
}

// The tokenizer_config.json beside the file; absent is fine (*config NULL),
// malformed is an error.
static bool read_config_file(const char *json_path, cJSON **config, AwqcError *err) {
    char *path = path_beside(json_path, "tokenizer_config.json");
    *config = NULL;
    bool ok = access(path, F_OK) != 0 || (*config = awqc_json_read_object(path, err)) != NULL;
    free(path);
    return ok;
}

Tokenizer *tok_from_hf_json(const char *tokenizer_json_path, AwqcError *err) {
    cJSON *config = NULL, *root = awqc_json_read_object(tokenizer_json_path, err);
    Tokenizer *t = NULL;
    if (root && read_config_file(tokenizer_json_path, &config, err))
        t = tokenizer_from_documents(root, config, tokenizer_json_path, err);
    if (t && !t->chat_template) read_chat_template_file(t, tokenizer_json_path);
    cJSON_Delete(config);
    cJSON_Delete(root);
    return t;
}

// ----------------------------------------------------------------------------
// From text

Tokenizer *tok_from_hf_text(const char *tokenizer_json, size_t json_len, const char *tokenizer_config_json,
                            const char *origin_for_errors, AwqcError *err) {
    const char *origin = origin_for_errors ? origin_for_errors : "tokenizer.json text";
    cJSON *config = NULL, *root = awqc_json_parse_object(tokenizer_json, json_len, origin, err);
    Tokenizer *t = NULL;
    if (root && tokenizer_config_json) {
        char *where = awqc_asprintf("%s: tokenizer_config.json", origin);
        config = awqc_json_parse_object(tokenizer_config_json, strlen(tokenizer_config_json), where, err);
        free(where);
    }
    if (root && (config || !tokenizer_config_json)) t = tokenizer_from_documents(root, config, origin, err);
    cJSON_Delete(config);
    cJSON_Delete(root);
    return t;
}
