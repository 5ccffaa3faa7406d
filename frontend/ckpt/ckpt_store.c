// ckpt_store.c: the plumbing the format readers share: read-only mmaps, the
// name index behind metadata and tensor lookups, adding entries to a
// Checkpoint, and shape arithmetic that cannot overflow.
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

static uint64_t hash_name(const char *s) {
    uint64_t h = 1469598103934665603ull; // FNV-1a
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static void name_index_place(NameIndex *ix, const char *key, uint32_t id) {
    size_t mask = ix->cap - 1, i = (size_t)hash_name(key) & mask;
    while (ix->keys[i]) i = (i + 1) & mask;
    ix->keys[i] = key;
    ix->ids[i] = id;
}

static void name_index_grow(NameIndex *ix) {
    NameIndex old = *ix;
    ix->cap = old.cap ? old.cap * 2 : 64;
    ix->keys = xcalloc(ix->cap, sizeof *ix->keys);
    ix->ids = xcalloc(ix->cap, sizeof *ix->ids);
    for (size_t i = 0; i < old.cap; i++)
        if (old.keys[i]) name_index_place(ix, old.keys[i], old.ids[i]);
    free(old.keys);
    free(old.ids);
}

int64_t name_index_find(const NameIndex *ix, const char *key) {
    if (!ix->cap) return -1;
    size_t mask = ix->cap - 1, i = (size_t)hash_name(key) & mask;
    for (; ix->keys[i]; i = (i + 1) & mask)
        if (strcmp(ix->keys[i], key) == 0) return ix->ids[i];
    return -1;
}

bool name_index_insert(NameIndex *ix, const char *key, uint32_t id) {
    if (name_index_find(ix, key) >= 0) return false;
    // Keep the load under one half so probe chains stay short.
    if ((ix->used + 1) * 2 > ix->cap) name_index_grow(ix);
    name_index_place(ix, key, id);
    ix->used++;
    return true;
}

void name_index_free(NameIndex *ix) {
    free(ix->keys);
    free(ix->ids);
    memset(ix, 0, sizeof *ix);
}

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
    if (!name_index_insert(&c->meta_index, key, (uint32_t)c->n_meta)) {
        awqc_fail(err, "duplicate metadata key '%s'", key);
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
    if (c->n_tensors >= UINT32_MAX || !name_index_insert(&c->tensor_index, name, (uint32_t)c->n_tensors)) {
        awqc_fail(err, "duplicate tensor name '%s'", name);
        free(name);
        return NULL;
    }
    GROW(c->tensors, c->cap_tensors, c->n_tensors + 1);
    CkptEntry *e = &c->tensors[c->n_tensors++];
    memset(e, 0, sizeof *e);
    e->info.name = name;
    return e;
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
