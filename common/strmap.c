// strmap.c: see strmap.h. The tokenizer looks up every candidate merge here,
// so the probe loop stays small: one hash, then linear steps over three
// parallel arrays.
#include "strmap.h"

#include <stdlib.h>
#include <string.h>

// ----------------------------------------------------------------------------
// hashing and sizing

static uint64_t hash_bytes(const char *s, uint32_t len) {
    // FNV-1a, then a final mix so the low bits (the slot) depend on every byte.
    uint64_t h = 1469598103934665603ull;
    for (uint32_t i = 0; i < len; i++) {
        h ^= (uint8_t)s[i];
        h *= 1099511628211ull;
    }
    h ^= h >> 29;
    return h;
}

static size_t cap_for(size_t expected) {
    size_t cap = 16;
    while (cap < expected * 2 + 2) cap *= 2;
    return cap;
}

// ----------------------------------------------------------------------------
// the table

static void alloc_slots(StrMap *m, size_t cap) {
    m->cap = cap;
    m->count = 0;
    m->keys = xcalloc(m->cap, sizeof(*m->keys));
    m->key_lens = xcalloc(m->cap, sizeof(*m->key_lens));
    m->vals = xcalloc(m->cap, sizeof(*m->vals));
}

void strmap_init(StrMap *m, size_t expected) { alloc_slots(m, cap_for(expected)); }

void strmap_free(StrMap *m) {
    free(m->keys);
    free(m->key_lens);
    free(m->vals);
    memset(m, 0, sizeof(*m));
}

static void strmap_grow(StrMap *m) {
    StrMap bigger;
    alloc_slots(&bigger, m->cap ? m->cap * 2 : cap_for(0));
    for (size_t i = 0; i < m->cap; i++)
        if (m->keys[i]) strmap_put(&bigger, m->keys[i], m->key_lens[i], m->vals[i]);
    strmap_free(m);
    *m = bigger;
}

bool strmap_put(StrMap *m, const char *key, uint32_t len, int32_t val) {
    AWQC_ASSERT(key != NULL);
    if ((m->count + 1) * 2 > m->cap) strmap_grow(m);
    size_t mask = m->cap - 1;
    for (size_t i = hash_bytes(key, len) & mask;; i = (i + 1) & mask) {
        if (!m->keys[i]) {
            m->keys[i] = key;
            m->key_lens[i] = len;
            m->vals[i] = val;
            m->count++;
            return true;
        }
        if (m->key_lens[i] == len && memcmp(m->keys[i], key, len) == 0) return false;
    }
}

int32_t strmap_get(const StrMap *m, const char *key, uint32_t len) {
    if (m->cap == 0) return -1;
    size_t mask = m->cap - 1;
    for (size_t i = hash_bytes(key, len) & mask;; i = (i + 1) & mask) {
        if (!m->keys[i]) return -1;
        if (m->key_lens[i] == len && memcmp(m->keys[i], key, len) == 0) return m->vals[i];
    }
}
