// step_check.c: the input checks of step_check.h.
#include "runtime/step_check.h"

bool step_check_tokens(const int32_t *tokens, int n, int pos, int n_ctx, int64_t id_limit, AwqcError *err) {
    if (n <= 0) return awqc_fail(err, "nothing to evaluate: 0 tokens");
    if (pos + n > n_ctx)
        return awqc_fail(err, "%d tokens at position %d do not fit in the context of %d tokens", n, pos, n_ctx);
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || (id_limit >= 0 && tokens[i] >= id_limit))
            return awqc_fail(err, "token id %d at index %d is outside the vocabulary (%lld)", tokens[i], i,
                             (long long)id_limit);
    return true;
}
