// strmap.h: a hash table from byte strings to small integer ids, shared by the
// tokenizer (token text -> id, on its hot path) and the checkpoint readers
// (metadata key / tensor name -> index). Keys are borrowed, not copied.
#ifndef AWQC_STRMAP_H
#define AWQC_STRMAP_H

#include "common/util.h"

// Open addressing with linear probing, kept at most half full. A zeroed
// StrMap is a valid empty map.
typedef struct {
    const char **keys;  // point into memory the caller keeps alive and unchanged
    uint32_t *key_lens;
    int32_t *vals;
    size_t cap; // power of two; 0 when nothing was ever added
    size_t count;
} StrMap;

// Reserves room for `expected` keys (optional: strmap_put grows as needed).
void strmap_init(StrMap *m, size_t expected);
void strmap_free(StrMap *m);
// Adds key -> val; when key is already present the first value stays and
// false is returned.
bool strmap_put(StrMap *m, const char *key, uint32_t len, int32_t val);
// The value stored for key, or -1.
int32_t strmap_get(const StrMap *m, const char *key, uint32_t len);

#endif
