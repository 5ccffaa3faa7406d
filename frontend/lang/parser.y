/* parser.y: the grammar of the model description language (see
 * docs/model-language.md for the EBNF). A pure, reentrant bison parser that
 * builds the AST of lang_internal.h with the location of every node; the first
 * error is kept in the ParseState and later ones are dropped. */
%code requires {
#include "lang_internal.h"
typedef void *yyscan_t;
}

%code provides {
int lang_yylex(LANG_YYSTYPE *lval, LANG_YYLTYPE *lloc, yyscan_t scanner);
void lang_yyerror(LANG_YYLTYPE *lloc, yyscan_t scanner, ParseState *st, const char *msg);
}

%code {
#include <stdlib.h>
#include <string.h>

static Loc at(LANG_YYLTYPE l) { return (Loc){l.first_line, l.first_column}; }
static ParamType param_type(ParseState *st, const char *name, Loc loc);
static bool depth_ok(ParseState *st, const Expr *e);

// Ends the parse at an expression nested too deeply. Bison frees neither the
// result nor the parts of the rule being reduced, so the new tree goes here.
#define CHECK_DEPTH(e)               \
    do {                             \
        if (!depth_ok(st, (e))) {    \
            ast_expr_free(e);        \
            YYABORT;                 \
        }                            \
    } while (0)
}

%define api.pure full
%define api.prefix {lang_yy}
%define parse.error custom
%define parse.lac full
%locations
%lex-param {yyscan_t scanner}
%parse-param {yyscan_t scanner} {ParseState *st}

%union {
    char *str;
    int64_t ival;
    double fval;
    Expr *expr;
    Stmt *stmt;
    StmtList list;
    ParamType ptype;
}

%token <str> IDENT "identifier" STRING "string"
%token <ival> INT "integer"
%token <fval> FLOAT "number"
%token MODEL "model" PARAM "param" WEIGHT "weight" INPUT "input" OUTPUT "output"
%token FOR "for" IN "in" BLOCK "block" OR "or" DEFAULT "default" DOTDOT ".."

%type <expr> expr primary args
%type <stmt> stmt
%type <list> stmts
%type <ptype> param_type

%destructor { free($$); } <str>
%destructor { ast_expr_free($$); } <expr>
%destructor { ast_stmt_free($$); } <stmt>
%destructor { ast_stmt_list_free(&$$); } <list>

%left OR DEFAULT
%left '+' '-'
%left '*' '/'
%precedence NEG

%%

/* model := "model" IDENT "{" stmt* "}" */
model
    : MODEL IDENT '{' stmts '}'  { st->model_name = $2; st->model_loc = at(@2); st->body = $4; st->done = true; }
    ;

stmts
    : %empty                     { $$ = (StmtList){0}; }
    | stmts stmt                 { $$ = $1; ast_stmt_list_add(&$$, $2); }
    ;

/* stmt := param | weight | input | output | assignment | for | block */
stmt
    : PARAM IDENT param_type '=' expr ';' {
          $$ = ast_stmt(S_PARAM, at(@1)); $$->name = $2; $$->name_loc = at(@2); $$->type = $3; $$->value = $5; }
    | WEIGHT IDENT '=' expr ';' {
          $$ = ast_stmt(S_WEIGHT, at(@1)); $$->name = $2; $$->name_loc = at(@2); $$->value = $4; }
    | INPUT IDENT ';' {
          $$ = ast_stmt(S_INPUT, at(@1)); $$->name = $2; $$->name_loc = at(@2); }
    | OUTPUT IDENT '=' expr ';' {
          $$ = ast_stmt(S_OUTPUT, at(@1)); $$->name = $2; $$->name_loc = at(@2); $$->value = $4; }
    | IDENT '=' expr ';' {
          $$ = ast_stmt(S_ASSIGN, at(@1)); $$->name = $1; $$->value = $3; }
    | FOR IDENT IN expr DOTDOT expr '{' stmts '}' {
          $$ = ast_stmt(S_FOR, at(@1)); $$->name = $2; $$->name_loc = at(@2);
          $$->value = $4; $$->hi = $6; $$->body = $8; }
    | BLOCK STRING '{' stmts '}' {
          $$ = ast_stmt(S_BLOCK, at(@1)); $$->value = ast_expr(E_STRING, at(@2)); $$->value->str = $2; $$->body = $4; }
    ;

/* param_type := [ ":" ("int" | "float" | "string") ] */
param_type
    : %empty                     { $$ = PT_ANY; }
    | ':' IDENT                  { $$ = param_type(st, $2, at(@2)); free($2); }
    ;

/* expr := expr ("or" | "default") expr | expr ("+" | "-" | "*" | "/") expr | "-" expr | primary */
expr
    : expr OR expr               { $$ = ast_binary('o', $1->loc, $1, $3); CHECK_DEPTH($$); }
    | expr DEFAULT expr          { $$ = ast_binary('d', $1->loc, $1, $3); CHECK_DEPTH($$); }
    | expr '+' expr              { $$ = ast_binary('+', at(@2), $1, $3); CHECK_DEPTH($$); }
    | expr '-' expr              { $$ = ast_binary('-', at(@2), $1, $3); CHECK_DEPTH($$); }
    | expr '*' expr              { $$ = ast_binary('*', at(@2), $1, $3); CHECK_DEPTH($$); }
    | expr '/' expr              { $$ = ast_binary('/', at(@2), $1, $3); CHECK_DEPTH($$); }
    | '-' expr %prec NEG         { $$ = ast_neg(at(@1), $2); CHECK_DEPTH($$); }
    | primary                    { $$ = $1; CHECK_DEPTH($$); } /* a call is as deep as its arguments + 1 */
    ;

/* primary := INT | FLOAT | STRING | IDENT | IDENT "(" [args] ")" | "(" expr ")" */
primary
    : INT                        { $$ = ast_expr(E_INT, at(@1)); $$->ival = $1; }
    | FLOAT                      { $$ = ast_expr(E_FLOAT, at(@1)); $$->fval = $1; }
    | STRING                     { $$ = ast_expr(E_STRING, at(@1)); $$->str = $1; }
    | IDENT                      { $$ = ast_expr(E_NAME, at(@1)); $$->str = $1; }
    | IDENT '(' ')'              { $$ = ast_call($1, at(@1)); }
    | IDENT '(' args ')'         { $$ = $3; $$->str = $1; $$->loc = at(@1); }
    | '(' expr ')'               { $$ = $2; }
    ;

/* args := arg ("," arg)*;  arg := expr | IDENT ":" expr
 * The call node is built here; its callee is filled in by primary. */
args
    : expr                       { $$ = ast_call(NULL, $1->loc); ast_call_add_arg($$, NULL, $1->loc, $1); }
    | IDENT ':' expr             { $$ = ast_call(NULL, at(@1)); ast_call_add_arg($$, $1, at(@1), $3); }
    | args ',' expr              { $$ = $1; ast_call_add_arg($$, NULL, $3->loc, $3); }
    | args ',' IDENT ':' expr    { $$ = $1; ast_call_add_arg($$, $3, at(@3), $5); }
    ;

%%

// ----------------------------------------------------------------------------
// syntax errors: "unexpected X, expected ';'"

// Token classes read as words ("identifier"); keywords and punctuation are quoted.
static void describe_symbol(yysymbol_kind_t s, char *buf, size_t cap) {
    const char *name = yysymbol_name(s);
    bool is_class = s == YYSYMBOL_YYEOF || s == YYSYMBOL_YYUNDEF || s == YYSYMBOL_IDENT || s == YYSYMBOL_STRING ||
                    s == YYSYMBOL_INT || s == YYSYMBOL_FLOAT;
    snprintf(buf, cap, is_class || name[0] == '\'' ? "%s" : "'%s'", name);
}

// Operators that could continue an expression are left out of the expected
// list: "expected ';'" helps, "expected ';', 'or', '+', '-', ..." does not.
static bool continues_expression(yysymbol_kind_t s) {
    static const char *const operators[] = {"or", "default", "'+'", "'-'", "'*'", "'/'"};
    for (size_t i = 0; i < sizeof operators / sizeof operators[0]; i++)
        if (strcmp(yysymbol_name(s), operators[i]) == 0) return true;
    return false;
}

// Appends "expected a, b or c" to msg when the list is short enough to help.
static void append_expected(const yysymbol_kind_t *tokens, int n, char *msg, size_t cap) {
    yysymbol_kind_t keep[YYNTOKENS];
    int k = 0;
    for (int i = 0; i < n; i++)
        if (!continues_expression(tokens[i])) keep[k++] = tokens[i];
    if (k == 0 || k > 6) return;
    size_t len = strlen(msg);
    len += (size_t)snprintf(msg + len, cap - len, ", expected ");
    for (int i = 0; i < k && len < cap; i++) {
        char name[64];
        describe_symbol(keep[i], name, sizeof name);
        const char *sep = i == 0 ? "" : i == k - 1 ? " or " : ", ";
        len += (size_t)snprintf(msg + len, cap - len, "%s%s", sep, name);
    }
}

static int yyreport_syntax_error(const yypcontext_t *ctx, yyscan_t scanner, ParseState *st) {
    (void)scanner;
    if (st->failed) return 0;
    yysymbol_kind_t expected[YYNTOKENS];
    int n = yypcontext_expected_tokens(ctx, expected, YYNTOKENS);
    if (n < 0) return n;
    char found[64], msg[512];
    describe_symbol(yypcontext_token(ctx), found, sizeof found);
    snprintf(msg, sizeof msg, "syntax error: unexpected %s", found);
    append_expected(expected, n, msg, sizeof msg);
    lang_error_at(st->err, st->src, at(*yypcontext_location(ctx)), "%s", msg);
    st->failed = true;
    return 0;
}

// ----------------------------------------------------------------------------
// helpers of the actions

// With custom syntax errors, bison calls this only when its stack is full.
void lang_yyerror(LANG_YYLTYPE *lloc, yyscan_t scanner, ParseState *st, const char *msg) {
    (void)scanner;
    if (st->failed) return;
    lang_error_at(st->err, st->src, at(*lloc), "nesting too deep (%s)", msg);
    st->failed = true;
}

static bool depth_ok(ParseState *st, const Expr *e) {
    if (e->depth <= LANG_MAX_EXPR_DEPTH) return true;
    if (!st->failed)
        lang_error_at(st->err, st->src, e->loc, "expression nested too deeply (more than %d levels)", LANG_MAX_EXPR_DEPTH);
    st->failed = true;
    return false;
}

// An unknown type name is reported, and parsing goes on (the first error wins).
static ParamType param_type(ParseState *st, const char *name, Loc loc) {
    if (strcmp(name, "int") == 0) return PT_INT;
    if (strcmp(name, "float") == 0) return PT_FLOAT;
    if (strcmp(name, "string") == 0) return PT_STRING;
    if (!st->failed) {
        lang_error_at(st->err, st->src, loc, "unknown param type '%s' (expected int, float or string)", name);
        st->failed = true;
    }
    return PT_ANY;
}
