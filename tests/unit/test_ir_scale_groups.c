// test_ir_scale_groups.c: the AWQ scale-group pattern on hand-written IR:
// the golden tiny_llama (GQA, so no v -> o), a model without GQA, an OPT-like
// layer_norm model with biases and a ReLU MLP, and graphs where ops between
// prev and the linears break the groups. Listings are compared with
// tests/fixtures/ir/scale_groups_*.expected (AWQC_UPDATE_FIXTURES=1 rewrites).
#include <stdlib.h>
#include <string.h>

#include "ir/scale_groups.h"
#include "test_support.h"

// ----------------------------------------------------------------------------
// helpers

static char *fixture_path(const char *name) {
    return awqc_asprintf("%s/tests/fixtures/ir/%s", test_source_dir(), name);
}

static Graph *parse_text(const char *text, const char *name) {
    AwqcError err = {{0}};
    Graph *g = ir_parse(text, name, &err);
    CHECK_MSG(g != NULL, "%s", err.msg);
    return g;
}

static Graph *parse_fixture(const char *name) {
    char *path = fixture_path(name);
    AwqcError err = {{0}};
    char *text = awqc_read_file(path, NULL, &err);
    CHECK_MSG(text != NULL, "%s", err.msg);
    Graph *g = text ? parse_text(text, path) : NULL;
    free(text);
    free(path);
    return g;
}

static char *listing(const Graph *g, const ScaleGroup *sg, size_t n) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    AWQC_ASSERT(f != NULL);
    ir_print_scale_groups(g, sg, n, f);
    fclose(f);
    return text;
}

static void check_listing(const char *got, const char *expected_name) {
    char *path = fixture_path(expected_name);
    const char *update = getenv("AWQC_UPDATE_FIXTURES");
    if (update && strcmp(update, "1") == 0) test_write_file(path, got, strlen(got));
    AwqcError err = {{0}};
    char *want = awqc_read_file(path, NULL, &err);
    CHECK_MSG(want != NULL, "%s", err.msg);
    CHECK_MSG(want && strcmp(got, want) == 0, "%s: got\n%s", expected_name, got);
    free(want);
    free(path);
}

static void check_group(const Graph *g, const ScaleGroup *s, ScaleGroupKind kind, int prev, const int *linears,
                        int n_linears, int inspect, int64_t channels, const char *block) {
    CHECK_MSG(s->kind == kind && s->prev == prev, "group of prev %d: kind %d prev %d", prev, s->kind, s->prev);
    CHECK_MSG(s->n_linears == n_linears, "prev %d: %d linears", prev, s->n_linears);
    for (int l = 0; l < n_linears && l < s->n_linears; l++)
        CHECK_MSG(s->linears[l] == linears[l], "prev %d: linear %d is %%%d", prev, l, s->linears[l]);
    CHECK_MSG(s->inspect == inspect, "prev %d: inspect %%%d", prev, s->inspect);
    CHECK_MSG(s->channels == channels, "prev %d: %lld channels", prev, (long long)s->channels);
    CHECK_MSG(s->block >= 0 && strcmp(g->blocks[s->block], block) == 0, "prev %d: block %d", prev, s->block);
}

// Finds the groups of a fixture and compares their listing with the
// expected file; returns the graph and groups for further checks.
static Graph *groups_of_fixture(const char *ir_name, const char *expected_name, ScaleGroup **sg, size_t *n) {
    Graph *g = parse_fixture(ir_name);
    *sg = NULL;
    *n = 0;
    if (!g) return NULL;
    *n = ir_find_scale_groups(g, sg);
    char *text = listing(g, *sg, *n);
    check_listing(text, expected_name);
    free(text);
    return g;
}

// ----------------------------------------------------------------------------
// fixtures

// Grouped-query attention (4 heads, 2 kv heads): no v -> o; tied lm head: no
// final norm group.
static void test_tiny_llama(void) {
    ScaleGroup *sg;
    size_t n;
    Graph *g = groups_of_fixture("tiny_llama.ir", "scale_groups_tiny_llama.expected", &sg, &n);
    if (!g) return;
    CHECK_MSG(n == 6, "%zu groups", n);
    if (n == 6) {
        for (int layer = 0; layer < 2; layer++) {
            int b = 2 + 16 * layer; // each layer: 9 attention nodes, 7 MLP nodes
            char attn[32], mlp[32];
            snprintf(attn, sizeof attn, "layer.%d.attn", layer);
            snprintf(mlp, sizeof mlp, "layer.%d.mlp", layer);
            const ScaleGroup *s = &sg[3 * layer];
            check_group(g, &s[0], SG_PREV_NORM, b, (int[]){b + 1, b + 2, b + 3}, 3, b + 7, 64, attn);
            check_group(g, &s[1], SG_PREV_NORM, b + 9, (int[]){b + 10, b + 11}, 2, b + 14, 64, mlp);
            check_group(g, &s[2], SG_PREV_LINEAR, b + 11, (int[]){b + 14}, 1, b + 14, 128, mlp);
        }
    }
    for (size_t i = 0; i < n; i++) CHECK(sg[i].prev != 34 && sg[i].linears[0] != 35);
    free(sg);
    ir_graph_free(g);
}

static void test_mha(void) {
    ScaleGroup *sg;
    size_t n;
    Graph *g = groups_of_fixture("scale_groups_mha.ir", "scale_groups_mha.expected", &sg, &n);
    if (!g) return;
    CHECK_MSG(n == 4, "%zu groups", n);
    if (n == 4) {
        check_group(g, &sg[0], SG_PREV_NORM, 2, (int[]){3, 5, 7}, 3, 9, 64, "layer.0.attn");
        check_group(g, &sg[1], SG_PREV_LINEAR, 7, (int[]){9}, 1, 9, 64, "layer.0.attn");
        check_group(g, &sg[2], SG_PREV_NORM, 11, (int[]){12, 14}, 2, 16, 64, "layer.0.mlp");
        check_group(g, &sg[3], SG_PREV_LINEAR, 14, (int[]){16}, 1, 16, 128, "layer.0.mlp");
    }
    free(sg);
    ir_graph_free(g);
}

// fc1 -> relu -> fc2 is not a group; v -> out is (no GQA, no rope).
static void test_opt_like(void) {
    ScaleGroup *sg;
    size_t n;
    Graph *g = groups_of_fixture("scale_groups_opt.ir", "scale_groups_opt.expected", &sg, &n);
    if (!g) return;
    CHECK_MSG(n == 3, "%zu groups", n);
    if (n == 3) {
        check_group(g, &sg[0], SG_PREV_NORM, 2, (int[]){3, 4, 5}, 3, 7, 64, "layer.0.attn");
        check_group(g, &sg[1], SG_PREV_LINEAR, 5, (int[]){7}, 1, 7, 64, "layer.0.attn");
        check_group(g, &sg[2], SG_PREV_NORM, 9, (int[]){10}, 1, 12, 64, "layer.0.mlp");
    }
    for (size_t i = 0; i < n; i++) CHECK(sg[i].prev != 10 && sg[i].prev != 14);
    free(sg);
    ir_graph_free(g);
}

static void test_broken(void) {
    ScaleGroup *sg;
    size_t n;
    Graph *g = groups_of_fixture("scale_groups_broken.ir", "scale_groups_broken.expected", &sg, &n);
    if (!g) return;
    CHECK_MSG(n == 4, "%zu groups", n);
    if (n == 4) {
        check_group(g, &sg[0], SG_PREV_NORM, 11, (int[]){12, 13}, 2, 16, 64, "layer.0.mlp");
        check_group(g, &sg[1], SG_PREV_NORM, 18, (int[]){19, 20}, 2, 22, 64, "layer.1.mlp");
        check_group(g, &sg[2], SG_PREV_LINEAR, 20, (int[]){22}, 1, 22, 128, "layer.1.mlp");
        check_group(g, &sg[3], SG_PREV_NORM, 24, (int[]){25}, 1, 26, 64, "layer.1.proj");
    }
    free(sg);
    ir_graph_free(g);
}

// ----------------------------------------------------------------------------
// small inline graphs

// A norm read by more linears than a group holds, and a norm that is itself
// an output: neither can be folded.
static void test_no_group(void) {
    const char *text = "graph \"none\" {\n"
                       "  weight @e : f32[16, 8]\n  weight @n : f32[8]\n  weight @m : f32[8]\n"
                       "  weight @a : f32[8, 8]\n  weight @b : f32[8, 8]\n  weight @c : f32[8, 8]\n"
                       "  weight @d : f32[8, 8]\n  weight @f : f32[8, 8]\n  weight @h : f32[8, 8]\n"
                       "  %0 = input {name = \"tokens\"} : i32[T]\n"
                       "  %1 = embedding @e, %0 : f32[T, 8]\n"
                       "  %2 = rms_norm %1, @n {eps = 1e-05} : f32[T, 8]\n"
                       "  %3 = linear %2, @a : f32[T, 8]\n  %4 = linear %2, @b : f32[T, 8]\n"
                       "  %5 = linear %2, @c : f32[T, 8]\n  %6 = linear %2, @d : f32[T, 8]\n"
                       "  %7 = linear %2, @f : f32[T, 8]\n"
                       "  %8 = rms_norm %7, @m {eps = 1e-05} : f32[T, 8]\n"
                       "  %9 = linear %8, @h : f32[T, 8]\n"
                       "  output %3, %4, %5, %6, %8, %9\n"
                       "}\n";
    Graph *g = parse_text(text, "none.ir");
    if (!g) return;
    ScaleGroup dummy;
    ScaleGroup *sg = &dummy; // must be overwritten
    size_t n = ir_find_scale_groups(g, &sg);
    CHECK_MSG(n == 0, "%zu groups", n);
    CHECK(sg == NULL);
    char *printed = listing(g, sg, n);
    CHECK(strcmp(printed, "") == 0);
    free(printed);
    ir_graph_free(g);
}

// A top-level group prints "graph" as its block; a norm shared by exactly
// SG_MAX_LINEARS linears is still one group.
static void test_top_level(void) {
    const char *text = "graph \"top\" {\n"
                       "  weight @e : f32[16, 8]\n  weight @n : f32[8]\n"
                       "  weight @a : f32[8, 8]\n  weight @b : f32[8, 8]\n  weight @c : f32[8, 8]\n"
                       "  weight @d : f32[8, 8]\n"
                       "  %0 = input {name = \"tokens\"} : i32[T]\n"
                       "  %1 = embedding @e, %0 : f32[T, 8]\n"
                       "  %2 = rms_norm %1, @n {eps = 1e-05} : f32[T, 8]\n"
                       "  %3 = linear %2, @a : f32[T, 8]\n  %4 = linear %2, @b : f32[T, 8]\n"
                       "  %5 = linear %2, @c : f32[T, 8]\n  %6 = linear %2, @d : f32[T, 8]\n"
                       "  %7 = add %3, %4 : f32[T, 8]\n  %8 = add %5, %6 : f32[T, 8]\n"
                       "  %9 = add %7, %8 : f32[T, 8]\n"
                       "  output %9\n"
                       "}\n";
    Graph *g = parse_text(text, "top.ir");
    if (!g) return;
    ScaleGroup *sg;
    size_t n = ir_find_scale_groups(g, &sg);
    CHECK_MSG(n == 1, "%zu groups", n);
    char *printed = listing(g, sg, n);
    CHECK_MSG(strcmp(printed, "graph: rms_norm %2 -> linear %3, %4, %5, %6 (8 channels); inspect %9\n") == 0, "%s",
              printed);
    CHECK(n == 1 && sg[0].block == -1);
    free(printed);
    free(sg);
    ir_graph_free(g);
}

int main(void) {
    test_tiny_llama();
    test_mha();
    test_opt_like();
    test_broken();
    test_no_group();
    test_top_level();
    return test_result();
}
