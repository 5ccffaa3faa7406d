// cmd_synth.c: `awqc synth`: writes a random-weight LLaMA of any shape as an
// AutoAWQ folder (GEMM-packed INT4, f16 embeddings) that `awqc compile`
// loads, so speed can be measured at sizes no checkpoint here has (e.g.
// Llama-2-7B). The random codes of one layer are shared by all layers.
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "cli/cli.h"
#include "common/strmap.h"
#include "frontend/ckpt/safetensors_write.h"
#include "runtime/tokenizer/tok_export.h"

static const char *const synth_help =
    "usage: awqc synth --dim D --layers L --heads H [--kv-heads H] --ffn F --vocab V\n"
    "                  [--bits 4] [--group G] [--theta X] [--seed N] --tokenizer PATH -o DIR\n"
    "Writes a random-weight LLaMA as an AutoAWQ INT4 folder (config.json, model.safetensors,\n"
    "a tokenizer) for speed measurements, e.g. Llama-2-7B:\n"
    "  awqc synth --dim 4096 --layers 32 --heads 32 --ffn 11008 --vocab 32000 --group 128 \\\n"
    "             --tokenizer SmolLM2-135M-Instruct.Q4_1.gguf -o llama2-7b-synth\n"
    "PATH: a folder with tokenizer.json (and tokenizer_config.json, special_tokens_map.json),\n"
    "or a model file awqc loads (a GGUF: its tokenizer written out as awqc quantize writes it).\n"
    "A tokenizer larger than --vocab is trimmed to its first V tokens and the merges\n"
    "that make them (a byte-level BPE still encodes any text), so the model loads.\n";

typedef struct {
    int dim, layers, heads, kv_heads, ffn, vocab, bits, group;
    double theta;
    unsigned seed;
    const char *tokenizer, *out;
} SynthOpts;

enum { OPT_DIM = OPT_FIRST_FREE, OPT_LAYERS, OPT_HEADS, OPT_KVH, OPT_FFN, OPT_VOCAB, OPT_BITS, OPT_GROUP, OPT_THETA,
       OPT_SEED, OPT_TOK };

static void parse_synth_args(int argc, char **argv, SynthOpts *o) {
    static const struct option longs[] = {
        {"dim", required_argument, 0, OPT_DIM}, {"layers", required_argument, 0, OPT_LAYERS},
        {"heads", required_argument, 0, OPT_HEADS}, {"kv-heads", required_argument, 0, OPT_KVH},
        {"ffn", required_argument, 0, OPT_FFN}, {"vocab", required_argument, 0, OPT_VOCAB},
        {"bits", required_argument, 0, OPT_BITS}, {"group", required_argument, 0, OPT_GROUP},
        {"theta", required_argument, 0, OPT_THETA}, {"seed", required_argument, 0, OPT_SEED},
        {"tokenizer", required_argument, 0, OPT_TOK}, {"output", required_argument, 0, 'o'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    int opt;
    while ((opt = getopt_long(argc, argv, "o:h", longs, NULL)) != -1) {
        switch (opt) {
        case OPT_DIM: o->dim = parse_int_arg("--dim", optarg, 8, 65536); break;
        case OPT_LAYERS: o->layers = parse_int_arg("--layers", optarg, 1, 512); break;
        case OPT_HEADS: o->heads = parse_int_arg("--heads", optarg, 1, 1024); break;
        case OPT_KVH: o->kv_heads = parse_int_arg("--kv-heads", optarg, 1, 1024); break;
        case OPT_FFN: o->ffn = parse_int_arg("--ffn", optarg, 8, 1 << 20); break;
        case OPT_VOCAB: o->vocab = parse_int_arg("--vocab", optarg, 8, 1 << 22); break;
        case OPT_BITS: o->bits = parse_int_arg("--bits", optarg, 4, 4); break;
        case OPT_GROUP: o->group = parse_int_arg("--group", optarg, 8, 4096); break;
        case OPT_THETA: o->theta = parse_float_arg("--theta", optarg, 1, 1e9); break;
        case OPT_SEED: o->seed = (unsigned)parse_u64_arg("--seed", optarg); break;
        case OPT_TOK: o->tokenizer = optarg; break;
        case 'o': o->out = optarg; break;
        case 'h': fputs(synth_help, stdout); exit(0);
        default: fputs(synth_help, stderr); exit(2);
        }
    }
    if (optind < argc) die("synth: unexpected argument '%s'", argv[optind]);
    if (!o->dim || !o->layers || !o->heads || !o->ffn || !o->vocab || !o->out || !o->tokenizer)
        die("synth: --dim, --layers, --heads, --ffn, --vocab, --tokenizer and -o are required (awqc synth --help)");
    if (!o->kv_heads) o->kv_heads = o->heads;
    if (o->dim % o->heads || o->heads % o->kv_heads || (o->dim / o->heads) % 2)
        die("synth: --dim %d must split into %d heads of an even size, a multiple of --kv-heads %d", o->dim, o->heads,
            o->kv_heads);
    if (o->dim % o->group || o->ffn % o->group || o->ffn % 8 || (o->dim / o->heads * o->kv_heads) % 8)
        die("synth: --dim and --ffn must be multiples of --group %d (and of 8)", o->group);
}

// ----------------------------------------------------------------------------
// random tensors

static uint32_t rng_next(uint32_t *s) {
    *s ^= *s << 13, *s ^= *s >> 17, *s ^= *s << 5;
    return *s;
}

// One linear's AutoAWQ tensors [in, out]: random codes, zero 8, f16 scales
// near 0.002 (about 1/sqrt(4096) per unit of activation, so values stay sane).
typedef struct {
    int32_t *qweight, *qzeros;
    uint16_t *scales;
    int in, out;
} AwqLinear;

static void make_linear(AwqLinear *l, int in, int out, int group, uint32_t *s) {
    size_t words = (size_t)in * (size_t)out / 8, zwords = (size_t)(in / group) * (size_t)out / 8;
    *l = (AwqLinear){xmalloc(4 * words), xmalloc(4 * zwords), xmalloc(2 * (size_t)(in / group) * (size_t)out), in, out};
    for (size_t i = 0; i < words; i++) l->qweight[i] = (int32_t)rng_next(s);
    for (size_t i = 0; i < zwords; i++) l->qzeros[i] = (int32_t)0x88888888u;
    for (size_t i = 0; i < (size_t)(in / group) * (size_t)out; i++) l->scales[i] = (uint16_t)(0x1800 + rng_next(s) % 0x200);
}

static void free_linear(AwqLinear *l) {
    free(l->qweight);
    free(l->qzeros);
    free(l->scales);
}

static uint16_t *random_f16(size_t n, uint32_t *s) {
    uint16_t *p = xmalloc(2 * n);
    for (size_t i = 0; i < n; i++) p[i] = (uint16_t)((rng_next(s) & 1 ? 0x8000 : 0) | (0x2000 + rng_next(s) % 0x800));
    return p;
}

// ----------------------------------------------------------------------------
// the tensor table

typedef struct {
    StOutTensor *t;
    size_t n, cap;
    char **names;
} Tensors;

static void add_tensor(Tensors *ts, char *name, StorageType type, int64_t d0, int64_t d1, const void *data) {
    GROW(ts->t, ts->cap, ts->n + 1);
    ts->names = xrealloc(ts->names, ts->cap * sizeof *ts->names);
    ts->names[ts->n] = name;
    ts->t[ts->n++] = (StOutTensor){name, type, d1 ? 2 : 1, {d0, d1}, data};
}

static void add_linear(Tensors *ts, int layer, const char *which, const AwqLinear *l, int group) {
    add_tensor(ts, awqc_asprintf("model.layers.%d.%s.qweight", layer, which), ST_I32, l->in, l->out / 8, l->qweight);
    add_tensor(ts, awqc_asprintf("model.layers.%d.%s.qzeros", layer, which), ST_I32, l->in / group, l->out / 8, l->qzeros);
    add_tensor(ts, awqc_asprintf("model.layers.%d.%s.scales", layer, which), ST_F16, l->in / group, l->out, l->scales);
}

// ----------------------------------------------------------------------------
// files

// The context the folder declares: config.json's max_position_embeddings and,
// for a tokenizer taken from a model file, tokenizer_config.json's model_max_length.
enum { SYNTH_CONTEXT = 4096 };

static bool write_config(const SynthOpts *o, const char *dir, AwqcError *err) {
    char *path = awqc_asprintf("%s/config.json", dir);
    char *json = awqc_asprintf(
        "{\n  \"architectures\": [\"LlamaForCausalLM\"],\n  \"model_type\": \"llama\",\n  \"hidden_size\": %d,\n"
        "  \"num_hidden_layers\": %d,\n  \"num_attention_heads\": %d,\n  \"num_key_value_heads\": %d,\n"
        "  \"intermediate_size\": %d,\n  \"max_position_embeddings\": %d,\n  \"rms_norm_eps\": 1e-05,\n"
        "  \"rope_theta\": %g,\n  \"vocab_size\": %d,\n  \"tie_word_embeddings\": false,\n  \"bos_token_id\": 1,\n"
        "  \"eos_token_id\": 2,\n  \"torch_dtype\": \"float16\",\n  \"quantization_config\": {\"quant_method\": \"awq\", "
        "\"bits\": %d, \"group_size\": %d, \"zero_point\": true, \"version\": \"gemm\"},\n"
        "  \"awqc_synth\": {\"seed\": %u, \"note\": \"random weights, for speed measurements only\"}\n}\n",
        o->dim, o->layers, o->heads, o->kv_heads, o->ffn, SYNTH_CONTEXT, o->theta, o->vocab, o->bits, o->group, o->seed);
    bool ok = awqc_write_file_atomic(path, json, strlen(json), err);
    free(json);
    free(path);
    return ok;
}


// ----------------------------------------------------------------------------
// the tokenizer, trimmed to --vocab (Llama-2's 32000 with SmolLM2's 49152-token
// tokenizer): the model loader refuses ids the embedding table cannot hold.

static bool fits(const StrMap *vocab, const char *token) {
    return strmap_get(vocab, token, (uint32_t)strlen(token)) >= 0;
}

// A merge ("a b", or ["a", "b"]) survives when both parts and their join do.
static bool merge_fits(const StrMap *vocab, const cJSON *merge) {
    char a[512], b[512];
    if (cJSON_IsString(merge)) {
        const char *sp = strchr(merge->valuestring, ' ');
        if (!sp || (size_t)(sp - merge->valuestring) >= sizeof a || strlen(sp + 1) >= sizeof b) return false;
        snprintf(a, sizeof a, "%.*s", (int)(sp - merge->valuestring), merge->valuestring);
        snprintf(b, sizeof b, "%s", sp + 1);
    } else if (cJSON_GetArraySize(merge) == 2 && cJSON_IsString(cJSON_GetArrayItem(merge, 0)) &&
               cJSON_IsString(cJSON_GetArrayItem(merge, 1))) {
        snprintf(a, sizeof a, "%s", cJSON_GetArrayItem(merge, 0)->valuestring);
        snprintf(b, sizeof b, "%s", cJSON_GetArrayItem(merge, 1)->valuestring);
    } else {
        return false;
    }
    char joined[1024];
    snprintf(joined, sizeof joined, "%s%s", a, b);
    return fits(vocab, a) && fits(vocab, b) && fits(vocab, joined);
}

// Removes the items of array (or object) list that keep() refuses; returns how many stay.
static int filter_items(cJSON *list, bool (*keep)(const cJSON *item, const void *ctx), const void *ctx) {
    int kept = 0;
    for (cJSON *it = list ? list->child : NULL, *next; it; it = next) {
        next = it->next;
        if (keep(it, ctx)) kept++;
        else cJSON_Delete(cJSON_DetachItemViaPointer(list, it));
    }
    return kept;
}

static bool id_below(const cJSON *item, const void *ctx) {
    const cJSON *id = cJSON_IsNumber(item) ? item : cJSON_GetObjectItemCaseSensitive(item, "id");
    return cJSON_IsNumber(id) && id->valuedouble < *(const int *)ctx;
}

static bool key_below(const cJSON *item, const void *ctx) { return atoi(item->string) < *(const int *)ctx; }

static bool merge_kept(const cJSON *item, const void *vocab) { return merge_fits(vocab, item); }

// The kept tokens, for the merges' lookups (keys borrowed from the JSON tree).
static void index_vocab(const cJSON *vocab, StrMap *m) {
    strmap_init(m, (size_t)cJSON_GetArraySize(vocab));
    for (const cJSON *it = vocab->child; it; it = it->next)
        strmap_put(m, it->string, (uint32_t)strlen(it->string), (int32_t)it->valuedouble);
}

// tokenizer.json's model.vocab, model.merges and added_tokens, and
// tokenizer_config.json's added_tokens_decoder, cut to ids below o->vocab.
static char *trim_tokenizer(const SynthOpts *o, const char *name, const char *text, size_t *len) {
    cJSON *root = cJSON_Parse(text);
    if (!root) die("synth: --tokenizer: %s/%s is not JSON", o->tokenizer, name);
    int limit = o->vocab, before = 0, kept = 0;
    if (strcmp(name, "tokenizer.json") == 0) {
        cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
        cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
        if (!cJSON_IsObject(vocab)) die("synth: --tokenizer: %s/%s has no model.vocab", o->tokenizer, name);
        before = cJSON_GetArraySize(vocab);
        kept = filter_items(vocab, id_below, &limit);
        StrMap index = {0};
        index_vocab(vocab, &index);
        filter_items(cJSON_GetObjectItemCaseSensitive(model, "merges"), merge_kept, &index);
        strmap_free(&index);
        filter_items(cJSON_GetObjectItemCaseSensitive(root, "added_tokens"), id_below, &limit);
    } else {
        filter_items(cJSON_GetObjectItemCaseSensitive(root, "added_tokens_decoder"), key_below, &limit);
    }
    char *out = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    *len = strlen(out);
    if (before > kept)
        fprintf(stderr, "awqc: synth: tokenizer trimmed to %d of its %d tokens (--vocab)\n", kept, before);
    return out;
}

// The tokenizer files of --tokenizer, read (and trimmed) before anything is
// written, so a bad one leaves no output behind.
typedef struct {
    const char *name;
    char *data; // NULL: an optional file the folder lacks
    size_t len;
} TokFile;

static void read_tokenizer_file(const SynthOpts *o, TokFile *f, bool required) {
    char *src = awqc_asprintf("%s/%s", o->tokenizer, f->name);
    AwqcError err;
    f->data = awqc_read_file(src, &f->len, &err);
    if (!f->data && required) die("synth: --tokenizer: %s", err.msg);
    free(src);
}

// --tokenizer names a model (a GGUF file): its tokenizer as tokenizer.json
// and tokenizer_config.json, the text awqc quantize writes beside a model it
// builds from a GGUF (special_tokens_map.json, optional, is left out).
static void tokenizer_from_model(const SynthOpts *o, TokFile tok[3]) {
    AwqcError err;
    Checkpoint *c = ckpt_open(o->tokenizer, &err);
    Tokenizer *t = c ? tok_from_checkpoint(c, &err) : NULL;
    if (!t || !tok_to_hf_text(t, SYNTH_CONTEXT, &tok[0].data, &tok[1].data, &err)) {
        tok_free(t);
        ckpt_close(c);
        die("synth: --tokenizer: %s", err.msg);
    }
    tok[0].len = strlen(tok[0].data), tok[1].len = strlen(tok[1].data);
    tok_free(t);
    ckpt_close(c);
}

static bool is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

// The tokenizer files for the folder, trimmed to --vocab.
static void read_tokenizer(const SynthOpts *o, TokFile tok[3]) {
    if (is_dir(o->tokenizer))
        for (int i = 0; i < 3; i++) read_tokenizer_file(o, &tok[i], i == 0);
    else
        tokenizer_from_model(o, tok);
    for (int i = 0; i < 2; i++) {
        if (!tok[i].data) continue; // no tokenizer_config.json in the folder
        char *trimmed = trim_tokenizer(o, tok[i].name, tok[i].data, &tok[i].len);
        free(tok[i].data);
        tok[i].data = trimmed;
    }
}

static bool write_tokenizer_file(const TokFile *f, const char *dir, AwqcError *err) {
    if (!f->data) return true;
    char *dst = awqc_asprintf("%s/%s", dir, f->name);
    bool ok = awqc_write_file_atomic(dst, f->data, f->len, err);
    free(dst);
    return ok;
}

// ----------------------------------------------------------------------------
// the weights

static bool write_weights(const SynthOpts *o, const char *dir, AwqcError *err) {
    uint32_t s = o->seed ? o->seed : 0x9e3779b9u;
    int hd = o->dim / o->heads, kvd = hd * o->kv_heads;
    AwqLinear q, k, v, out, gate, up, down;
    make_linear(&q, o->dim, o->dim, o->group, &s), make_linear(&k, o->dim, kvd, o->group, &s);
    make_linear(&v, o->dim, kvd, o->group, &s), make_linear(&out, o->dim, o->dim, o->group, &s);
    make_linear(&gate, o->dim, o->ffn, o->group, &s), make_linear(&up, o->dim, o->ffn, o->group, &s);
    make_linear(&down, o->ffn, o->dim, o->group, &s);
    uint16_t *embed = random_f16((size_t)o->vocab * (size_t)o->dim, &s), *head = random_f16((size_t)o->vocab * (size_t)o->dim, &s);
    float *ones = xmalloc(sizeof(float) * (size_t)o->dim);
    for (int i = 0; i < o->dim; i++) ones[i] = 1.0f;
    Tensors ts = {0};
    add_tensor(&ts, xstrdup("model.embed_tokens.weight"), ST_F16, o->vocab, o->dim, embed);
    for (int l = 0; l < o->layers; l++) {
        const char *which[7] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                                "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"};
        const AwqLinear *lin[7] = {&q, &k, &v, &out, &gate, &up, &down};
        for (int j = 0; j < 7; j++) add_linear(&ts, l, which[j], lin[j], o->group);
        add_tensor(&ts, awqc_asprintf("model.layers.%d.input_layernorm.weight", l), ST_F32, o->dim, 0, ones);
        add_tensor(&ts, awqc_asprintf("model.layers.%d.post_attention_layernorm.weight", l), ST_F32, o->dim, 0, ones);
    }
    add_tensor(&ts, xstrdup("model.norm.weight"), ST_F32, o->dim, 0, ones);
    add_tensor(&ts, xstrdup("lm_head.weight"), ST_F16, o->vocab, o->dim, head);
    char *path = awqc_asprintf("%s/model.safetensors", dir);
    bool ok = st_write_file(path, ts.t, ts.n, err);
    for (size_t i = 0; i < ts.n; i++) free(ts.names[i]);
    free(ts.t), free(ts.names), free(path), free(embed), free(head), free(ones);
    AwqLinear *all[7] = {&q, &k, &v, &out, &gate, &up, &down};
    for (int j = 0; j < 7; j++) free_linear(all[j]);
    return ok;
}

typedef struct {
    const SynthOpts *o;
    const TokFile *tok; // [3]
} Synth;

static bool write_model(const char *dir, void *user, AwqcError *err) {
    const Synth *m = user;
    bool ok = write_config(m->o, dir, err);
    for (int i = 0; i < 3; i++) ok = ok && write_tokenizer_file(&m->tok[i], dir, err);
    return ok && write_weights(m->o, dir, err);
}

// The folder is written whole or not at all (awqc_write_folder_atomic): a
// failure leaves no half-written model.
int cmd_synth(int argc, char **argv) {
    SynthOpts o = {.bits = 4, .group = 128, .theta = 10000.0};
    parse_synth_args(argc, argv, &o);
    check_output_writable("synth", o.out);
    double t0 = awqc_now();
    TokFile tok[3] = {{.name = "tokenizer.json"}, {.name = "tokenizer_config.json"}, {.name = "special_tokens_map.json"}};
    read_tokenizer(&o, tok);
    AwqcError err;
    bool ok = awqc_write_folder_atomic(o.out, write_model, &(Synth){&o, tok}, &err);
    for (int i = 0; i < 3; i++) free(tok[i].data);
    if (!ok) die_error(&err);
    fprintf(stderr, "awqc: wrote %s (random %d-layer LLaMA, dim %d, INT4 g%d) in %.1f s\n", o.out, o.layers, o.dim,
            o.group, awqc_now() - t0);
    return 0;
}
