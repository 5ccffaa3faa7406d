// ast.c: constructing and freeing the syntax tree of a model description.
// The grammar (parser.y) builds it bottom-up; lowering only reads it, so one
// AST can be lowered against many checkpoints.
#include <stdlib.h>

#include "lang_internal.h"

// ----------------------------------------------------------------------------
// expressions

Expr *ast_expr(ExprKind kind, Loc loc) {
    Expr *e = xcalloc(1, sizeof *e);
    e->kind = kind;
    e->loc = loc;
    e->depth = 1;
    return e;
}

static int deeper(int a, int b) { return a > b ? a : b; }

Expr *ast_binary(char op, Loc loc, Expr *lhs, Expr *rhs) {
    Expr *e = ast_expr(op == 'o' || op == 'd' ? E_FALLBACK : E_BINARY, loc);
    e->op = op;
    e->lhs = lhs;
    e->rhs = rhs;
    e->depth = 1 + deeper(lhs->depth, rhs->depth);
    return e;
}

Expr *ast_neg(Loc loc, Expr *operand) {
    Expr *e = ast_expr(E_NEG, loc);
    e->lhs = operand;
    e->depth = 1 + operand->depth;
    return e;
}

Expr *ast_call(char *name, Loc loc) {
    Expr *e = ast_expr(E_CALL, loc);
    e->str = name;
    return e;
}

void ast_call_add_arg(Expr *call, char *name, Loc loc, Expr *value) {
    GROW(call->args, call->cap_args, call->n_args + 1);
    call->args[call->n_args++] = (Arg){.name = name, .loc = loc, .value = value};
    call->depth = deeper(call->depth, 1 + value->depth);
}

void ast_expr_free(Expr *e) {
    if (!e) return;
    free(e->str);
    ast_expr_free(e->lhs);
    ast_expr_free(e->rhs);
    for (size_t i = 0; i < e->n_args; i++) {
        free(e->args[i].name);
        ast_expr_free(e->args[i].value);
    }
    free(e->args);
    free(e);
}

// ----------------------------------------------------------------------------
// statements

Stmt *ast_stmt(StmtKind kind, Loc loc) {
    Stmt *s = xcalloc(1, sizeof *s);
    s->kind = kind;
    s->loc = loc;
    s->name_loc = loc;
    return s;
}

void ast_stmt_list_add(StmtList *list, Stmt *s) {
    GROW(list->items, list->cap, list->n + 1);
    list->items[list->n++] = s;
}

void ast_stmt_list_free(StmtList *list) {
    for (size_t i = 0; i < list->n; i++) ast_stmt_free(list->items[i]);
    free(list->items);
    *list = (StmtList){0};
}

void ast_stmt_free(Stmt *s) {
    if (!s) return;
    free(s->name);
    ast_expr_free(s->value);
    ast_expr_free(s->hi);
    ast_stmt_list_free(&s->body);
    free(s);
}

// ----------------------------------------------------------------------------
// the model

void lang_ast_free(ModelAst *ast) {
    if (!ast) return;
    free(ast->src.path);
    free(ast->src.text);
    free(ast->name);
    ast_stmt_list_free(&ast->body);
    free(ast);
}

const char *lang_model_name(const ModelAst *ast) {
    return ast->name;
}
