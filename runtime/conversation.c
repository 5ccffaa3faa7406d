// conversation.c: chat messages kept for a multi-turn session, their
// tokenized rendering, and dropping the oldest exchanges when the context is
// full (the system message always stays).
#include "runtime/conversation.h"

#include <stdlib.h>
#include <string.h>

// ----------------------------------------------------------------------------
// Messages

void conv_init(Conversation *c) { *c = (Conversation){0}; }

static void free_message(ChatMessage *m) {
    free((char *)m->role);
    free((char *)m->content);
}

void conv_free(Conversation *c) {
    for (size_t i = 0; i < c->n; i++) free_message(&c->msgs[i]);
    free(c->msgs);
    *c = (Conversation){0};
}

static bool has_system(const Conversation *c) { return c->n > 0 && strcmp(c->msgs[0].role, "system") == 0; }

void conv_clear_turns(Conversation *c) {
    size_t keep = has_system(c) ? 1 : 0;
    for (size_t i = keep; i < c->n; i++) free_message(&c->msgs[i]);
    c->n = keep;
}

void conv_add(Conversation *c, const char *role, const char *content) {
    GROW(c->msgs, c->cap, c->n + 1);
    c->msgs[c->n++] = (ChatMessage){xstrdup(role), xstrdup(content)};
}

void conv_pop(Conversation *c) {
    AWQC_ASSERT(c->n > 0);
    free_message(&c->msgs[--c->n]);
}

bool conv_drop_oldest(Conversation *c) {
    size_t first = has_system(c) ? 1 : 0;
    size_t end = first + 1; // the exchange runs up to the next user message
    while (end < c->n && strcmp(c->msgs[end].role, "user") != 0) end++;
    if (end >= c->n) return false; // that would drop the message being answered
    for (size_t i = first; i < end; i++) free_message(&c->msgs[i]);
    memmove(c->msgs + first, c->msgs + end, (c->n - end) * sizeof *c->msgs);
    c->n -= end - first;
    return true;
}

// ----------------------------------------------------------------------------
// Rendering

int conv_tokenize(const Conversation *c, const Tokenizer *tok, int32_t **ids, AwqcError *err) {
    char *text = tok_apply_chat_template(tok, c->msgs, c->n, true, err);
    if (!text) return -1;
    size_t n = tok_encode(tok, text, strlen(text), false, true, ids);
    free(text);
    return (int)n;
}

int conv_fit(Conversation *c, const Tokenizer *tok, int n_ctx, int reserve, int32_t **ids, int *n_dropped,
             AwqcError *err) {
    *n_dropped = 0;
    for (;;) {
        int n = conv_tokenize(c, tok, ids, err);
        if (n < 0) return -1;
        if (n + reserve <= n_ctx) return n;
        free(*ids);
        *ids = NULL;
        size_t before = c->n;
        if (!conv_drop_oldest(c)) {
            awqc_fail(err, "the message needs %d tokens (with the chat template) plus %d for the answer, "
                           "more than the context of %d tokens",
                      n, reserve, n_ctx);
            return -1;
        }
        *n_dropped += (int)(before - c->n);
    }
}
