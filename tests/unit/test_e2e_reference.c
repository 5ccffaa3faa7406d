// test_e2e_reference.c: our FP32 reference interpreter on the real default
// model against Hugging Face transformers running the same GGUF
// (fixtures from tests/reference/make_reference.py):
//  - logits: the same argmax at every position of every prompt, and the
//    largest absolute difference over the stored logits (the top 32 and every
//    64th id of each position) within 1e-3 of that position's logit range;
//  - perplexity over the first windows of wikitext-2 test (the protocol of
//    runtime/perplexity.h, as `awqc ppl` runs it): within 0.5%, with our own
//    tokenizer (whose first ids and total count must equal transformers').
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/interp.h"
#include "runtime/model.h"
#include "runtime/perplexity.h"
#include "test_real_model.h"
#include "test_support.h"

static cJSON *load_json(const char *rel) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", test_source_dir(), rel);
    AwqcError err;
    char *text = awqc_read_file(path, NULL, &err);
    if (!text) AWQC_PANIC("%s", err.msg);
    cJSON *j = cJSON_Parse(text);
    if (!j) AWQC_PANIC("%s: invalid JSON", path);
    free(text);
    return j;
}

static int32_t *json_ids(const cJSON *arr, int *n) {
    *n = cJSON_GetArraySize(arr);
    int32_t *ids = xmalloc(sizeof(int32_t) * (size_t)(*n ? *n : 1));
    for (int i = 0; i < *n; i++) ids[i] = (int32_t)cJSON_GetArrayItem(arr, i)->valuedouble;
    return ids;
}

// Largest |ours - theirs| over the stored logits of one position, relative to
// the position's logit range.
static double position_rel_diff(const cJSON *pos, const float *row) {
    double range = cJSON_GetObjectItem(pos, "max")->valuedouble - cJSON_GetObjectItem(pos, "min")->valuedouble;
    double worst = 0;
    const cJSON *top = cJSON_GetObjectItem(pos, "top"), *pair;
    cJSON_ArrayForEach(pair, top) {
        int id = (int)cJSON_GetArrayItem(pair, 0)->valuedouble;
        worst = fmax(worst, fabs(row[id] - cJSON_GetArrayItem(pair, 1)->valuedouble));
    }
    int stride = (int)cJSON_GetObjectItem(pos, "sample_ids_stride")->valuedouble, i = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, cJSON_GetObjectItem(pos, "sample")) worst = fmax(worst, fabs(row[stride * i++] - v->valuedouble));
    return worst / range;
}

static void check_prompt(const Model *m, Interp *in, const cJSON *prompt, double *worst_rel) {
    int n;
    int32_t *ids = json_ids(cJSON_GetObjectItem(prompt, "ids"), &n);
    AwqcError err;
    interp_reset(in);
    const float *logits = interp_forward(in, ids, n, true, &err);
    CHECK_MSG(logits != NULL, "%s", err.msg);
    int64_t vocab = interp_vocab(in);
    const cJSON *positions = cJSON_GetObjectItem(prompt, "positions");
    for (int t = 0; logits && t < n; t++) {
        const cJSON *pos = cJSON_GetArrayItem(positions, t);
        const float *row = logits + t * vocab;
        int ours = 0;
        for (int64_t i = 1; i < vocab; i++) ours = row[i] > row[ours] ? (int)i : ours;
        int theirs = (int)cJSON_GetObjectItem(pos, "argmax")->valuedouble;
        CHECK_MSG(ours == theirs, "prompt '%.30s' position %d: argmax %d, transformers %d",
                  cJSON_GetObjectItem(prompt, "text")->valuestring, t, ours, theirs);
        *worst_rel = fmax(*worst_rel, position_rel_diff(pos, row));
    }
    // Our tokenizer must produce the very ids transformers fed in.
    const char *text = cJSON_GetObjectItem(prompt, "text")->valuestring;
    int32_t *mine;
    size_t n_mine = tok_encode(m->tok, text, strlen(text), tok_add_bos(m->tok), true, &mine);
    CHECK_MSG(n_mine == (size_t)n && memcmp(mine, ids, sizeof(int32_t) * (size_t)n) == 0,
              "tokenization of '%.30s' differs from transformers'", text);
    free(mine);
    free(ids);
}

static void test_logits(const Model *m) {
    cJSON *j = load_json("tests/fixtures/reference/logits.json");
    AwqcError err;
    Interp *in = interp_new(m->graph, 256, 0, &err);
    CHECK_MSG(in != NULL, "%s", err.msg);
    double worst_rel = 0;
    const cJSON *prompt;
    cJSON_ArrayForEach(prompt, cJSON_GetObjectItem(j, "prompts")) check_prompt(m, in, prompt, &worst_rel);
    printf("logits: max |ours - transformers| = %.3g of the logit range (limit 1e-3)\n", worst_rel);
    CHECK(worst_rel <= 1e-3);
    interp_free(in);
    cJSON_Delete(j);
}

static void test_ppl(const Model *m) {
    cJSON *j = load_json("tests/fixtures/reference/ppl.json");
    AwqcError err;
    size_t len;
    char *text = test_read_wikitext("test.txt", &len);
    int32_t *ids;
    size_t n_ids = tok_encode(m->tok, text, len, false, false, &ids);
    int n_first;
    int32_t *first = json_ids(cJSON_GetObjectItem(j, "first_ids"), &n_first);
    CHECK(n_ids >= (size_t)n_first && memcmp(ids, first, sizeof(int32_t) * (size_t)n_first) == 0);
    CHECK_MSG(n_ids == (size_t)cJSON_GetObjectItem(j, "n_tokens_total")->valuedouble, "file tokens: ours %zu", n_ids);
    const cJSON *run = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "results"), 0);
    int ctx = (int)cJSON_GetObjectItem(run, "ctx")->valuedouble;
    int windows = (int)cJSON_GetObjectItem(run, "windows")->valuedouble;
    EngineOptions eo = {.n_ctx = ctx, .n_threads = 0, .kind = ENGINE_INTERP};
    Engine *in = engine_new(m, &eo, &err);
    PplOptions po = {.ctx = ctx, .max_windows = (size_t)windows, .bos = -1};
    PplResult r;
    CHECK_MSG(ppl_evaluate(in, ids, n_ids, &po, &r, &err), "%s", err.msg);
    CHECK(r.windows == (size_t)windows && r.scored == (size_t)windows * (size_t)(ctx - 1));
    double ours = ppl_value(&r), theirs = cJSON_GetObjectItem(run, "ppl")->valuedouble;
    printf("ppl (ctx %d, first %d windows): ours %.4f, transformers %.4f, difference %.4f%%\n", ctx, windows, ours,
           theirs, 100 * fabs(ours - theirs) / theirs);
    CHECK(fabs(ours - theirs) / theirs < 0.005);
    engine_free(in);
    free(first);
    free(ids);
    free(text);
    cJSON_Delete(j);
}

int main(void) {
    Model *m = test_load_default_model();
    test_logits(m);
    test_ppl(m);
    model_free(m);
    return test_result();
}
