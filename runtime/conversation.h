// conversation.h: the messages of a chat session, rendered with the model's
// chat template and tokenized whole each turn (the KV session then runs only
// what differs from the cache), with the context-full policy of `awqc chat`:
// drop the oldest exchanges, never the system message.
#ifndef AWQC_CONVERSATION_H
#define AWQC_CONVERSATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/util.h"
#include "runtime/tokenizer/tokenizer.h"

typedef struct {
    ChatMessage *msgs; // role and content owned (heap strings)
    size_t n, cap;
} Conversation;

void conv_init(Conversation *c);
void conv_free(Conversation *c);
// Forgets all messages but a leading system one.
void conv_clear_turns(Conversation *c);
void conv_add(Conversation *c, const char *role, const char *content);
// Removes the last message (e.g. a user turn that could not be answered).
void conv_pop(Conversation *c);
// Drops the oldest exchange after the system message: the first message and
// everything up to the next user message. False when nothing but the system
// message and the last user message remain.
bool conv_drop_oldest(Conversation *c);

// The conversation rendered with the template (with the assistant's
// generation prompt) and tokenized with special tokens parsed and no extra BOS
// (the rendering carries the BOS text the template wants). Returns the count;
// -1 with err when the template is not supported.
int conv_tokenize(const Conversation *c, const Tokenizer *tok, int32_t **ids, AwqcError *err);

// Makes the rendering fit in n_ctx with room for `reserve` generated tokens,
// dropping the oldest exchanges while it does not. Returns the token count
// (ids filled) or -1 with err (template error, or even the last user message
// alone does not fit). *n_dropped gets the number of messages dropped.
int conv_fit(Conversation *c, const Tokenizer *tok, int n_ctx, int reserve, int32_t **ids, int *n_dropped,
             AwqcError *err);

#endif
