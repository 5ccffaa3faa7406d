// lang_internal.h: the module map of frontend/lang/: the AST the bison grammar
// builds (ast.c), source locations and error messages with a caret (diag.c),
// the parser driver (parse.c), expression evaluation (eval.c, interp.c) and
// lowering to the IR (lower.c, ops.c, model_path.c).
#ifndef AWQC_LANG_INTERNAL_H
#define AWQC_LANG_INTERNAL_H

#include "lang.h"

// ----------------------------------------------------------------------------
// diag.c: sources, locations, messages

// The text being parsed, kept so errors can quote the offending line.
typedef struct {
    char *path;
    char *text; // NUL-terminated copy
    size_t len;
} Source;

// 1-based line and column (columns count UTF-8 characters).
typedef struct {
    int line, col;
} Loc;

// Writes "path:line:col: message", the source line and a caret line into err.
// Returns false so callers can `return lang_error_at(...)`.
bool lang_error_at(AwqcError *err, const Source *src, Loc loc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
// Closest candidate to name by edit distance, or NULL when none is close.
const char *lang_suggest(const char *name, const char *const *candidates, size_t n);

// ----------------------------------------------------------------------------
// ast.c: expressions and statements

typedef enum {
    E_INT,      // 42
    E_FLOAT,    // 1e-5
    E_STRING,   // "blk.{i}.attn_q.weight" (raw text; escapes and {name} resolved when evaluated)
    E_NAME,     // dim
    E_CALL,     // rms_norm(x, w, eps: eps), meta(...), tensor(...), by_format(...)
    E_BINARY,   // a + b, a - b, a * b, a / b
    E_NEG,      // -a
    E_FALLBACK, // a or b, a default b: the first that exists
} ExprKind;

typedef struct Expr Expr;

typedef struct {
    char *name; // NULL for a positional argument
    Loc loc;    // of the name, or of the value when positional
    Expr *value;
} Arg;

struct Expr {
    ExprKind kind;
    Loc loc;      // operator for E_BINARY, callee for E_CALL, left operand's start for E_FALLBACK
    int64_t ival; // E_INT
    double fval;  // E_FLOAT
    char *str;    // E_STRING raw text, E_NAME and E_CALL name
    char op;      // E_BINARY: '+', '-', '*', '/'; E_FALLBACK: 'o' (or) or 'd' (default)
    Expr *lhs, *rhs; // E_BINARY, E_FALLBACK; lhs only for E_NEG
    Arg *args;       // E_CALL
    size_t n_args, cap_args;
    int depth;       // 1 for a leaf, else 1 + the deepest operand or argument
};

// The parser refuses deeper expressions, so the recursive walkers
// (evaluation, freeing) cannot run out of stack on a hostile file.
#define LANG_MAX_EXPR_DEPTH 256

typedef enum {
    S_PARAM,  // param name[: type] = expr;
    S_WEIGHT, // weight name = expr;
    S_INPUT,  // input name;
    S_ASSIGN, // name = expr;
    S_OUTPUT, // output name = expr;
    S_FOR,    // for var in lo .. hi { body }
    S_BLOCK,  // block "name" { body }
} StmtKind;

// The type a param declares, if any; the value is converted to it.
typedef enum { PT_ANY, PT_INT, PT_FLOAT, PT_STRING } ParamType;

typedef struct Stmt Stmt;
typedef struct {
    Stmt **items;
    size_t n, cap;
} StmtList;

struct Stmt {
    StmtKind kind;
    Loc loc;       // of the keyword or the assigned name
    char *name;    // param/weight/input/output/assigned name, loop variable
    Loc name_loc;
    ParamType type; // S_PARAM
    Expr *value;    // S_PARAM, S_WEIGHT, S_ASSIGN, S_OUTPUT; S_FOR: lower bound; S_BLOCK: name string
    Expr *hi;       // S_FOR: upper bound (exclusive)
    StmtList body;  // S_FOR, S_BLOCK
};

struct ModelAst {
    Source src;
    char *name;
    Loc name_loc;
    StmtList body;
};

Expr *ast_expr(ExprKind kind, Loc loc);
Expr *ast_binary(char op, Loc loc, Expr *lhs, Expr *rhs);
Expr *ast_neg(Loc loc, Expr *operand);
Expr *ast_call(char *name, Loc loc);
void ast_call_add_arg(Expr *call, char *name, Loc loc, Expr *value);
void ast_expr_free(Expr *e);

Stmt *ast_stmt(StmtKind kind, Loc loc);
void ast_stmt_list_add(StmtList *list, Stmt *s);
void ast_stmt_list_free(StmtList *list);
void ast_stmt_free(Stmt *s);

// ----------------------------------------------------------------------------
// parse.c / parser.y / lexer.l: the state shared by the scanner and the parser

typedef struct {
    const Source *src;
    AwqcError *err;
    bool failed;      // the first error wins; later ones are dropped
    int line, col;    // where the scanner stands
    Loc comment_start; // of the /* being skipped, for "unterminated comment"
    char *model_name; // results, owned until handed to the ModelAst
    Loc model_loc;
    StmtList body;
    bool done;
} ParseState;

#endif
