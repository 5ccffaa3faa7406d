// tok_hash.c: the merge table the tokenizer's inner loop uses: (left id,
// right id) -> merge rank and merged id. Open addressing with linear probing,
// kept at most half full so probes stay short (token text -> id is the shared
// StrMap of common/strmap.h).
#include "runtime/tokenizer/tok_internal.h"

#include <stdlib.h>
#include <string.h>

// ----------------------------------------------------------------------------
// Hashing

static uint64_t hash_u64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

static size_t table_cap_for(size_t expected) {
    size_t cap = 16;
    while (cap < expected * 2 + 2) cap *= 2;
    return cap;
}

// ----------------------------------------------------------------------------
// PairMap

static uint64_t pair_key(int32_t left, int32_t right) {
    return (((uint64_t)(uint32_t)left << 32) | (uint32_t)right) + 1;
}

void pairmap_init(PairMap *m, size_t expected) {
    m->cap = table_cap_for(expected);
    m->count = 0;
    m->keys = xcalloc(m->cap, sizeof(*m->keys));
    m->ranks = xcalloc(m->cap, sizeof(*m->ranks));
    m->merged = xcalloc(m->cap, sizeof(*m->merged));
}

void pairmap_free(PairMap *m) {
    free(m->keys);
    free(m->ranks);
    free(m->merged);
    memset(m, 0, sizeof(*m));
}

static void pairmap_grow(PairMap *m) {
    PairMap bigger;
    pairmap_init(&bigger, m->cap);
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i]) continue;
        uint64_t k = m->keys[i] - 1;
        pairmap_put(&bigger, (int32_t)(k >> 32), (int32_t)(uint32_t)k, m->ranks[i], m->merged[i]);
    }
    pairmap_free(m);
    *m = bigger;
}

// A pair listed twice keeps its first (best) rank.
void pairmap_put(PairMap *m, int32_t left, int32_t right, int32_t rank, int32_t merged) {
    AWQC_ASSERT(m->cap > 0);
    if ((m->count + 1) * 2 > m->cap) pairmap_grow(m);
    uint64_t key = pair_key(left, right);
    size_t mask = m->cap - 1;
    for (size_t i = hash_u64(key) & mask;; i = (i + 1) & mask) {
        if (m->keys[i] == key) return;
        if (!m->keys[i]) {
            m->keys[i] = key;
            m->ranks[i] = rank;
            m->merged[i] = merged;
            m->count++;
            return;
        }
    }
}

bool pairmap_get(const PairMap *m, int32_t left, int32_t right, int32_t *rank, int32_t *merged) {
    if (m->cap == 0) return false;
    uint64_t key = pair_key(left, right);
    size_t mask = m->cap - 1;
    for (size_t i = hash_u64(key) & mask;; i = (i + 1) & mask) {
        if (m->keys[i] == key) {
            *rank = m->ranks[i];
            *merged = m->merged[i];
            return true;
        }
        if (!m->keys[i]) return false;
    }
}
