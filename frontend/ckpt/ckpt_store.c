// ckpt_store.c: the plumbing the format readers share: read-only mmaps, the
// name index behind metadata and tensor lookups, adding entries to a
// Checkpoint (string arrays packed into one block), and shape arithmetic that
// cannot overflow.
#include "frontend/ckpt/ckpt_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

// ----------------------------------------------------------------------------
// File maps

bool ckpt_map_file(const char *path, CkptMap *m, AwqcError *err) {
    memset(m, 0, sizeof *m);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return awqc_fail(err, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return awqc_fail(err, "%s: not a regular file", path);
    }
    if (st.st_size > 0) {
        // A read-only private map: the checkpoint is never written through it.
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            return awqc_fail(err, "%s: cannot mmap: %s", path, strerror(e));
        }
        m->data = p;
    }
    close(fd);
    m->size = (size_t)st.st_size;
    m->path = xstrdup(path);
    return true;
}

void ckpt_unmap(CkptMap *m) {
    if (m->data) munmap((void *)m->data, m->size);
    free(m->path);
    memset(m, 0, sizeof *m);
}

// ----------------------------------------------------------------------------
// Name index

// Ids stay below INT32_MAX (the callers cap their counts there), so they fit
// the map's values; keys are names read from files, far below 4 GiB.
static uint32_t key_len(const char *key) {
    size_t n = strlen(key);
    AWQC_ASSERT(n <= UINT32_MAX);
    return (uint32_t)n;
}

int64_t name_index_find(const NameIndex *ix, const char *key) {
    return strmap_get(ix, key, key_len(key));
}

bool name_index_insert(NameIndex *ix, const char *key, uint32_t id) {
    AWQC_ASSERT(id <= INT32_MAX);
    return strmap_put(ix, key, key_len(key), (int32_t)id);
}

void name_index_free(NameIndex *ix) { strmap_free(ix); }

// ----------------------------------------------------------------------------
// Building a Checkpoint

Checkpoint *ckpt_new(CkptFormat format, const char *path, const char *dir) {
    Checkpoint *c = xcalloc(1, sizeof *c);
    c->format = format;
    c->path = xstrdup(path);
    c->dir = xstrdup(dir);
    return c;
}

CkptMeta *ckpt_add_meta(Checkpoint *c, char *key, AwqcError *err) {
    bool full = c->n_meta >= INT32_MAX;
    if (full || !name_index_insert(&c->meta_index, key, (uint32_t)c->n_meta)) {
        if (full) awqc_fail(err, "too many metadata keys (at most %d)", INT32_MAX);
        else awqc_fail(err, "duplicate metadata key '%s'", key);
        free(key);
        return NULL;
    }
    GROW(c->meta, c->cap_meta, c->n_meta + 1);
    CkptMeta *m = &c->meta[c->n_meta++];
    memset(m, 0, sizeof *m);
    m->key = key;
    return m;
}

CkptEntry *ckpt_add_tensor(Checkpoint *c, char *name, AwqcError *err) {
    bool full = c->n_tensors >= INT32_MAX;
    if (full || !name_index_insert(&c->tensor_index, name, (uint32_t)c->n_tensors)) {
        if (full) awqc_fail(err, "too many tensors (at most %d)", INT32_MAX);
        else awqc_fail(err, "duplicate tensor name '%s'", name);
        free(name);
        return NULL;
    }
    GROW(c->tensors, c->cap_tensors, c->n_tensors + 1);
    CkptEntry *e = &c->tensors[c->n_tensors++];
    memset(e, 0, sizeof *e);
    e->info.name = name;
    e->parts[0] = e->parts[1] = e->parts[2] = -1;
    return e;
}

StrPack strpack_new(size_t n, size_t total_len) {
    AWQC_ASSERT(n <= (SIZE_MAX - total_len) / (sizeof(char *) + 1));
    char **strs = xmalloc(n * sizeof(char *) + total_len + n);
    return (StrPack){.strs = strs, .next = (char *)(strs + n), .n = n};
}

void strpack_add(StrPack *p, const char *s, size_t len) {
    AWQC_ASSERT(p->added < p->n);
    memcpy(p->next, s, len);
    p->next[len] = 0;
    p->strs[p->added++] = p->next;
    p->next += len + 1;
}

void ckpt_meta_take_strings(CkptMeta *m, StrPack *p) {
    AWQC_ASSERT(p->added == p->n);
    m->kind = META_ARRAY;
    m->arr.elem_kind = META_STRING;
    m->arr.len = p->n;
    m->arr.strs = (const char *const *)p->strs;
    m->arr_storage = p->strs;
    *p = (StrPack){0};
}

int64_t ckpt_add_map(Checkpoint *c, const char *path, AwqcError *err) {
    CkptMap m;
    if (!ckpt_map_file(path, &m, err)) return -1;
    GROW(c->maps, c->cap_maps, c->n_maps + 1);
    c->maps[c->n_maps] = m;
    return (int64_t)c->n_maps++;
}

// ----------------------------------------------------------------------------
// Shape arithmetic and paths

bool ckpt_checked_product(const int64_t *dims, int rank, int64_t *out) {
    int64_t p = 1;
    for (int i = 0; i < rank; i++) {
        if (dims[i] < 0) return false;
        if (dims[i] != 0 && p > INT64_MAX / dims[i]) return false;
        p *= dims[i];
    }
    *out = p;
    return true;
}

char *ckpt_dirname(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return xstrdup(".");
    if (slash == path) return xstrdup("/");
    return xstrndup(path, (size_t)(slash - path));
}
