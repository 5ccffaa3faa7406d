// test_pass_plan_memory.c: the plan-memory pass. Exact figures for small
// chains worked out by hand (reuse, best fit, slot growth), the safety of the
// plan over tiny_llama (no two live values share a slot), the plan recorded in
// the IR and surviving print -> parse, idempotence, and the error cases.
#include <stdlib.h>
#include <string.h>

#include "ir/uses.h"
#include "passes/pass.h"
#include "passes/plan_memory.h"
#include "test_support.h"

// ----------------------------------------------------------------------------
// helpers

static Graph *parse_or_die(const char *text) {
    AwqcError err;
    Graph *g = ir_parse(text, "test.ir", &err);
    if (!g) fprintf(stderr, "%s\n", err.msg);
    AWQC_ASSERT(g);
    return g;
}

static Graph *load_tiny_llama(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fixtures/ir/tiny_llama.ir", test_source_dir());
    AwqcError err;
    char *text = awqc_read_file(path, NULL, &err);
    if (!text) fprintf(stderr, "%s\n", err.msg);
    AWQC_ASSERT(text);
    Graph *g = parse_or_die(text);
    free(text);
    return g;
}

static int64_t meta_int(const Graph *g, const char *key) {
    const Meta *m = ir_get_meta(g, key);
    CHECK_MSG(m && m->value.kind == ATTR_INT, "meta %s", key);
    return m && m->value.kind == ATTR_INT ? m->value.i : -1;
}

static bool run_pass(Graph *g, int64_t ctx_len, FILE *log, bool *changed, AwqcError *err) {
    PassContext ctx = {.target = "host", .ctx = ctx_len, .log = log};
    return pass_plan_memory(g, &ctx, changed, err);
}

// ----------------------------------------------------------------------------
// hand-worked chains (ctx 4: a [T, 8] value is 4 * 8 * 4 = 128 bytes)

// x -> a -> b -> c: a dies once b has read it, so b takes x's slot, grown to
// 256; c takes a's, grown likewise. Two slots of 256; the peak (b and c live
// together) is the same 512.
static const char *CHAIN =
    "graph \"chain\" {\n"
    "  weight @emb : f32[16, 8]\n"
    "  weight @w : f32[16, 8]\n"
    "  %0 = input {name = \"tokens\"} : i32[T]\n"
    "  %1 = embedding @emb, %0 : f32[T, 8]\n"
    "  %2 = silu %1 : f32[T, 8]\n"
    "  %3 = linear %2, @w : f32[T, 16]\n"
    "  %4 = silu %3 : f32[T, 16]\n"
    "  output %4\n"
    "}\n";

static void test_chain(void) {
    Graph *g = parse_or_die(CHAIN);
    MemoryPlan p;
    AwqcError err;
    CHECK_MSG(plan_memory_compute(g, 4, false, &p, &err), "%s", err.msg);
    int want_slot[5] = {-1, 0, 1, 0, 1};
    for (int i = 0; i < 5; i++) CHECK_MSG(p.node_slot[i] == want_slot[i], "%%%d: slot %d", i, p.node_slot[i]);
    CHECK(p.n_slots == 2);
    CHECK(p.slot_bytes[0] == 256 && p.slot_bytes[1] == 256);
    CHECK(p.slot_offset[0] == 0 && p.slot_offset[1] == 256 && p.arena_bytes == 512);
    CHECK(p.node_bytes[0] == 0 && p.node_bytes[1] == 128 && p.node_bytes[3] == 256);
    CHECK(p.planned_bytes == 512);
    CHECK(p.no_reuse_bytes == 128 + 128 + 256 + 256);
    CHECK(p.peak_live_bytes == 512);
    CHECK(p.kv_cache_bytes == 0);
    plan_memory_free(&p);
    ir_graph_free(g);
}

// At %5 both a 512-byte slot (s0) and a 128-byte slot (s1) are free: best fit
// gives the 128-byte value s1 and keeps s0 for the 512-byte %6. First fit
// would put %5 in s0 and grow s1 to 512 (1152 bytes instead of 768).
static const char *BEST_FIT =
    "graph \"best_fit\" {\n"
    "  weight @emb : f32[16, 32]\n"
    "  weight @a : f32[8, 32]\n"
    "  weight @b : f32[32, 8]\n"
    "  %0 = input {name = \"tokens\"} : i32[T]\n"
    "  %1 = embedding @emb, %0 : f32[T, 32]\n" // s0 (512)
    "  %2 = linear %1, @a : f32[T, 8]\n"       // s1 (128); %1 dies
    "  %3 = silu %2 : f32[T, 8]\n"             // s0
    "  %4 = add %2, %3 : f32[T, 8]\n"          // s2: its operands hold s0 and s1
    "  %5 = silu %4 : f32[T, 8]\n"             // s1 (best fit)
    "  %6 = linear %5, @b : f32[T, 32]\n"      // s0
    "  output %6\n"
    "}\n";

static void test_best_fit(void) {
    Graph *g = parse_or_die(BEST_FIT);
    MemoryPlan p;
    AwqcError err;
    CHECK_MSG(plan_memory_compute(g, 4, false, &p, &err), "%s", err.msg);
    int want_slot[7] = {-1, 0, 1, 0, 2, 1, 0};
    for (int i = 0; i < 7; i++) CHECK_MSG(p.node_slot[i] == want_slot[i], "%%%d: slot %d", i, p.node_slot[i]);
    CHECK(p.n_slots == 3);
    CHECK(p.slot_bytes[0] == 512 && p.slot_bytes[1] == 128 && p.slot_bytes[2] == 128);
    CHECK(p.planned_bytes == 768);
    CHECK(p.no_reuse_bytes == 512 + 4 * 128 + 512);
    CHECK(p.peak_live_bytes == 640); // %1 + %2, and %5 + %6
    plan_memory_free(&p);
    ir_graph_free(g);
}

// ----------------------------------------------------------------------------
// safety over tiny_llama

// Live intervals from the uses, independently of the planner.
static int live_end(const Graph *g, const IrUses *u, size_t i) {
    if (u->is_output[i]) return (int)g->n_nodes;
    return u->last_reader[i] >= 0 ? u->last_reader[i] : (int)i;
}

static void check_no_live_sharing(const Graph *g, const MemoryPlan *p) {
    IrUses u;
    ir_uses_build(g, &u);
    for (size_t j = 0; j < g->n_nodes; j++) {
        if (g->nodes[j].op == OP_INPUT) continue;
        CHECK_MSG(p->node_slot[j] >= 0 && p->slot_bytes[p->node_slot[j]] >= p->node_bytes[j], "%%%zu fits", j);
        // Every earlier value still live at j (its operands among them).
        for (size_t i = 0; i < j; i++) {
            if (g->nodes[i].op == OP_INPUT || live_end(g, &u, i) < (int)j) continue;
            CHECK_MSG(p->node_slot[i] != p->node_slot[j], "%%%zu and %%%zu share slot %d while both live", i, j,
                      p->node_slot[j]);
        }
    }
    ir_uses_free(&u);
}

// tiny_llama at ctx 2048, cross-checked with an independent simulation of
// the same rule; the logits [T, 256] alone are 2 MiB.
enum { PLAN_TINY_SLOTS = 5 };
#define PLAN_TINY_PLANNED 5242880LL // 2 + 1 + 0.5 + 1 + 0.5 MiB
#define PLAN_TINY_PEAK 3670016LL     // 3.5 MiB

static void test_tiny_llama_plan(void) {
    Graph *g = load_tiny_llama();
    MemoryPlan p;
    AwqcError err;
    CHECK_MSG(plan_memory_compute(g, 2048, false, &p, &err), "%s", err.msg);
    check_no_live_sharing(g, &p);
    // Floats per row: embedding 64, per layer attention 480 + mlp 704, final
    // norm 64, logits 256.
    CHECK(p.no_reuse_bytes == (int64_t)(64 + 2 * (480 + 704) + 64 + 256) * 2048 * 4);
    // Two attentions, K and V of 2 kv heads x 16 f32 each.
    CHECK(p.kv_cache_bytes == 2 * (2LL * 2048 * 2 * 16 * 4));
    int64_t sum = 0;
    for (int k = 0; k < p.n_slots; k++) sum += p.slot_bytes[k];
    CHECK(p.planned_bytes == sum);
    CHECK(p.peak_live_bytes <= p.planned_bytes && p.planned_bytes < p.no_reuse_bytes);
    CHECK_MSG(p.n_slots == PLAN_TINY_SLOTS, "%d slots", p.n_slots);
    CHECK_MSG(p.planned_bytes == PLAN_TINY_PLANNED, "%lld planned", (long long)p.planned_bytes);
    CHECK_MSG(p.peak_live_bytes == PLAN_TINY_PEAK, "%lld peak", (long long)p.peak_live_bytes);
    plan_memory_free(&p);
    ir_graph_free(g);
}

// ----------------------------------------------------------------------------
// the pass: recorded in the IR, idempotent, survives the text form

static void check_recorded(const Graph *g, int64_t ctx_len) {
    MemoryPlan p;
    AwqcError err;
    CHECK_MSG(plan_memory_compute(g, ctx_len, false, &p, &err), "%s", err.msg);
    for (size_t i = 0; i < g->n_nodes; i++)
        CHECK_MSG(ir_node_attr_int(&g->nodes[i], "buf", -1) == p.node_slot[i], "%%%zu buf", i);
    CHECK(meta_int(g, "memory.ctx") == ctx_len);
    CHECK(meta_int(g, "memory.buffers") == p.n_slots);
    CHECK(meta_int(g, "memory.planned_bytes") == p.planned_bytes);
    CHECK(meta_int(g, "memory.no_reuse_bytes") == p.no_reuse_bytes);
    CHECK(meta_int(g, "memory.peak_live_bytes") == p.peak_live_bytes);
    CHECK(meta_int(g, "memory.kv_cache_bytes") == p.kv_cache_bytes);
    plan_memory_free(&p);
}

static void test_pass_records_and_is_idempotent(void) {
    Graph *g = load_tiny_llama();
    AwqcError err;
    bool changed = false;
    char *log_text = NULL;
    size_t log_len = 0;
    FILE *log = open_memstream(&log_text, &log_len);
    CHECK_MSG(run_pass(g, 2048, log, &changed, &err), "%s", err.msg);
    fclose(log);
    CHECK(changed);
    check_recorded(g, 2048);
    CHECK_MSG(strncmp(log_text, "plan-memory: ctx 2048: ", 23) == 0 && strstr(log_text, "KV cache 1.00 MiB\n"),
              "log: %s", log_text);
    fputs(log_text, stdout);
    free(log_text);

    CHECK(run_pass(g, 2048, NULL, &changed, &err) && !changed);
    char *text = ir_print_to_string(g);
    CHECK(strstr(text, "buf = 0") && strstr(text, "meta memory.planned_bytes = "));
    Graph *back = parse_or_die(text);
    CHECK(run_pass(back, 2048, NULL, &changed, &err) && !changed);
    // A new context length changes the figures, not the slots.
    CHECK(run_pass(back, 1024, NULL, &changed, &err) && changed);
    check_recorded(back, 1024);
    free(text);
    ir_graph_free(back);
    ir_graph_free(g);
}

// A stale buf on a graph input is dropped; one on a planned node replaced.
static void test_pass_replaces_stale_bufs(void) {
    Graph *g = parse_or_die(
        "graph \"stale\" {\n"
        "  weight @emb : f32[16, 8]\n"
        "  %0 = input {name = \"tokens\", buf = 7} : i32[T]\n"
        "  %1 = embedding @emb, %0 {buf = \"x\"} : f32[T, 8]\n"
        "  %2 = silu %1 {buf = 9} : f32[T, 8]\n"
        "  output %2\n"
        "}\n");
    AwqcError err;
    bool changed = false;
    CHECK_MSG(run_pass(g, 8, NULL, &changed, &err), "%s", err.msg);
    CHECK(changed);
    CHECK(ir_node_attr(&g->nodes[0], "buf") == NULL && g->nodes[0].n_attrs == 1);
    CHECK(ir_node_attr_int(&g->nodes[1], "buf", -1) == 0 && g->nodes[1].n_attrs == 1);
    CHECK(ir_node_attr_int(&g->nodes[2], "buf", -1) == 1 && g->nodes[2].n_attrs == 1);
    ir_graph_free(g);
}

// ----------------------------------------------------------------------------
// errors

static void test_errors(void) {
    Graph *g = parse_or_die(CHAIN);
    AwqcError err;
    bool changed = true;
    CHECK(!run_pass(g, 0, NULL, &changed, &err));
    CHECK_MSG(strcmp(err.msg, "plan-memory needs a context length > 0") == 0, "%s", err.msg);
    CHECK(!changed && g->n_meta == 0);

    g->nodes[3].type.dims[1] = (Dim){DIM_P, 0};
    CHECK(!run_pass(g, 16, NULL, &changed, &err));
    CHECK_MSG(strstr(err.msg, "%3 (linear)") != NULL, "%s", err.msg);
    ir_graph_free(g);

    // No room for buf: the node keeps its eight attributes, the graph untouched.
    g = parse_or_die(
        "graph \"full\" {\n"
        "  weight @emb : f32[16, 8]\n"
        "  %0 = input {name = \"tokens\"} : i32[T]\n"
        "  %1 = embedding @emb, %0 {a = 1, b = 2, c = 3, d = 4, e = 5, f = 6, g = 7, h = 8} : f32[T, 8]\n"
        "  output %1\n"
        "}\n");
    CHECK(!run_pass(g, 16, NULL, &changed, &err));
    CHECK_MSG(strstr(err.msg, "%1 (embedding)") && strstr(err.msg, "'buf'"), "%s", err.msg);
    CHECK(g->nodes[1].n_attrs == IR_MAX_ATTRS && g->n_meta == 0);
    ir_graph_free(g);
}

// x -> gate|up -> silu_mul -> down: on the CPU the down output may take
// gate|up's slot (dead once silu_mul read it); for a GPU target gate|up lives
// until down has run (the CUDA GEMV reads it in place of the silu_mul).
static const char *SILU_DOWN =
    "graph \"silu_down\" {\n"
    "  weight @emb : f32[16, 8]\n"
    "  weight @gu : f32[16, 8]\n"
    "  weight @down : f32[8, 8]\n"
    "  %0 = input {name = \"tokens\"} : i32[T]\n"
    "  %1 = embedding @emb, %0 : f32[T, 8]\n"  // s0
    "  %2 = linear %1, @gu : f32[T, 16]\n"      // s1
    "  %3 = silu_mul %2 : f32[T, 8]\n"          // s0
    "  %4 = linear %3, @down : f32[T, 8]\n"     // CPU: s1; GPU: s2
    "  output %4\n"
    "}\n";

static void test_silu_inputs_kept_for_gpu(void) {
    Graph *g = parse_or_die(SILU_DOWN);
    MemoryPlan cpu, gpu;
    AwqcError err;
    CHECK_MSG(plan_memory_compute(g, 4, false, &cpu, &err), "%s", err.msg);
    CHECK_MSG(plan_memory_compute(g, 4, true, &gpu, &err), "%s", err.msg);
    CHECK_MSG(cpu.node_slot[4] == cpu.node_slot[2], "CPU: down in slot %d, gate|up in %d", cpu.node_slot[4],
              cpu.node_slot[2]);
    CHECK_MSG(gpu.node_slot[4] != gpu.node_slot[2] && gpu.node_slot[4] != gpu.node_slot[3],
              "GPU: down in slot %d, gate|up in %d, silu_mul in %d", gpu.node_slot[4], gpu.node_slot[2],
              gpu.node_slot[3]);
    CHECK(cpu.n_slots == 2 && gpu.n_slots == 3);
    plan_memory_free(&cpu);
    plan_memory_free(&gpu);
    // the pass picks the rule from the target
    bool changed;
    PassContext ctx = {.target = "cuda:sm_90", .ctx = 4};
    CHECK_MSG(pass_plan_memory(g, &ctx, &changed, &err), "%s", err.msg);
    CHECK(ir_node_attr_int(&g->nodes[4], "buf", -1) != ir_node_attr_int(&g->nodes[2], "buf", -1));
    ir_graph_free(g);
}

int main(void) {
    test_chain();
    test_silu_inputs_kept_for_gpu();
    test_best_fit();
    test_tiny_llama_plan();
    test_pass_records_and_is_idempotent();
    test_pass_replaces_stale_bufs();
    test_errors();
    return test_result();
}
