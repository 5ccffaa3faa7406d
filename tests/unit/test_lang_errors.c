// test_lang_errors.c: every kind of error a model description can have is
// reported as "path:line:col: message", the source line and a caret under the
// column: syntax errors, unknown ops, undefined names, missing weights and
// metadata keys, shape mismatches, wrong argument counts, type errors and bad
// interpolation, expressions nested too deeply, tensors of a type that cannot
// be loaded. Lowering runs against a tiny HF folder written by the test.
#include <stdlib.h>
#include <string.h>

#include "frontend/lang/lang.h"
#include "test_ckpt_gguf_writer.h"
#include "test_lang_tiny_hf.h"
#include "test_support.h"

static Checkpoint *tiny;
static char *tiny_dir;

// Lines 1-5 of every inline case; the case's own text starts on line 6.
#define PRELUDE                                                                     \
    "model t {\n"                                                                   \
    "  param dim = meta(\"llama.embedding_length\", \"hidden_size\");\n"            \
    "  input tokens;\n"                                                             \
    "  weight embd = tensor(\"token_embd.weight\", \"model.embed_tokens.weight\");\n" \
    "  x = embedding(embd, tokens);\n"
#define EPILOGUE "  output out = x;\n}\n"

// ----------------------------------------------------------------------------
// helpers

// The error of parsing text and, when that works, lowering it; "" if none.
static void run(const char *text, const char *path, AwqcError *err) {
    err->msg[0] = '\0';
    ModelAst *ast = lang_parse(text, strlen(text), path, err);
    if (!ast) return;
    LowerOptions opts = {.load_weights = false};
    Graph *g = lang_lower(ast, tiny, &opts, err);
    CHECK_MSG(g == NULL, "%s lowered without an error", path);
    ir_graph_free(g);
    lang_ast_free(ast);
}

// Line number `line` (1-based) of text, as a heap string.
static char *nth_line(const char *text, int line) {
    const char *p = text;
    for (int l = 1; l < line && p; l++) p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL;
    AWQC_ASSERT(p);
    return xstrndup(p, strcspn(p, "\n"));
}

// "$CKPT" in a message stands for the tiny checkpoint's path.
static char *with_ckpt(const char *msg) {
    const char *at = strstr(msg, "$CKPT");
    if (!at) return xstrdup(msg);
    return awqc_asprintf("%.*s%s%s", (int)(at - msg), msg, tiny_dir, at + 5);
}

// The full message expected when the error points at the first `marker` on
// `line`: "path:line:col: msg", the line, spaces and a caret.
static char *expected_message(const char *path, const char *text, int line, const char *marker, const char *msg) {
    char *src = nth_line(text, line);
    const char *m = strstr(src, marker);
    AWQC_ASSERT(m);
    int col = (int)(m - src) + 1;
    char *full = with_ckpt(msg);
    char *want = awqc_asprintf("%s:%d:%d: %s\n%s\n%*s^", path, line, col, full, src, col - 1, "");
    free(full);
    free(src);
    return want;
}

static void expect_error(const char *text, int line, const char *marker, const char *msg) {
    AwqcError err;
    run(text, "inline.model", &err);
    char *want = expected_message("inline.model", text, line, marker, msg);
    CHECK_MSG(strcmp(err.msg, want) == 0, "\nwant: %s\ngot:  %s", want, err.msg);
    free(want);
}

// A case written after the prelude, on line 6 and below.
static void expect_body_error(const char *body, int line, const char *marker, const char *msg) {
    char *text = awqc_asprintf(PRELUDE "%s" EPILOGUE, body);
    expect_error(text, line, marker, msg);
    free(text);
}

static void expect_fixture_error(const char *file, int line, const char *marker, const char *msg) {
    char *path = awqc_asprintf("%s/tests/fixtures/lang/%s", test_source_dir(), file);
    size_t len;
    AwqcError err;
    char *text = awqc_read_file(path, &len, &err);
    CHECK_MSG(text != NULL, "%s", err.msg);
    if (text) {
        ModelAst *ast = lang_parse_file(path, &err);
        LowerOptions opts = {.load_weights = false};
        Graph *g = ast ? lang_lower(ast, tiny, &opts, &err) : NULL;
        CHECK(g == NULL);
        char *want = expected_message(path, text, line, marker, msg);
        CHECK_MSG(strcmp(err.msg, want) == 0, "\nwant: %s\ngot:  %s", want, err.msg);
        free(want);
        lang_ast_free(ast);
    }
    free(text);
    free(path);
}

// ----------------------------------------------------------------------------
// cases

static void test_fixtures(void) {
    expect_fixture_error("syntax_error.model", 4, "input", "syntax error: unexpected 'input', expected ';'");
    expect_fixture_error("unknown_op.model", 6, "rmsnorm", "unknown op 'rmsnorm' (did you mean 'rms_norm'?)");
    expect_fixture_error("missing_weight.model", 6, "tensor",
                         "missing weight 'model.layers.0.self_attn.qq_proj.weight' in Hugging Face checkpoint '$CKPT'");
    expect_fixture_error("shape_mismatch.model", 7, "linear",
                         "linear: input f32[T, 32] has 32 features but weight f32[64, 64] expects 64");
}

static void test_scanner_and_syntax(void) {
    // Spelled out in full once, so the helpers above are checked too.
    AwqcError err;
    run("model t {\n\tx = 3 4;\n}\n", "tab.model", &err);
    CHECK_MSG(strcmp(err.msg, "tab.model:2:8: syntax error: unexpected integer, expected ';'\n\tx = 3 4;\n\t      ^") == 0,
              "%s", err.msg);
    expect_error("model t {\n  x = \"abc;\n}\n", 2, "\"abc", "unterminated string");
    expect_error("model t {\n  x = 3 $ 4;\n}\n", 2, "$", "unexpected character '$'");
    expect_error("model t {\n  /* never closed\n}\n", 2, "/*", "unterminated comment");
    expect_error("model t {\n  x = f(a: 1, 2;\n}\n", 2, ";", "syntax error: unexpected ';', expected ')' or ','");
    expect_error("model t {\n  param p: double = 1;\n}\n", 2, "double",
                 "unknown param type 'double' (expected int, float or string)");
    expect_error("model t { input tokens; }\n", 1, "t {", "model 't' declares no output");
}

static void test_names_and_ops(void) {
    expect_body_error("  y = embedding(embd, tokns);\n", 6, "tokns", "undefined name 'tokns' (did you mean 'tokens'?)");
    expect_body_error("  dim = x;\n", 6, "dim", "cannot assign to param 'dim'");
    // fuzz_lang: an int param given a float past int64_t (undefined to convert) or a fraction.
    expect_body_error("  param big: int = 2e32;\n", 6, "2e32", "param 'big' is an integer, got 2e+32");
    expect_body_error("  param neg: int = -1e300;\n", 6, "-1e300", "param 'neg' is an integer, got -1e+300");
    expect_body_error("  param half: int = 2.5;\n", 6, "2.5", "param 'half' is an integer, got 2.5");
    expect_body_error("  y = rms_norm(x, eps: 1e-5);\n", 6, "rms_norm", "rms_norm takes 2 operands, got 1");
    expect_body_error("  y = silu(x, x);\n", 6, "silu", "silu takes 1 operand, got 2");
    expect_body_error("  y = rms_norm(x, embd, eps: 1.0, eps: 2.0);\n", 6, "eps: 2.0", "attribute 'eps' given twice");
    expect_body_error("  y = x - x;\n", 6, "-", "operator '-' is not defined on tensors (only + and * are)");
    expect_body_error("  for i in 0 .. 2 { param p = 3; }\n", 6, "param", "param 'p' must be declared at the top level of the model");
    expect_body_error("  output w = embd;\n", 6, "embd", "output 'w' must be a computed tensor, got a weight");
    expect_body_error("  for i in 0 .. 2 { for i in 0 .. 2 { } }\n", 6, "i in 0 .. 2 { }", "loop variable 'i' is already defined");
    expect_body_error("  for i in -9000000000000000000 .. 9000000000000000000 { }\n", 6, "for",
                      "loop runs 18000000000000000000 times; at most 1000000 are allowed");
}

static void test_checkpoint_lookups(void) {
    expect_body_error("  param p = meta(\"llama.nope\", \"no_such_key\");\n", 6, "meta",
                      "missing metadata key 'no_such_key' in Hugging Face checkpoint '$CKPT'");
    expect_body_error("  param p = meta(\"a\", \"key_a\") default meta(\"b\", \"key_b\");\n", 6, "meta",
                      "missing metadata key: none of 'key_a', 'key_b' in Hugging Face checkpoint '$CKPT'");
    expect_body_error("  w = tensor(\"a\", \"a.weight\") or tensor(\"b\", \"b.weight\");\n", 6, "tensor",
                      "missing weight: none of 'a.weight', 'b.weight' in Hugging Face checkpoint '$CKPT'");
    // Only the name missing outside the fallback is reported, not the probed one.
    expect_body_error("  w = tensor(\"a\", \"a.weight\") or linear(x, tensor(\"b\", \"b.weight\"));\n", 6, "tensor(\"b\"",
                      "missing weight 'b.weight' in Hugging Face checkpoint '$CKPT'");
    expect_body_error("  param m = meta(\"a\", \"b\", \"c\");\n", 6, "meta",
                      "meta takes 1 or 2 positional arguments (the GGUF name, then the Hugging Face name), got 3");
    expect_body_error("  param m = by_format(gguf: \"pairs\");\n", 6, "by_format",
                      "by_format has no 'hf:' choice for this Hugging Face checkpoint");
}

static void test_shapes(void) {
    // gate and down swapped: down is [dim, ffn] and expects ffn features.
    expect_body_error("  y = linear(x, tensor(\"blk.0.ffn_down.weight\", \"model.layers.0.mlp.down_proj.weight\"));\n", 6,
                      "linear", "linear: input f32[T, 64] has 64 features but weight f32[64, 128] expects 128");
    expect_body_error("  y = rope(x, heads: 3, head_dim: 16, theta: 1e4, mode: \"halves\");\n", 6, "rope",
                      "rope: last dimension must equal heads * head_dim (operands f32[T, 64])");
}

static void test_types(void) {
    expect_body_error("  param hd = dim / embd;\n", 6, "/",
                      "operator '/' needs two numbers or two tensors, got an integer and a tensor");
    expect_body_error("  param p = dim + \"a\";\n", 6, "+", "operator '+' needs two numbers or two tensors, got an integer and a string");
    expect_body_error("  param p = dim / 0;\n", 6, "/", "division by zero (64 / 0)");
    expect_body_error("  y = rms_norm(x, embd, eps: x);\n", 6, "x);", "attribute 'eps' expects a number or a string, got a tensor");
    expect_body_error("  y = silu(3);\n", 6, "3", "argument 1 of silu must be a tensor, got an integer");
    expect_body_error("  for i in 0 .. embd { }\n", 6, "embd", "expected a number, got a tensor");
    expect_body_error("  y = rope(x, heads: 2.5, head_dim: 16, theta: 1e4, mode: \"halves\");\n", 6, "2.5",
                      "attribute 'heads' must be an integer, got 2.5");
    expect_body_error("  weight w = 3;\n", 6, "3", "weight 'w' must be a checkpoint tensor (tensor(...)), got an integer");
}

static void test_interpolation(void) {
    expect_body_error("  w = tensor(\"blk.{j}.attn_q.weight\", \"model.layers.{j}.q\");\n", 6, "j}.q",
                      "undefined name 'j' in string interpolation");
    expect_body_error("  w = tensor(\"a\", \"model.layers.{i+1}.q\");\n", 6, "{i+1}", "bad interpolation '{i+1}': expected {name}");
    expect_body_error("  w = tensor(\"a\", \"model.{layers\");\n", 6, "{layers",
                      "unterminated '{' in string (write \\{ for a literal brace)");
    expect_body_error("  w = tensor(\"a\", \"b\\q\");\n", 6, "\\q", "unknown escape '\\q' in string");
    expect_body_error("  w = tensor(\"a\", \"{embd}\");\n", 6, "embd}", "cannot interpolate 'embd': it is a tensor");
}

// ----------------------------------------------------------------------------
// limits: deep expressions, unloadable tensors

// "  param p = " then n terms joined by op (e.g. "1+1+1"), as a heap string.
static char *chain(const char *term, char op, int n) {
    StrBuf b = {0};
    sb_append(&b, PRELUDE "  param p = ");
    for (int i = 0; i < n; i++) {
        if (i) sb_append_n(&b, &op, 1);
        sb_append(&b, term);
    }
    sb_append(&b, ";\n" EPILOGUE);
    return sb_finish(&b);
}

// Deep nesting stops the parse with a located error: the walkers after it
// (evaluation, freeing) recurse once per level and would overflow the stack.
static void test_deep_expressions(void) {
    // 200000 terms: the 256th '+' (column 14 + 2 * 255) makes level 257.
    char *text = chain("1", '+', 200000);
    AwqcError err;
    ModelAst *ast = lang_parse(text, strlen(text), "deep.model", &err);
    const char *want = "deep.model:6:524: expression nested too deeply (more than 256 levels)\n...";
    CHECK_MSG(!ast && strncmp(err.msg, want, strlen(want)) == 0, "%.300s", err.msg);
    CHECK(strlen(err.msg) < 500); // the 400 kB line is shown as a window
    lang_ast_free(ast);
    free(text);
    // 256 levels are fine, and evaluate.
    text = chain("1", '+', 256);
    ast = lang_parse(text, strlen(text), "ok.model", &err);
    CHECK_MSG(ast != NULL, "%s", err.msg);
    LowerOptions opts = {.load_weights = false};
    Graph *g = ast ? lang_lower(ast, tiny, &opts, &err) : NULL;
    CHECK_MSG(g && ir_get_meta(g, "p") && ir_get_meta(g, "p")->value.i == 256, "%s", g ? "p != 256" : err.msg);
    ir_graph_free(g);
    lang_ast_free(ast);
    free(text);
}

// Other ways to nest: unary minus, calls, and parentheses (which add no tree
// level; bison's own stack limit catches those).
static void expect_too_deep(const char *open, const char *close, int n, const char *msg) {
    StrBuf b = {0};
    sb_append(&b, PRELUDE "  param p = ");
    for (int i = 0; i < n; i++) sb_append(&b, open);
    sb_append(&b, "1");
    for (int i = 0; close[0] && i < n; i++) sb_append(&b, close);
    sb_append(&b, ";\n" EPILOGUE);
    char *text = sb_finish(&b);
    AwqcError err;
    ModelAst *ast = lang_parse(text, strlen(text), "deep.model", &err);
    CHECK_MSG(!ast && strstr(err.msg, "deep.model:6:") == err.msg && strstr(err.msg, msg), "%s: %.200s", open,
              err.msg);
    lang_ast_free(ast);
    free(text);
}

static void test_other_nesting(void) {
    expect_too_deep("-", "", 300, "expression nested too deeply (more than 256 levels)");
    expect_too_deep("f(", ")", 300, "expression nested too deeply (more than 256 levels)");
    expect_too_deep("(", ")", 100000, "nesting too deep");
    expect_too_deep("-", "", 100000, "nesting too deep");
}

// A GGUF file whose tensor "big" has the given ggml type and 2-D shape, and
// no data (the reader cannot size types it does not know).
static char *gguf_with_tensor(const char *file, uint32_t type, uint64_t rows, uint64_t cols, size_t nbytes) {
    GgufMeta m = {0};
    meta_str(&m, "general.architecture", "llama");
    uint8_t *data = xcalloc(1, nbytes + 1);
    GgufTensorW t = {.name = "big", .n_dims = 2, .ne = {cols, rows}, .type = type, .data = data, .nbytes = nbytes};
    Buf b = gguf_build(3, &m, &t, 1, 32, NULL);
    char *path = awqc_asprintf("%s/%s", test_tmpdir(), file);
    test_write_file(path, b.p, b.n);
    free(b.p);
    free(m.kv.p);
    free(data);
    return path;
}

// A tensor of a type ckpt_load_f32 cannot convert is refused before its f32
// copy is allocated (2^40 elements here), with a located error.
static void expect_unloadable(const char *file, uint32_t type, uint64_t rows, uint64_t cols, size_t nbytes,
                              const char *why) {
    char *path = gguf_with_tensor(file, type, rows, cols, nbytes);
    AwqcError err;
    Checkpoint *c = ckpt_open(path, &err);
    CHECK_MSG(c != NULL, "%s", err.msg);
    const char *text = "model t {\n  input tokens;\n  weight w = tensor(\"big\", \"big\");\n"
                       "  output out = embedding(w, tokens);\n}\n";
    ModelAst *ast = c ? lang_parse(text, strlen(text), "w.model", &err) : NULL;
    LowerOptions opts = {.load_weights = true};
    Graph *g = ast ? lang_lower(ast, c, &opts, &err) : NULL;
    CHECK(ast && !g);
    char *want = awqc_asprintf("w.model:3:14: cannot load weight 'big': %s: tensor 'big': %s", path, why);
    CHECK_MSG(strncmp(err.msg, want, strlen(want)) == 0, "\nwant: %s\ngot:  %s", want, err.msg);
    free(want);
    ir_graph_free(g);
    lang_ast_free(ast);
    ckpt_close(c);
    free(path);
}

static void test_unloadable_weights(void) {
    expect_unloadable("unknown_type.gguf", 99, 1u << 20, 1u << 20, 0,
                      "ggml type 99 is not supported (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1)");
    expect_unloadable("q4k.gguf", 12, 2, 256, 2 * 144,
                      "ggml type 12 (Q4_K) is not supported (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1)");
}

int main(void) {
    tiny_dir = tiny_hf_folder("tiny", true, false, false);
    AwqcError err;
    tiny = ckpt_open(tiny_dir, &err);
    CHECK_MSG(tiny != NULL, "%s", err.msg);
    if (!tiny) return test_result();
    test_fixtures();
    test_scanner_and_syntax();
    test_names_and_ops();
    test_checkpoint_lookups();
    test_shapes();
    test_types();
    test_interpolation();
    test_deep_expressions();
    test_other_nesting();
    test_unloadable_weights();
    ckpt_close(tiny);
    free(tiny_dir);
    return test_result();
}
