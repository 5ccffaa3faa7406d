// test_ir_verify_positions.c: malformed IR (a dangling value, a type mismatch,
// a cycle) is rejected with the op and its place in the file, both when the
// text itself is bad (ir_parse) and when a parsed graph is damaged in memory
// the way a buggy pass would do it (ir_verify), for the fused and AWQ ops too.
#include <stdlib.h>
#include <string.h>

#include "ir/ir.h"
#include "test_support.h"

// ----------------------------------------------------------------------------
// a small graph with every recently added op, one statement a line

// Line 1 is the header, lines 2-8 the weights, %0 to %3 on lines 9-12, the
// block "layer.0" (%4 to %9) on lines 13-20, %10 on line 21.
static const char *const fused_lines[] = {
    "graph \"fused\" {",
    "  weight @tok : f32[16, 8]",
    "  weight @s.attn : f32[8]",
    "  weight @norm : f32[8]",
    "  weight @qkv : f32[24, 8]",
    "  weight @o : f32[8, 8]",
    "  weight @gate_up : f32[32, 8]",
    "  weight @down : f32[8, 16]",
    "  %0 = input {name = \"tokens\"} : i32[T]",
    "  %1 = embedding @tok, %0 : f32[T, 8]",
    "  %2 = param {value = 7, width = 8} : f32[T, 8]",
    "  %3 = awq_scale %1, @s.attn : f32[T, 8]",
    "  block \"layer.0\" {",
    "    %4 = rms_norm_linear %3, @norm, @qkv {eps = 1e-05} : f32[T, 24]",
    "    %5 = slice %4 {offset = 0, size = 8} : f32[T, 8]",
    "    %6 = rope_attention %4 {heads = 2, kv_heads = 2, head_dim = 4, theta = 10000.0, mode = \"halves\"} : f32[T, 8]",
    "    %7 = linear_add %6, @o, %5 : f32[T, 8]",
    "    %8 = rms_norm_linear %7, @norm, @gate_up {eps = 1e-05} : f32[T, 32]",
    "    %9 = silu_mul %8 : f32[T, 16]",
    "  }",
    "  %10 = linear_add %9, @down, %2 : f32[T, 8]",
    "  output %10",
    "}",
};
#define N_LINES (sizeof fused_lines / sizeof *fused_lines)

// The graph's text with line `line` (1-based; 0 for none) replaced.
static char *fused_text(size_t line, const char *replacement) {
    size_t cap = 1;
    for (size_t i = 0; i < N_LINES; i++) cap += strlen(fused_lines[i]) + 1;
    if (replacement) cap += strlen(replacement);
    char *text = xmalloc(cap), *p = text;
    for (size_t i = 0; i < N_LINES; i++) {
        const char *s = i + 1 == line ? replacement : fused_lines[i];
        size_t n = strlen(s);
        memcpy(p, s, n);
        p += n;
        *p++ = '\n';
    }
    *p = 0;
    return text;
}

static Graph *fused_graph(void) {
    char *text = fused_text(0, NULL);
    AwqcError err;
    Graph *g = ir_parse(text, "fused.ir", &err);
    free(text);
    if (!g) AWQC_PANIC("the fused graph does not parse: %s", err.msg);
    return g;
}

// ----------------------------------------------------------------------------
// the parser: bad text

typedef struct {
    size_t line;         // the line replaced
    const char *text;    // by this
    const char *where;   // the message starts with this: "fused.ir:line:col: %N = op: "
    const char *problem; // and contains this
} TextCase;

#define USED_EARLY "is used before its definition: "
#define DANGLING USED_EARLY "no node defines it (a dangling value)"
#define OWN USED_EARLY "it is this node's own value (a cycle)"

static const TextCase text_cases[] = {
    // awq_scale
    {12, "  %3 = awq_scale %42, @s.attn : f32[T, 8]", "fused.ir:12:18: %3 = awq_scale: ", "operand %42 " DANGLING},
    {12, "  %3 = awq_scale %3, @s.attn : f32[T, 8]", "fused.ir:12:18: %3 = awq_scale: ", "operand %3 " OWN},
    {12, "  %3 = awq_scale %4, @s.attn : f32[T, 8]", "fused.ir:12:18: %3 = awq_scale: ",
     "operand %4 " USED_EARLY "it is defined later, at line 14 (a cycle, or nodes out of order)"},
    {12, "  %3 = awq_scale %1, @s.attn : f32[T, 9]", "fused.ir:12:32: %3 = awq_scale: ",
     "type mismatch: printed f32[T, 9] but awq_scale gives f32[T, 8]"},
    {12, "  %3 = awq_scale %1, @qkv : f32[T, 8]", "fused.ir:12:8: %3 = awq_scale: ",
     "weight length must equal the input's last dimension (operands f32[T, 8], f32[24, 8])"},
    // rms_norm_linear
    {14, "    %4 = rms_norm_linear %3, @norm, @qkv, %99 {eps = 1e-05} : f32[T, 24]",
     "fused.ir:14:43: %4 = rms_norm_linear: ", "operand %99 " DANGLING},
    {14, "    %4 = rms_norm_linear %4, @norm, @qkv {eps = 1e-05} : f32[T, 24]", "fused.ir:14:26: %4 = rms_norm_linear: ",
     "operand %4 " OWN},
    {14, "    %4 = rms_norm_linear %3, @norm, @qkv {eps = 1e-05} : f32[T, 8]", "fused.ir:14:58: %4 = rms_norm_linear: ",
     "type mismatch: printed f32[T, 8] but rms_norm_linear gives f32[T, 24]"},
    // slice
    {15, "    %5 = slice %6 {offset = 0, size = 8} : f32[T, 8]", "fused.ir:15:16: %5 = slice: ",
     "operand %6 " USED_EARLY "it is defined later, at line 16"},
    {15, "    %5 = slice %5 {offset = 0, size = 8} : f32[T, 8]", "fused.ir:15:16: %5 = slice: ", "operand %5 " OWN},
    {15, "    %5 = slice %4 {offset = 0, size = 8} : f32[T, 16]", "fused.ir:15:44: %5 = slice: ",
     "type mismatch: printed f32[T, 16] but slice gives f32[T, 8]"},
    // rope_attention
    {16, "    %6 = rope_attention %12 {heads = 2, kv_heads = 2, head_dim = 4, theta = 10000.0} : f32[T, 8]",
     "fused.ir:16:25: %6 = rope_attention: ", "operand %12 " DANGLING},
    {16, "    %6 = rope_attention %6 {heads = 2, kv_heads = 2, head_dim = 4, theta = 10000.0} : f32[T, 8]",
     "fused.ir:16:25: %6 = rope_attention: ", "operand %6 " OWN},
    {16, "    %6 = rope_attention %4 {heads = 2, kv_heads = 2, head_dim = 4, theta = 10000.0} : f32[T, 24]",
     "fused.ir:16:87: %6 = rope_attention: ", "type mismatch: printed f32[T, 24] but rope_attention gives f32[T, 8]"},
    // linear_add
    {17, "    %7 = linear_add %6, @o, %8 : f32[T, 8]", "fused.ir:17:29: %7 = linear_add: ",
     "operand %8 " USED_EARLY "it is defined later, at line 18"},
    {17, "    %7 = linear_add %6, @o, %7 : f32[T, 8]", "fused.ir:17:29: %7 = linear_add: ", "operand %7 " OWN},
    {17, "    %7 = linear_add %6, @o, %5 : f32[T, 4]", "fused.ir:17:34: %7 = linear_add: ",
     "type mismatch: printed f32[T, 4] but linear_add gives f32[T, 8]"},
    // silu_mul
    {19, "    %9 = silu_mul %10 : f32[T, 16]", "fused.ir:19:19: %9 = silu_mul: ",
     "operand %10 " USED_EARLY "it is defined later, at line 21"},
    {19, "    %9 = silu_mul %9 : f32[T, 16]", "fused.ir:19:19: %9 = silu_mul: ", "operand %9 " OWN},
    {19, "    %9 = silu_mul %8 : f32[T, 32]", "fused.ir:19:24: %9 = silu_mul: ",
     "type mismatch: printed f32[T, 32] but silu_mul gives f32[T, 16]"},
    // param (no operands: only its type can be wrong)
    {11, "  %2 = param {value = 7, width = 8} : f32[T, 6]", "fused.ir:11:39: %2 = param: ",
     "type mismatch: printed f32[T, 6] but param gives f32[T, 8]"},
    {11, "  %2 = param {value = 7} : f32[T, 8]", "fused.ir:11:8: %2 = param: ", "needs the attribute 'width'"},
    // the classic forward reference: %3 = add %4, %1 with %4 on a later line
    {12, "  %3 = add %4, %1 : f32[T, 8]", "fused.ir:12:12: %3 = add: ",
     "operand %4 " USED_EARLY "it is defined later, at line 14 (a cycle, or nodes out of order)"},
    // an output that nothing defines
    {22, "  output %11", "fused.ir:22:10: ", "output %11 " DANGLING},
};

static void test_text_cases(void) {
    char *good = fused_text(0, NULL);
    AwqcError err;
    Graph *g = ir_parse(good, "fused.ir", &err);
    CHECK_MSG(g, "%s", g ? "" : err.msg);
    CHECK_MSG(g && ir_verify(g, &err), "%s", err.msg);
    ir_graph_free(g);
    free(good);
    for (size_t i = 0; i < sizeof text_cases / sizeof *text_cases; i++) {
        const TextCase *c = &text_cases[i];
        char *text = fused_text(c->line, c->text);
        err = (AwqcError){{0}};
        g = ir_parse(text, "fused.ir", &err);
        CHECK_MSG(!g, "case %zu parsed: %s", i, c->text);
        ir_graph_free(g);
        CHECK_MSG(strncmp(err.msg, c->where, strlen(c->where)) == 0, "case %zu: want %s at the start of: %s", i,
                  c->where, err.msg);
        CHECK_MSG(strstr(err.msg, c->problem), "case %zu: want '%s' in: %s", i, c->problem, err.msg);
        free(text);
    }
}

// ----------------------------------------------------------------------------
// the verifier: a parsed graph damaged in memory

typedef enum {
    OPERAND_TO,     // node.in[k] = %arg
    RECORDED_WIDTH, // node's last dimension = arg
    WEIGHT_ROWS,    // weights[k] gets arg rows, as a pass that resized it without retyping users
} Damage;

typedef struct {
    int node;
    Damage damage;
    int k, arg;
    const char *where;   // "fused.ir:line:col: %N = op: "
    const char *problem; // a substring naming the kind of problem
} MemoryCase;

#define NOT_BEFORE "which is not defined before it"

static const MemoryCase memory_cases[] = {
    // awq_scale
    {3, OPERAND_TO, 0, 50, "fused.ir:12:3: %3 = awq_scale: ",
     "operand 1 refers to %50, " NOT_BEFORE " (a dangling value: the graph has 11 nodes)"},
    {3, OPERAND_TO, 0, -1, "fused.ir:12:3: %3 = awq_scale: ", "refers to %-1, " NOT_BEFORE " (a dangling value"},
    {3, OPERAND_TO, 0, 3, "fused.ir:12:3: %3 = awq_scale: ", NOT_BEFORE " (a cycle: the node reads its own value)"},
    {3, OPERAND_TO, 0, 5, "fused.ir:12:3: %3 = awq_scale: ", "refers to %5, " NOT_BEFORE " (a cycle: %5 depends on %3)"},
    {3, RECORDED_WIDTH, 0, 9, "fused.ir:12:3: %3 = awq_scale: ",
     "type mismatch: recorded f32[T, 9] but its operands give f32[T, 8]"},
    {3, WEIGHT_ROWS, 1, 6, "fused.ir:12:3: %3 = awq_scale: ",
     "does not type-check: weight length must equal the input's last dimension (operands f32[T, 8], f32[6])"},
    // param
    {2, RECORDED_WIDTH, 0, 3, "fused.ir:11:3: %2 = param: ", "type mismatch: recorded f32[T, 3] but its operands give f32[T, 8]"},
    // rms_norm_linear
    {4, OPERAND_TO, 0, 11, "fused.ir:14:5: %4 = rms_norm_linear: ", "refers to %11, " NOT_BEFORE " (a dangling value"},
    {4, OPERAND_TO, 0, 7, "fused.ir:14:5: %4 = rms_norm_linear: ", "refers to %7, " NOT_BEFORE " (a cycle: %7 depends on %4)"},
    {4, WEIGHT_ROWS, 2, 16, "fused.ir:14:5: %4 = rms_norm_linear: ",
     "type mismatch: recorded f32[T, 24] but its operands give f32[T, 16]"},
    // slice
    {5, OPERAND_TO, 0, 20, "fused.ir:15:5: %5 = slice: ", "refers to %20, " NOT_BEFORE " (a dangling value"},
    {5, OPERAND_TO, 0, 5, "fused.ir:15:5: %5 = slice: ", "(a cycle: the node reads its own value)"},
    {5, OPERAND_TO, 0, 8, "fused.ir:15:5: %5 = slice: ", "refers to %8, " NOT_BEFORE " (a cycle: %8 depends on %5)"},
    {5, RECORDED_WIDTH, 0, 7, "fused.ir:15:5: %5 = slice: ", "type mismatch: recorded f32[T, 7] but its operands give f32[T, 8]"},
    // rope_attention
    {6, OPERAND_TO, 0, 99, "fused.ir:16:5: %6 = rope_attention: ", "(a dangling value: the graph has 11 nodes)"},
    {6, OPERAND_TO, 0, 6, "fused.ir:16:5: %6 = rope_attention: ", "(a cycle: the node reads its own value)"},
    {6, OPERAND_TO, 0, 10, "fused.ir:16:5: %6 = rope_attention: ", "refers to %10, " NOT_BEFORE " (a cycle: %10 depends on %6)"},
    {6, RECORDED_WIDTH, 0, 24, "fused.ir:16:5: %6 = rope_attention: ",
     "type mismatch: recorded f32[T, 24] but its operands give f32[T, 8]"},
    // linear_add
    {7, OPERAND_TO, 2, 12, "fused.ir:17:5: %7 = linear_add: ", "operand 3 refers to %12, " NOT_BEFORE " (a dangling value"},
    {7, OPERAND_TO, 2, 7, "fused.ir:17:5: %7 = linear_add: ", "operand 3 refers to %7, " NOT_BEFORE " (a cycle: the node reads"},
    {7, OPERAND_TO, 2, 9, "fused.ir:17:5: %7 = linear_add: ", "operand 3 refers to %9, " NOT_BEFORE " (a cycle: %9 depends on %7)"},
    {7, RECORDED_WIDTH, 0, 16, "fused.ir:17:5: %7 = linear_add: ", "type mismatch: recorded f32[T, 16] but its operands give f32[T, 8]"},
    {7, WEIGHT_ROWS, 1, 4, "fused.ir:17:5: %7 = linear_add: ",
     "does not type-check: the residual must have the linear's result shape"},
    // silu_mul
    {9, OPERAND_TO, 0, 30, "fused.ir:19:5: %9 = silu_mul: ", "(a dangling value: the graph has 11 nodes)"},
    {9, OPERAND_TO, 0, 9, "fused.ir:19:5: %9 = silu_mul: ", "(a cycle: the node reads its own value)"},
    {9, OPERAND_TO, 0, 10, "fused.ir:19:5: %9 = silu_mul: ", "refers to %10, " NOT_BEFORE " (a cycle: %10 depends on %9)"},
    {9, RECORDED_WIDTH, 0, 32, "fused.ir:19:5: %9 = silu_mul: ", "type mismatch: recorded f32[T, 32] but its operands give f32[T, 16]"},
    // a rewrite to an earlier value of the same type is fine (where == NULL: accepted)
    {3, OPERAND_TO, 0, 2, NULL, NULL},
    // a later operand that does not depend on the node: out of order, not a cycle
    {1, OPERAND_TO, 1, 2, "fused.ir:10:3: %1 = embedding: ", "refers to %2, " NOT_BEFORE " (nodes out of order: %2 comes later)"},
};

static void apply_damage(Graph *g, const MemoryCase *c) {
    Node *n = &g->nodes[c->node];
    switch (c->damage) {
    case OPERAND_TO: n->in[c->k].index = c->arg; break;
    case RECORDED_WIDTH: n->type.dims[n->type.rank - 1].size = c->arg; break;
    case WEIGHT_ROWS:
        AWQC_ASSERT(n->in[c->k].kind == OPND_WEIGHT);
        g->weights[n->in[c->k].index].type.dims[0].size = c->arg;
        break;
    }
}

static void test_memory_cases(void) {
    for (size_t i = 0; i < sizeof memory_cases / sizeof *memory_cases; i++) {
        const MemoryCase *c = &memory_cases[i];
        Graph *g = fused_graph();
        apply_damage(g, c);
        AwqcError err = {{0}};
        bool ok = ir_verify(g, &err);
        ir_graph_free(g);
        if (!c->where) {
            CHECK_MSG(ok, "case %zu: an earlier operand was rejected: %s", i, err.msg);
            continue;
        }
        CHECK_MSG(!ok, "case %zu: the damaged graph verified", i);
        CHECK_MSG(strncmp(err.msg, c->where, strlen(c->where)) == 0, "case %zu: want %s at the start of: %s", i,
                  c->where, err.msg);
        CHECK_MSG(strstr(err.msg, c->problem), "case %zu: want '%s' in: %s", i, c->problem, err.msg);
    }
}

// ----------------------------------------------------------------------------
// positions themselves, and nodes that have none

static void test_positions_recorded(void) {
    Graph *g = fused_graph();
    CHECK(g->origin && strcmp(g->origin, "fused.ir") == 0);
    for (size_t i = 0; i < g->n_nodes; i++) {
        int line = 9 + (int)i + (i >= 4) + (i >= 10); // the block's header and its '}'
        CHECK_MSG(g->nodes[i].src_line == line, "%%%zu on line %d", i, g->nodes[i].src_line);
        CHECK_MSG(g->nodes[i].src_col == (g->nodes[i].block >= 0 ? 5 : 3), "%%%zu at column %d", i, g->nodes[i].src_col);
    }
    ir_graph_free(g);
    // The position counts UTF-8 characters and lines after comments, like parse errors do.
    AwqcError err;
    g = ir_parse("graph \"u\" {\n# \xc3\xa9\xc3\xa9\n meta k = \"\xc3\xa9\" %0 = input {name = \"tokens\"} : i32[T]\n}\n",
                 NULL, &err);
    CHECK_MSG(g, "%s", g ? "" : err.msg);
    if (g) {
        CHECK_MSG(g->nodes[0].src_line == 3 && g->nodes[0].src_col == 15, "at %d:%d", g->nodes[0].src_line,
                  g->nodes[0].src_col);
        CHECK(g->origin && strcmp(g->origin, "<ir>") == 0);
        g->nodes[0].type.dtype = DT_F32;
        CHECK(!ir_verify(g, &err) && strstr(err.msg, "<ir>:3:15: %0 = input: type is f32[T]") == err.msg);
    }
    ir_graph_free(g);
}

// A node a pass appended has no position: the message names the graph instead.
static void test_node_without_position(void) {
    Graph *g = fused_graph();
    AwqcError err;
    Operand in[2] = {ir_node_ref(10), ir_node_ref(7)};
    int added = ir_add_node(g, OP_ADD, in, 2, NULL, 0, -1, &err);
    CHECK_MSG(added == 11, "%s", err.msg);
    CHECK(g->nodes[11].src_line == 0 && g->nodes[11].src_col == 0);
    g->nodes[11].in[1].index = 11;
    CHECK(!ir_verify(g, &err));
    CHECK_MSG(strstr(err.msg, "graph 'fused': %11 = add: operand 2 refers to %11, " NOT_BEFORE
                              " (a cycle: the node reads its own value)") == err.msg, "%s", err.msg);
    ir_graph_free(g);
    // A graph built in memory has no file at all.
    g = ir_graph_new("mem");
    Attr a[1] = {ir_attr_string("name", "tokens")};
    ir_add_node(g, OP_INPUT, NULL, 0, a, 1, -1, &err);
    g->nodes[0].type.rank = 2;
    g->nodes[0].type.dims[1] = (Dim){DIM_CONST, 4};
    CHECK(!ir_verify(g, &err));
    CHECK_MSG(strstr(err.msg, "graph 'mem': %0 = input: type is i32[T, 4], inputs must be i32[T]") == err.msg, "%s", err.msg);
    ir_graph_free(g);
}

int main(void) {
    test_text_cases();
    test_memory_cases();
    test_positions_recorded();
    test_node_without_position();
    return test_result();
}
