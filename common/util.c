// util.c: checked allocation, user errors, invariants, file helpers and
// half-precision conversion shared by every module.
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>
#include <sys/stat.h>

// ----------------------------------------------------------------------------
// errors

bool awqc_vfail(AwqcError *err, const char *fmt, va_list ap) {
    if (err) vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    return false;
}

bool awqc_fail(AwqcError *err, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    awqc_vfail(err, fmt, ap);
    va_end(ap);
    return false;
}

void awqc_error_prefix(AwqcError *err, const char *fmt, ...) {
    if (!err) return;
    char prefix[1024], old[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    size_t n = strlen(prefix);
    if (n + 2 >= sizeof err->msg) n = sizeof err->msg - 3;
    memcpy(err->msg, prefix, n);
    memcpy(err->msg + n, ": ", 2);
    size_t room = sizeof err->msg - n - 3;
    size_t m = strnlen(old, room);
    memcpy(err->msg + n + 2, old, m);
    err->msg[n + 2 + m] = 0;
}

void awqc_panic_at(const char *file, int line, const char *fmt, ...) {
    fflush(stdout);
    fprintf(stderr, "awqc: internal error at %s:%d: ", file, line);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

// ----------------------------------------------------------------------------
// allocation

void *awqc_malloc_at(size_t n, const char *file, int line) {
    void *p = malloc(n ? n : 1);
    if (!p) awqc_panic_at(file, line, "out of memory allocating %zu bytes", n);
    return p;
}

void *awqc_calloc_at(size_t count, size_t size, const char *file, int line) {
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) awqc_panic_at(file, line, "out of memory allocating %zu x %zu bytes", count, size);
    return p;
}

void *awqc_realloc_at(void *p, size_t n, const char *file, int line) {
    void *q = realloc(p, n ? n : 1);
    if (!q) awqc_panic_at(file, line, "out of memory reallocating %zu bytes", n);
    return q;
}

char *awqc_strndup_at(const char *s, size_t n, const char *file, int line) {
    char *d = awqc_malloc_at(n + 1, file, line);
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

char *awqc_strdup_at(const char *s, const char *file, int line) {
    return awqc_strndup_at(s, strlen(s), file, line);
}

void awqc_grow_at(void **buf, size_t *cap, size_t need, size_t elem_size, const char *file, int line) {
    if (need <= *cap) return;
    size_t n = *cap ? *cap : 8;
    while (n < need) n *= 2;
    *buf = awqc_realloc_at(*buf, n * elem_size, file, line);
    *cap = n;
}

void sb_append_n(StrBuf *b, const char *s, size_t len) {
    GROW(b->s, b->cap, b->n + len + 1);
    memcpy(b->s + b->n, s, len);
    b->n += len;
    b->s[b->n] = '\0';
}

void sb_append(StrBuf *b, const char *s) { sb_append_n(b, s, strlen(s)); }

char *sb_finish(StrBuf *b) {
    if (!b->s) sb_append_n(b, "", 0);
    return b->s;
}

char *awqc_asprintf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    AWQC_ASSERT(n >= 0);
    char *s = xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

// ----------------------------------------------------------------------------
// files

char *awqc_read_file(const char *path, size_t *len, AwqcError *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        awqc_fail(err, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = xmalloc(cap);
    for (;;) {
        if (n + 1 >= cap) buf = xrealloc(buf, cap *= 2);
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) break;
    }
    bool bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        awqc_fail(err, "%s: read error", path);
        return NULL;
    }
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

bool awqc_write_atomic_with(const char *path, AwqcWriter write, void *user, AwqcError *err) {
    char *tmp = awqc_asprintf("%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        awqc_fail(err, "%s: cannot create: %s", tmp, strerror(errno));
        free(tmp);
        return false;
    }
    bool ok = write(f, user);
    ok = (fclose(f) == 0) && ok;
    if (ok && rename(tmp, path) != 0) ok = false;
    if (!ok) {
        awqc_fail(err, "%s: write failed: %s", path, strerror(errno));
        remove(tmp);
    }
    free(tmp);
    return ok;
}

typedef struct {
    const void *data;
    size_t len;
} Bytes;

static bool write_bytes(FILE *f, void *user) {
    const Bytes *b = user;
    return fwrite(b->data, 1, b->len, f) == b->len;
}

bool awqc_write_file_atomic(const char *path, const void *data, size_t len, AwqcError *err) {
    Bytes b = {data, len};
    return awqc_write_atomic_with(path, write_bytes, &b, err);
}

// Removes a flat folder and what it holds.
static void remove_folder(const char *staged) {
    DIR *d = opendir(staged);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char *p = awqc_asprintf("%s/%s", staged, e->d_name);
        remove(p);
        free(p);
    }
    closedir(d);
    rmdir(staged);
}

// Puts the finished folder staged at out, moving an earlier out aside first.
static bool move_folder_into_place(const char *staged, const char *out, AwqcError *err) {
    struct stat st;
    char *old = NULL;
    if (stat(out, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) return awqc_fail(err, "%s exists and is not a folder", out);
        old = awqc_asprintf("%s.old.%ld", out, (long)getpid());
        if (rename(out, old) != 0) {
            free(old);
            return awqc_fail(err, "%s: cannot move the earlier folder aside: %s", out, strerror(errno));
        }
    }
    bool ok = rename(staged, out) == 0;
    if (!ok) awqc_fail(err, "%s: cannot rename %s into place: %s", out, staged, strerror(errno));
    if (old) {
        if (ok) remove_folder(old);
        else rename(old, out);
    }
    free(old);
    return ok;
}

bool awqc_write_folder_atomic(const char *out, AwqcFolderWriter write, void *user, AwqcError *err) {
    char *staged = awqc_asprintf("%s.partial.%ld", out, (long)getpid());
    if (mkdir(staged, 0777) != 0) {
        awqc_fail(err, "%s: cannot create the output folder: %s", staged, strerror(errno));
        free(staged);
        return false;
    }
    bool ok = write(staged, user, err) && move_folder_into_place(staged, out, err);
    if (!ok) remove_folder(staged);
    free(staged);
    return ok;
}

char *awqc_default_model_path(void) {
    const char *env = getenv("AWQC_MODEL");
    if (env && *env) return xstrdup(env);
    const char *file = "SmolLM2-135M-Instruct.Q4_1.gguf";
    const char *dir = getenv("AWQC_CACHE_DIR");
    if (dir && *dir) return awqc_asprintf("%s/%s", dir, file);
    const char *xdg = getenv("XDG_CACHE_HOME");
    if (xdg && *xdg) return awqc_asprintf("%s/awqc/%s", xdg, file);
    const char *home = getenv("HOME");
    return awqc_asprintf("%s/.cache/awqc/%s", home && *home ? home : ".", file);
}

int awqc_cpu_feature(const char *feature) {
#if defined(__x86_64__) && defined(__GNUC__)
    if (strcmp(feature, "avx2") == 0) return __builtin_cpu_supports("avx2") != 0;
    if (strcmp(feature, "fma") == 0) return __builtin_cpu_supports("fma") != 0;
    if (strcmp(feature, "avx512f") == 0) return __builtin_cpu_supports("avx512f") != 0;
    if (strcmp(feature, "avx512bw") == 0) return __builtin_cpu_supports("avx512bw") != 0;
    if (strcmp(feature, "avx512vl") == 0) return __builtin_cpu_supports("avx512vl") != 0;
    if (strcmp(feature, "avx512dq") == 0) return __builtin_cpu_supports("avx512dq") != 0;
    if (strcmp(feature, "avx512vnni") == 0) return __builtin_cpu_supports("avx512vnni") != 0;
    if (strcmp(feature, "avx512bf16") == 0) return __builtin_cpu_supports("avx512bf16") != 0;
#endif
    (void)feature;
    return -1;
}

double awqc_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

// ----------------------------------------------------------------------------
// half precision

// Rounds mant >> shift to nearest, ties to even (shift in 1..31).
static uint32_t shift_round_even(uint32_t mant, int shift) {
    uint32_t kept = mant >> shift;
    uint32_t rest = mant & ((1u << shift) - 1);
    uint32_t half = 1u << (shift - 1);
    if (rest > half || (rest == half && (kept & 1))) kept++;
    return kept;
}

uint16_t awqc_f32_to_f16(float x) {
    uint32_t b;
    memcpy(&b, &x, sizeof b);
    uint16_t sign = (uint16_t)((b >> 16) & 0x8000);
    int exp = (int)((b >> 23) & 0xff);
    uint32_t mant = b & 0x7fffff;
    if (exp == 0xff) return (uint16_t)(sign | 0x7c00 | (mant ? 0x200 : 0)); // inf, or a quiet NaN
    int e = exp - 127 + 15; // the exponent re-biased for half
    if (e >= 31) return (uint16_t)(sign | 0x7c00);
    if (e <= 0) {
        // Half subnormal: the value in units of 2^-24 is mant24 * 2^(e - 14).
        int shift = 14 - e;
        if (shift > 24) return sign; // below half of the smallest subnormal
        return (uint16_t)(sign | shift_round_even(mant | 0x800000, shift));
    }
    // A carry out of the mantissa bumps the exponent, up to 0x7c00 = inf: correct.
    uint32_t h = ((uint32_t)e << 10) | (mant >> 13);
    uint32_t rest = mant & 0x1fff;
    if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) h++;
    return (uint16_t)(sign | h);
}

float awqc_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else { // subnormal: renormalise
            exp = 127 - 15 + 1;
            while (!(mant & 0x400)) {
                mant <<= 1;
                exp--;
            }
            bits = sign | (exp << 23) | ((mant & 0x3ff) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

float awqc_bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}
