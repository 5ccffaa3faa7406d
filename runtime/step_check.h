// step_check.h: what every engine (interpreter, compiled CPU code, GPU)
// checks before running tokens, so they all refuse the same inputs with the
// same words.
#ifndef AWQC_STEP_CHECK_H
#define AWQC_STEP_CHECK_H

#include <stdbool.h>
#include <stdint.h>

#include "common/util.h"

// n > 0 tokens at position pos must fit in n_ctx, and every id must be in
// [0, id_limit) (id_limit < 0: no embedding, any id >= 0). False with err.
bool step_check_tokens(const int32_t *tokens, int n, int pos, int n_ctx, int64_t id_limit, AwqcError *err);

#endif
