// parse.c: drives the flex scanner and the bison parser over one model
// description and hands back the AST, or NULL with the first error
// ("path:line:col: message", the line, a caret).
#include <stdlib.h>
#include <string.h>

#include "lang_internal.h"
#include "parser.tab.h"
#define YYSTYPE LANG_YYSTYPE // flex's header names bison's types without the prefix
#define YYLTYPE LANG_YYLTYPE
#include "lexer.yy.h"

// ----------------------------------------------------------------------------
// parsing

static ModelAst *ast_from_state(ParseState *st, Source src) {
    ModelAst *ast = xcalloc(1, sizeof *ast);
    ast->src = src;
    ast->name = st->model_name;
    ast->name_loc = st->model_loc;
    ast->body = st->body;
    return ast;
}

static void state_free(ParseState *st) {
    free(st->model_name);
    ast_stmt_list_free(&st->body);
}

// A NUL byte would end the scan early and hide the rest of the text; flex
// takes an int length.
static bool check_text(const char *text, size_t len, const char *path, AwqcError *err) {
    if (len > (size_t)INT32_MAX) return awqc_fail(err, "%s: model description too large", path);
    const char *nul = memchr(text, '\0', len);
    if (!nul) return true;
    return awqc_fail(err, "%s: offset %zu: NUL byte in a model description", path, (size_t)(nul - text));
}

// Runs the scanner and the parser; errors land in st.
static void run_parser(ParseState *st, const Source *src) {
    yyscan_t scanner = NULL;
    if (lang_yylex_init_extra(st, &scanner) != 0) AWQC_PANIC("cannot create the model scanner");
    YY_BUFFER_STATE buf = lang_yy_scan_bytes(src->text, (int)src->len, scanner);
    int rc = lang_yyparse(scanner, st);
    lang_yy_delete_buffer(buf, scanner);
    lang_yylex_destroy(scanner);
    if (rc != 0 && !st->failed) { // every failure path reports; this is a safety net
        lang_error_at(st->err, src, (Loc){st->line, st->col}, "cannot parse");
        st->failed = true;
    }
}

ModelAst *lang_parse(const char *text, size_t len, const char *path, AwqcError *err) {
    if (!check_text(text, len, path, err)) return NULL;
    Source src = {.path = xstrdup(path), .text = xstrndup(text, len), .len = len};
    ParseState st = {.src = &src, .err = err, .line = 1, .col = 1};
    run_parser(&st, &src);
    if (!st.failed && st.done) return ast_from_state(&st, src);
    state_free(&st);
    free(src.path);
    free(src.text);
    return NULL;
}

ModelAst *lang_parse_file(const char *path, AwqcError *err) {
    size_t len = 0;
    char *text = awqc_read_file(path, &len, err);
    if (!text) return NULL;
    ModelAst *ast = lang_parse(text, len, path, err);
    free(text);
    return ast;
}
