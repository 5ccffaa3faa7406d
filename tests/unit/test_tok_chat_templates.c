// test_tok_chat_templates.c: the chat template families tok_apply_chat_template
// writes out (ChatML, Llama 2, Llama 3), each picked from the template text in
// tokenizer_config.json, rendered for a multi-turn conversation and compared
// with hand-written expected strings.
#include <stdlib.h>
#include <string.h>

#include "runtime/tokenizer/tokenizer.h"
#include "test_support.h"

// ----------------------------------------------------------------------------
// A tiny byte-level tokenizer whose config carries the template under test

static const char TINY_JSON[] =
    "{\"version\":\"1.0\",\"added_tokens\":["
    "{\"id\":4,\"content\":\"<s>\",\"special\":true},{\"id\":5,\"content\":\"</s>\",\"special\":true},"
    "{\"id\":6,\"content\":\"<|begin_of_text|>\",\"special\":true},"
    "{\"id\":7,\"content\":\"<|eot_id|>\",\"special\":true}],"
    "\"normalizer\":null,\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,"
    "\"trim_offsets\":true,\"use_regex\":true},\"decoder\":{\"type\":\"ByteLevel\"},"
    "\"model\":{\"type\":\"BPE\",\"dropout\":null,\"unk_token\":null,"
    "\"vocab\":{\"h\":0,\"i\":1,\"a\":2,\"b\":3,\"<s>\":4,\"</s>\":5,\"<|begin_of_text|>\":6,\"<|eot_id|>\":7},"
    "\"merges\":[]}}";

static Tokenizer *tiny_with_config(const char *config) {
    AwqcError err;
    Tokenizer *t = tok_from_hf_text(TINY_JSON, strlen(TINY_JSON), config, "tiny", &err);
    CHECK_MSG(t != NULL, "%s", err.msg);
    return t;
}

static void expect_rendering(const char *what, const char *config, const ChatMessage *msgs, size_t n, bool gen,
                             const char *want) {
    Tokenizer *t = tiny_with_config(config);
    if (!t) return;
    AwqcError err;
    char *got = tok_apply_chat_template(t, msgs, n, gen, &err);
    CHECK_MSG(got && strcmp(got, want) == 0, "%s:\n  got  \"%s\"\n  want \"%s\"", what, got ? got : err.msg, want);
    free(got);
    tok_free(t);
}

static const ChatMessage CONVERSATION[] = {
    {"system", "Be brief."}, {"user", "Hi"}, {"assistant", " Hello! "}, {"user", "Again\n"}};

// ----------------------------------------------------------------------------
// The families

// SmolLM2's template shape: a default system prompt when none is given.
static const char CHATML_CONFIG[] =
    "{\"bos_token\":\"<s>\",\"eos_token\":\"</s>\",\"chat_template\":\"{% for message in messages %}"
    "{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\nYou are helpful.<|im_end|>\\n' }}"
    "{% endif %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}\"}";

static void check_chatml(void) {
    expect_rendering("chatml", CHATML_CONFIG, CONVERSATION, 4, true,
                     "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                     "<|im_start|>assistant\n Hello! <|im_end|>\n<|im_start|>user\nAgain\n<|im_end|>\n"
                     "<|im_start|>assistant\n");
    expect_rendering("chatml default system", CHATML_CONFIG, CONVERSATION + 1, 1, false,
                     "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n");
}

static const char LLAMA2_CONFIG[] =
    "{\"bos_token\":\"<s>\",\"eos_token\":\"</s>\",\"chat_template\":\"{{ bos_token }}{% for message in messages %}"
    "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] | trim + ' [/INST]' }}"
    "{% else %}{{ ' ' + message['content'] | trim + ' ' + eos_token }}{% endif %}{% endfor %}\"}";

static void check_llama2(void) {
    expect_rendering("llama2", LLAMA2_CONFIG, CONVERSATION, 4, true,
                     "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello! </s><s>[INST] Again [/INST]");
    expect_rendering("llama2 no system", LLAMA2_CONFIG, CONVERSATION + 1, 1, true, "<s>[INST] Hi [/INST]");
}

static const char LLAMA3_CONFIG[] =
    "{\"bos_token\":\"<|begin_of_text|>\",\"eos_token\":\"<|eot_id|>\",\"chat_template\":\"{% set loop_messages = "
    "messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + "
    "'<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content "
    "= bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}\"}";

static void check_llama3(void) {
    expect_rendering("llama3", LLAMA3_CONFIG, CONVERSATION, 4, true,
                     "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
                     "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
                     "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
                     "<|start_header_id|>user<|end_header_id|>\n\nAgain<|eot_id|>"
                     "<|start_header_id|>assistant<|end_header_id|>\n\n");
    expect_rendering("llama3 no generation prompt", LLAMA3_CONFIG, CONVERSATION + 1, 1, false,
                     "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>");
    Tokenizer *t = tiny_with_config(LLAMA3_CONFIG);
    if (t) CHECK(tok_is_eog(t, 7)); // generation ends at <|eot_id|>
    tok_free(t);
}

int main(void) {
    check_chatml();
    check_llama2();
    check_llama3();
    return test_result();
}
