// test_lang_mutations.c: models/llama.model cut at every byte and with
// single bytes replaced: the parser and the lowering must never crash or
// leak (run it under ASan), and every failure must carry a located message
// "path:line:col: ..." with a caret line.
#include <stdlib.h>
#include <string.h>

#include "frontend/lang/lang.h"
#include "test_lang_tiny_hf.h"
#include "test_support.h"

static Checkpoint *tiny;
static int n_parsed, n_lowered;

// ----------------------------------------------------------------------------
// one input

static bool located(const char *msg) {
    // "mut.model:L:C: ...\n<line>\n<caret>"
    int line = 0, col = 0;
    if (sscanf(msg, "mut.model:%d:%d: ", &line, &col) != 2 || line < 1 || col < 1) return false;
    const char *caret = strrchr(msg, '\n');
    return caret && strchr(caret, '^') != NULL;
}

static void try_text(const char *text, size_t len) {
    AwqcError err = {{0}};
    ModelAst *ast = lang_parse(text, len, "mut.model", &err);
    if (!ast) {
        CHECK_MSG(located(err.msg), "unlocated parse error: %s", err.msg);
        return;
    }
    n_parsed++;
    LowerOptions opts = {.load_weights = false};
    Graph *g = lang_lower(ast, tiny, &opts, &err);
    if (g) n_lowered++;
    else CHECK_MSG(located(err.msg), "unlocated lowering error: %s", err.msg);
    ir_graph_free(g);
    lang_ast_free(ast);
}

// ----------------------------------------------------------------------------
// mutations

static void truncations(const char *text, size_t len) {
    for (size_t cut = 0; cut < len; cut++) try_text(text, cut);
}

// Each byte replaced by two of the characters that change the token
// structure, rotating through them so neighbouring bytes get different ones.
static void replacements(const char *text, size_t len) {
    static const char subs[] = {';', '(', '"', '}', 'x', '\xC3'};
    const size_t n_subs = sizeof subs;
    char *copy = xmalloc(len + 1);
    for (size_t i = 0; i < len; i++)
        for (size_t k = 0; k < 2; k++) {
            char c = subs[(i + 3 * k) % n_subs];
            if (text[i] == c) continue;
            memcpy(copy, text, len + 1);
            copy[i] = c;
            try_text(copy, len);
        }
    free(copy);
}

int main(void) {
    char *dir = tiny_hf_folder("tiny", true, false, false);
    AwqcError err;
    tiny = ckpt_open(dir, &err);
    CHECK_MSG(tiny != NULL, "%s", err.msg);
    char *path = awqc_asprintf("%s/models/llama.model", test_source_dir());
    size_t len = 0;
    char *text = awqc_read_file(path, &len, &err);
    CHECK_MSG(text != NULL, "%s", err.msg);
    if (tiny && text) {
        try_text(text, len);
        CHECK(n_lowered == 1); // the unmodified description lowers
        truncations(text, len);
        replacements(text, len);
        // Replacements inside comments leave a valid description.
        CHECK(n_parsed > 100 && n_lowered > 100);
        printf("%d parsed, %d lowered\n", n_parsed, n_lowered);
    }
    free(text);
    free(path);
    ckpt_close(tiny);
    free(dir);
    return test_result();
}
