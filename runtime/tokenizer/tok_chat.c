// tok_chat.c: renders a conversation the way the model's chat template would.
// No Jinja interpreter: the template is recognised by its markers (ChatML's
// <|im_start|>, Llama 2's [INST], Llama 3's <|start_header_id|>) and the
// format is written out directly; the default system prompt, if any, is read
// out of the template's own text.
#include "runtime/tokenizer/tok_internal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

// ----------------------------------------------------------------------------
// The default system prompt inside a ChatML template

static const char CHATML_SYSTEM[] = "<|im_start|>system";
static const char CHATML_END[] = "<|im_end|>";

// Reads a Jinja string literal's body from s up to end, undoing its escapes.
// Fails when the body is no plain literal (a quote or an expression ends it).
static char *unescape_literal(const char *s, const char *end) {
    StrBuf b = {0};
    for (const char *p = s; p < end; p++) {
        if (*p == '\'' || *p == '"' || (*p == '{' && p + 1 < end && (p[1] == '{' || p[1] == '%'))) {
            free(b.s);
            return NULL;
        }
        if (*p != '\\' || p + 1 == end) {
            sb_append_n(&b, p, 1);
            continue;
        }
        p++;
        char c = *p == 'n' ? '\n' : *p == 't' ? '\t' : *p;
        sb_append_n(&b, &c, 1);
    }
    return sb_finish(&b);
}

// The text of the first "<|im_start|>system\n...<|im_end|>" literal, or NULL.
static char *chatml_default_system(const char *tmpl) {
    for (const char *p = strstr(tmpl, CHATML_SYSTEM); p; p = strstr(p + 1, CHATML_SYSTEM)) {
        const char *body = p + strlen(CHATML_SYSTEM);
        if (body[0] == '\n')
            body += 1;
        else if (body[0] == '\\' && body[1] == 'n')
            body += 2;
        else
            continue;
        const char *end = strstr(body, CHATML_END);
        char *text = end ? unescape_literal(body, end) : NULL;
        if (text) return text;
    }
    return NULL;
}

// ----------------------------------------------------------------------------
// ChatML

static void chatml_turn(StrBuf *b, const char *role, const char *content) {
    sb_append(b, "<|im_start|>");
    sb_append(b, role);
    sb_append(b, "\n");
    sb_append(b, content);
    sb_append(b, "<|im_end|>\n");
}

static char *render_chatml(const Tokenizer *t, const ChatMessage *msgs, size_t n, bool add_generation_prompt) {
    StrBuf b = {0};
    if (n > 0 && strcmp(msgs[0].role, "system") != 0) {
        char *sys = chatml_default_system(t->chat_template);
        if (sys) chatml_turn(&b, "system", sys);
        free(sys);
    }
    for (size_t i = 0; i < n; i++) chatml_turn(&b, msgs[i].role, msgs[i].content);
    if (add_generation_prompt) sb_append(&b, "<|im_start|>assistant\n");
    return sb_finish(&b);
}

// ----------------------------------------------------------------------------
// Llama 2: <s>[INST] <<SYS>>\nsys\n<</SYS>>\n\nuser [/INST] answer </s>

static void append_trimmed(StrBuf *b, const char *s) {
    while (*s && isspace((unsigned char)*s)) s++;
    size_t len = strlen(s);
    while (len > 0 && isspace((unsigned char)s[len - 1])) len--;
    sb_append_n(b, s, len);
}

static const char *piece_or(const Tokenizer *t, int32_t id, const char *fallback) {
    return id >= 0 && t->pieces[id] ? t->pieces[id] : fallback;
}

static char *render_llama2(const Tokenizer *t, const ChatMessage *msgs, size_t n) {
    StrBuf b = {0};
    const char *system = n > 0 && strcmp(msgs[0].role, "system") == 0 ? msgs[0].content : NULL;
    for (size_t i = system ? 1 : 0; i < n; i++) {
        if (strcmp(msgs[i].role, "assistant") == 0) {
            sb_append(&b, " ");
            append_trimmed(&b, msgs[i].content);
            sb_append(&b, " ");
            sb_append(&b, piece_or(t, t->eos, "</s>"));
            continue;
        }
        sb_append(&b, piece_or(t, t->bos, "<s>"));
        sb_append(&b, "[INST] ");
        if (system) {
            sb_append(&b, "<<SYS>>\n");
            append_trimmed(&b, system);
            sb_append(&b, "\n<</SYS>>\n\n");
            system = NULL;
        }
        append_trimmed(&b, msgs[i].content);
        sb_append(&b, " [/INST]");
    }
    return sb_finish(&b);
}

// ----------------------------------------------------------------------------
// Llama 3: <|begin_of_text|><|start_header_id|>role<|end_header_id|>\n\ntext<|eot_id|>
// (the contents trimmed, as the template's `| trim` does; no default system
// prompt: Llama 3.1's dated one is not reproduced)

static char *render_llama3(const Tokenizer *t, const ChatMessage *msgs, size_t n, bool add_generation_prompt) {
    StrBuf b = {0};
    sb_append(&b, piece_or(t, t->bos, "<|begin_of_text|>"));
    for (size_t i = 0; i < n; i++) {
        sb_append(&b, "<|start_header_id|>");
        sb_append(&b, msgs[i].role);
        sb_append(&b, "<|end_header_id|>\n\n");
        append_trimmed(&b, msgs[i].content);
        sb_append(&b, "<|eot_id|>");
    }
    if (add_generation_prompt) sb_append(&b, "<|start_header_id|>assistant<|end_header_id|>\n\n");
    return sb_finish(&b);
}

// ----------------------------------------------------------------------------

char *tok_apply_chat_template(const Tokenizer *t, const ChatMessage *msgs, size_t n, bool add_generation_prompt,
                              AwqcError *err) {
    if (!t->chat_template) {
        awqc_fail(err, "chat template not supported: the model has no chat template");
        return NULL;
    }
    if (strstr(t->chat_template, "<|im_start|>")) return render_chatml(t, msgs, n, add_generation_prompt);
    if (strstr(t->chat_template, "<|start_header_id|>")) return render_llama3(t, msgs, n, add_generation_prompt);
    if (strstr(t->chat_template, "[INST]") && strstr(t->chat_template, "[/INST]")) return render_llama2(t, msgs, n);
    awqc_fail(err, "chat template not supported: %.120s%s", t->chat_template,
              strlen(t->chat_template) > 120 ? "..." : "");
    return NULL;
}
