// test_pass_scale_import.c: `compile --quant` (quantizer/scale_import.h) on a
// tiny LLaMA: the scales of a --dump-scales style JSON become awq_scale nodes
// in front of each group's linears, whose columns are multiplied by s; the
// logits stay what they were (1e-5 relative); fold-awq-scales then folds the
// nodes; every kind of bad file is refused with a message naming the file and
// the entry, and leaves the graph untouched.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "passes/pass.h"
#include "quantizer/scale_import.h"
#include "runtime/interp.h"
#include "test_support.h"
#include "test_tiny_graph.h"

enum { DIM = 16, HEADS = 2, FFN = 24, VOCAB = 30, LAYERS = 2, TOKENS = 10 };

static Graph *model(void) {
    TinyLlamaSpec s = {.dim = DIM, .heads = HEADS, .kv_heads = 1, .ffn = FFN, .vocab = VOCAB, .layers = LAYERS,
                       .scale_by_fan_in = true, .seed = 11};
    return tiny_llama(&s);
}

static float *logits(const Graph *g) {
    int32_t ids[TOKENS];
    for (int i = 0; i < TOKENS; i++) ids[i] = (i * 7 + 3) % VOCAB;
    size_t count;
    AwqcError err;
    float *out = interp_eval_logits(g, ids, TOKENS, 1, &count, &err);
    CHECK_MSG(out != NULL, "%s", out ? "" : err.msg);
    return out;
}

// A JSON array of numbers 0.5 + (i % 5) * 0.4: positive, not all equal.
static void append_scales(char *buf, size_t cap, int n) {
    strncat(buf, "[", cap - strlen(buf) - 1);
    for (int i = 0; i < n; i++) {
        char num[32];
        snprintf(num, sizeof num, "%s%.2f", i ? ", " : "", 0.5 + (i % 5) * 0.4);
        strncat(buf, num, cap - strlen(buf) - 1);
    }
    strncat(buf, "]", cap - strlen(buf) - 1);
}

static char *write_json(const char *name, const char *text) {
    char *path = awqc_asprintf("%s/%s", test_tmpdir(), name);
    test_write_file(path, text, strlen(text));
    return path;
}

// Layer 0's q/k/v group and layer 1's down projection, as --dump-scales writes them.
static char *good_file(void) {
    static char text[8192];
    strcpy(text, "[{\"prev\": \"l0.attn_norm\", \"ratio\": 0.5, \"linears\": [\"l0.q\", \"l0.k\", \"l0.v\"], \"scales\": ");
    append_scales(text, sizeof text, DIM);
    strcat(text, "},\n {\"prev\": \"l1.up\", \"linears\": [\"l1.down\"], \"scales\": ");
    append_scales(text, sizeof text, FFN);
    strcat(text, "}]\n");
    return write_json("good.json", text);
}

static size_t count_op(const Graph *g, OpKind op) {
    size_t n = 0;
    for (size_t i = 0; i < g->n_nodes; i++) n += g->nodes[i].op == op;
    return n;
}

// The linear reading weight name reads an awq_scale node.
static bool reads_awq_scale(const Graph *g, const char *name) {
    int w = ir_find_weight(g, name);
    for (size_t i = 0; i < g->n_nodes; i++) {
        const Node *n = &g->nodes[i];
        if (n->op == OP_LINEAR && n->in[1].kind == OPND_WEIGHT && n->in[1].index == w)
            return n->in[0].kind == OPND_NODE && g->nodes[n->in[0].index].op == OP_AWQ_SCALE;
    }
    return false;
}

// ----------------------------------------------------------------------------

static void test_import_then_fold(void) {
    Graph *g = model();
    float *before = logits(g);
    float q00 = g->weights[ir_find_weight(g, "l0.q")].data[1]; // row 0, column 1: scaled by 0.9
    char *path = good_file();
    size_t applied = 0;
    AwqcError err;
    CHECK_MSG(awq_import_scales(g, path, &applied, &err), "%s", err.msg);
    CHECK(applied == 2);
    CHECK(count_op(g, OP_AWQ_SCALE) == 2);
    CHECK(reads_awq_scale(g, "l0.q") && reads_awq_scale(g, "l0.k") && reads_awq_scale(g, "l0.v"));
    CHECK(reads_awq_scale(g, "l1.down") && !reads_awq_scale(g, "l0.down") && !reads_awq_scale(g, "l1.q"));
    CHECK(fabsf(g->weights[ir_find_weight(g, "l0.q")].data[1] - q00 * 0.9f) <= 1e-6f * fabsf(q00));
    CHECK(ir_find_weight(g, "l0.q.awq_scales") >= 0 && ir_find_weight(g, "l1.down.awq_scales") >= 0);
    CHECK_MSG(ir_verify(g, &err), "%s", err.msg);
    float *imported = logits(g);
    double rel = interp_relative_diff(before, imported, (size_t)TOKENS * VOCAB);
    CHECK_MSG(rel <= 1e-5, "import moved the logits by %g", rel);
    CHECK_MSG(memcmp(before, imported, sizeof(float) * TOKENS * VOCAB) != 0, "scaling by non-powers of 2 changed no bit");

    // The same file again, before folding: the groups already carry awq_scale nodes.
    CHECK(!awq_import_scales(g, path, NULL, &err) && strstr(err.msg, "scales were already applied to this group"));

    PassContext ctx = {.target = "host", .ctx = 64};
    bool changed = false;
    CHECK(pass_fold_awq_scales(g, &ctx, &changed, &err) && changed);
    CHECK(count_op(g, OP_AWQ_SCALE) == 0);
    CHECK(ir_find_weight(g, "l0.q.awq_scales") < 0);
    float *folded = logits(g);
    rel = interp_relative_diff(before, folded, (size_t)TOKENS * VOCAB);
    CHECK_MSG(rel <= 1e-5, "folding moved the logits by %g", rel);

    free(before);
    free(imported);
    free(folded);
    free(path);
    ir_graph_free(g);
}

typedef struct {
    const char *json;
    const char *want; // substring of the message after "FILE: "
} BadFile;

static void test_bad_files(void) {
    static const BadFile cases[] = {
        {"{\"linears\": []}", "expected a JSON array of scale groups"},
        {"[{\"linears\": [\"l0.q\"], \"scales\": [1,2", "offset "},
        {"[{\"scales\": [1]}]", "entry 0: needs \"linears\": 1 to 16 weight names"},
        {"[{\"linears\": [\"nope\"], \"scales\": [1]}]", "entry 0 (nope): no weight of that name in the model"},
        {"[{\"linears\": [\"l0.attn_norm\"], \"scales\": [1]}]", "entry 0 (l0.attn_norm): the weight is not an f32 matrix"},
        {"[{\"linears\": [\"embd\"], \"scales\": [1]}]", "entry 0 (embd): the weight is also read by another op"},
        {"[{\"linears\": [\"l0.q\", \"l0.o\"], \"scales\": [1]}]", "entry 0 (l0.o): the linears do not read one shared input"},
        {"[{\"linears\": [\"l0.q\"], \"scales\": [1, 2]}]", "entry 0 (l0.q): 2 scales, but the linears take 16 input channels"},
        {"[{\"linears\": [\"l0.q\"]}]", "entry 0 (l0.q): \"scales\" must be a non-empty array of numbers"},
        {"[{\"linears\": [\"l0.o\"], \"scales\": [1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,-1]}]",
         "entry 0 (l0.o): every scale must be a finite number > 0"},
        {"[{\"linears\": [\"l0.o\"], \"scales\": [1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,\"x\"]}]",
         "entry 0 (l0.o): every scale must be a finite number > 0"},
        {"[{\"linears\": [\"l0.o\"], \"scales\": [1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]},"
         " {\"linears\": [\"l0.o\"], \"scales\": [1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]}]",
         "entry 1 (l0.o): the weight is already in an earlier entry"},
    };
    Graph *g = model();
    char *clean = ir_print_to_string(g);
    float *before = logits(g);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *path = write_json("bad.json", cases[i].json);
        AwqcError err = {{0}};
        CHECK_MSG(!awq_import_scales(g, path, NULL, &err), "case %zu accepted", i);
        CHECK_MSG(strstr(err.msg, path) == err.msg && strstr(err.msg, cases[i].want), "case %zu: want '%s' in: %s", i,
                  cases[i].want, err.msg);
        free(path);
    }
    AwqcError err;
    CHECK(!awq_import_scales(g, "/nonexistent/scales.json", NULL, &err) && strstr(err.msg, "/nonexistent/scales.json"));
    char *after = ir_print_to_string(g);
    CHECK_MSG(strcmp(clean, after) == 0, "a refused file changed the graph");
    float *now = logits(g);
    CHECK(memcmp(before, now, sizeof(float) * TOKENS * VOCAB) == 0);
    free(now);
    free(before);
    free(after);
    free(clean);
    ir_graph_free(g);
}

int main(void) {
    test_import_then_fold();
    test_bad_files();
    return test_result();
}
