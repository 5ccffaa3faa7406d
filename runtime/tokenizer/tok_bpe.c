// tok_bpe.c: the BPE merge engine both tokenizer kinds share. A piece of text
// starts as one symbol per byte (byte-level) or per character (SentencePiece);
// the best adjacent pair is merged until none is left. A heap of candidate
// pairs keeps this O(n log n); stale candidates are skipped when popped.
#include "runtime/tokenizer/tok_internal.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

// ----------------------------------------------------------------------------
// Symbols and candidates

typedef struct {
    uint32_t start, len; // bytes of the working text; len 0 once merged away
    int32_t id;          // token of these bytes, -1 when they are no token
    int32_t prev, next;  // live neighbours, -1 at the ends
} Sym;

typedef struct {
    float prio;   // lower merges first: rank, or minus the SentencePiece score
    int32_t left; // left symbol; symbols are numbered left to right
    uint32_t len; // both symbols' bytes when queued: a change means it is stale
    int32_t id;   // the merged token
} Cand;

struct BpeWork {
    Sym *syms;
    size_t syms_cap;
    Cand *heap;
    size_t nheap, heap_cap;
    char *text; // the spelled or escaped copy of the piece
    size_t text_cap;
};

BpeWork *bpe_work_new(void) { return xcalloc(1, sizeof(BpeWork)); }

void bpe_work_free(BpeWork *w) {
    if (!w) return;
    free(w->syms);
    free(w->heap);
    free(w->text);
    free(w);
}

void idbuf_push(IdBuf *b, int32_t id) {
    GROW(b->ids, b->cap, b->n + 1);
    b->ids[b->n++] = id;
}

// ----------------------------------------------------------------------------
// The candidate heap (ties go to the leftmost pair, as both references do)

static bool cand_before(const Cand *a, const Cand *b) {
    return a->prio < b->prio || (a->prio == b->prio && a->left < b->left);
}

static void heap_push(BpeWork *w, Cand c) {
    GROW(w->heap, w->heap_cap, w->nheap + 1);
    size_t i = w->nheap++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!cand_before(&c, &w->heap[parent])) break;
        w->heap[i] = w->heap[parent];
        i = parent;
    }
    w->heap[i] = c;
}

static Cand heap_pop(BpeWork *w) {
    Cand top = w->heap[0];
    Cand last = w->heap[--w->nheap];
    size_t i = 0, n = w->nheap;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= n) break;
        if (child + 1 < n && cand_before(&w->heap[child + 1], &w->heap[child])) child++;
        if (!cand_before(&w->heap[child], &last)) break;
        w->heap[i] = w->heap[child];
        i = child;
    }
    if (n > 0) w->heap[i] = last;
    return top;
}

// ----------------------------------------------------------------------------
// Merging

bool bpe_spm_mergeable(uint8_t type) {
    // SentencePiece only builds normal pieces; byte and control tokens are
    // reached by fallback or special matching, never by merging.
    return type == TT_NORMAL || type == TT_USER || type == TT_UNUSED;
}

static bool find_merge(const Tokenizer *t, const char *text, const Sym *a, const Sym *b, Cand *c) {
    if (t->use_scores) {
        int32_t id = strmap_get(&t->piece_ids, text + a->start, a->len + b->len);
        if (id < 0 || !bpe_spm_mergeable(t->types[id])) return false;
        c->prio = -t->scores[id];
        c->id = id;
        return true;
    }
    int32_t rank;
    if (a->id < 0 || b->id < 0 || !pairmap_get(&t->merges, a->id, b->id, &rank, &c->id)) return false;
    c->prio = (float)rank; // exact: ranks stay far below 2^24
    return true;
}

static void queue_pair(const Tokenizer *t, BpeWork *w, const char *text, int32_t left) {
    if (left < 0) return;
    const Sym *a = &w->syms[left];
    if (a->next < 0) return;
    const Sym *b = &w->syms[a->next];
    Cand c = {.left = left, .len = a->len + b->len};
    if (find_merge(t, text, a, b, &c)) heap_push(w, c);
}

static bool cand_is_current(const BpeWork *w, const Cand *c) {
    const Sym *a = &w->syms[c->left];
    return a->len > 0 && a->next >= 0 && a->len + w->syms[a->next].len == c->len;
}

// Merges the n symbols in w->syms (linked in order) over text until no pair
// of neighbours makes a token.
static void run_merges(const Tokenizer *t, BpeWork *w, const char *text, size_t n) {
    w->nheap = 0;
    for (size_t i = 0; i + 1 < n; i++) queue_pair(t, w, text, (int32_t)i);
    while (w->nheap > 0) {
        Cand c = heap_pop(w);
        if (!cand_is_current(w, &c)) continue;
        Sym *a = &w->syms[c.left];
        Sym *b = &w->syms[a->next];
        a->len += b->len;
        a->id = c.id;
        a->next = b->next;
        if (b->next >= 0) w->syms[b->next].prev = c.left;
        b->len = 0;
        queue_pair(t, w, text, a->prev);
        queue_pair(t, w, text, c.left);
    }
}

static void link_symbols(BpeWork *w, size_t n) {
    for (size_t i = 0; i < n; i++) {
        w->syms[i].prev = (int32_t)i - 1;
        w->syms[i].next = i + 1 < n ? (int32_t)i + 1 : -1;
    }
}

// ----------------------------------------------------------------------------
// Byte-level pre-tokens

// The word as the vocabulary spells it (each byte as its alphabet character).
static uint32_t spell_bytes(BpeWork *w, const char *word, size_t len) {
    GROW(w->text, w->text_cap, len * 2);
    uint32_t n = 0;
    for (size_t i = 0; i < len; i++) {
        uint32_t cp = bytelevel_char_of((uint8_t)word[i]);
        if (cp < 0x80) {
            w->text[n++] = (char)cp;
        } else {
            w->text[n++] = (char)(0xc0 | (cp >> 6));
            w->text[n++] = (char)(0x80 | (cp & 0x3f));
        }
    }
    return n;
}

void bpe_encode_bytes(const Tokenizer *t, BpeWork *w, const char *word, size_t len, IdBuf *out) {
    if (t->ignore_merges) {
        // spell_bytes may move w->text: call it before reading the pointer.
        uint32_t n = spell_bytes(w, word, len);
        int32_t whole = strmap_get(&t->piece_ids, w->text, n);
        if (whole >= 0) {
            idbuf_push(out, whole);
            return;
        }
    }
    // A byte the vocabulary has no token for is dropped (HF does the same),
    // so its neighbours may still merge across it.
    GROW(w->syms, w->syms_cap, len);
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        int32_t id = t->byte_ids[(uint8_t)word[i]];
        if (id >= 0) w->syms[n++] = (Sym){.start = (uint32_t)i, .len = 1, .id = id};
    }
    if (n == 0) return;
    link_symbols(w, n);
    run_merges(t, w, word, n);
    for (int32_t i = 0; i >= 0; i = w->syms[i].next) idbuf_push(out, w->syms[i].id);
}

// ----------------------------------------------------------------------------
// SentencePiece segments

static const char SPM_SPACE[] = "\xe2\x96\x81"; // U+2581, SentencePiece's space

// Copies text with spaces escaped (and the leading one added) into w->text.
static size_t escape_spaces(BpeWork *w, const char *text, size_t len, bool prefix) {
    GROW(w->text, w->text_cap, len * 3 + 3);
    size_t n = 0;
    if (prefix) {
        memcpy(w->text, SPM_SPACE, 3);
        n = 3;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(w->text + n, SPM_SPACE, 3);
            n += 3;
        } else {
            w->text[n++] = text[i];
        }
    }
    return n;
}

int32_t bpe_spm_piece_id(const Tokenizer *t, const char *s, uint32_t len) {
    int32_t id = strmap_get(&t->piece_ids, s, len);
    return id >= 0 && bpe_spm_mergeable(t->types[id]) ? id : -1;
}

// One symbol per UTF-8 character; a malformed byte is a symbol of its own.
static size_t split_chars(const Tokenizer *t, BpeWork *w, size_t len) {
    GROW(w->syms, w->syms_cap, len);
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t step =
            utf8proc_iterate((const utf8proc_uint8_t *)w->text + i, (utf8proc_ssize_t)(len - i), &cp);
        if (step <= 0) step = 1;
        w->syms[n++] = (Sym){.start = (uint32_t)i, .len = (uint32_t)step,
                             .id = bpe_spm_piece_id(t, w->text + i, (uint32_t)step)};
        i += (size_t)step;
    }
    return n;
}

// A piece that is no token becomes its bytes' <0xAB> tokens (or unknown).
static void push_byte_fallback(const Tokenizer *t, const char *s, uint32_t len, IdBuf *out) {
    for (uint32_t i = 0; i < len; i++) {
        int32_t id = t->byte_ids[(uint8_t)s[i]];
        if (id < 0) id = t->unk;
        if (id >= 0) idbuf_push(out, id);
    }
}

void bpe_encode_spm(const Tokenizer *t, BpeWork *w, const char *text, size_t len, bool prefix, IdBuf *out) {
    size_t n_bytes = escape_spaces(w, text, len, prefix);
    if (n_bytes == 0) return;
    size_t n = split_chars(t, w, n_bytes);
    link_symbols(w, n);
    run_merges(t, w, w->text, n);
    for (int32_t i = 0; i >= 0; i = w->syms[i].next) {
        const Sym *s = &w->syms[i];
        if (s->id >= 0)
            idbuf_push(out, s->id);
        else
            push_byte_fallback(t, w->text + s->start, s->len, out);
    }
}
