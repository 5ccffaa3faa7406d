// util.h: the few helpers every module uses: checked allocation, a user-error
// value that carries a message up to the command line, internal invariants that
// abort loudly with file and line, and whole-file reading.
#ifndef AWQC_UTIL_H
#define AWQC_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

// ----------------------------------------------------------------------------
// User errors: a function that can fail on bad input returns false/NULL and
// fills an AwqcError. The message names the file and place ("file:line:col: ..."
// or "file: offset N: ...") and may span several lines (source line + caret).

typedef struct {
    char msg[2048];
} AwqcError;

// Formats into err (if err is non-NULL) and returns false, so callers can write
// `return awqc_fail(err, "...")`.
bool awqc_fail(AwqcError *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool awqc_vfail(AwqcError *err, const char *fmt, va_list ap);
// Prepends "prefix: " to an existing message (e.g. the checkpoint path).
void awqc_error_prefix(AwqcError *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

// ----------------------------------------------------------------------------
// Internal invariants: a broken one is a bug in awqc, not in the user's input.

_Noreturn void awqc_panic_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define AWQC_PANIC(...) awqc_panic_at(__FILE__, __LINE__, __VA_ARGS__)
#define AWQC_ASSERT(cond)                                                         \
    do {                                                                          \
        if (!(cond)) awqc_panic_at(__FILE__, __LINE__, "assertion failed: %s", #cond); \
    } while (0)

// ----------------------------------------------------------------------------
// Checked allocation: out of memory aborts with the caller's file and line.

void *awqc_malloc_at(size_t n, const char *file, int line);
void *awqc_calloc_at(size_t count, size_t size, const char *file, int line);
void *awqc_realloc_at(void *p, size_t n, const char *file, int line);
char *awqc_strdup_at(const char *s, const char *file, int line);
char *awqc_strndup_at(const char *s, size_t n, const char *file, int line);
#define xmalloc(n) awqc_malloc_at((n), __FILE__, __LINE__)
#define xcalloc(c, s) awqc_calloc_at((c), (s), __FILE__, __LINE__)
#define xrealloc(p, n) awqc_realloc_at((p), (n), __FILE__, __LINE__)
#define xstrdup(s) awqc_strdup_at((s), __FILE__, __LINE__)
#define xstrndup(s, n) awqc_strndup_at((s), (n), __FILE__, __LINE__)

// Grows *buf (of *cap elements of elem_size) so it holds at least need elements.
void awqc_grow_at(void **buf, size_t *cap, size_t need, size_t elem_size, const char *file, int line);
#define GROW(buf, cap, need) \
    awqc_grow_at((void **)&(buf), &(cap), (need), sizeof(*(buf)), __FILE__, __LINE__)

// A growing NUL-terminated string; start from StrBuf b = {0}.
typedef struct {
    char *s;
    size_t n, cap;
} StrBuf;
void sb_append_n(StrBuf *b, const char *s, size_t len);
void sb_append(StrBuf *b, const char *s);
// The string (never NULL, "" when nothing was appended); the caller frees it.
char *sb_finish(StrBuf *b);

// printf into a fresh heap string.
char *awqc_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

// ----------------------------------------------------------------------------
// Files

// Reads a whole file; the result is NUL-terminated (len excludes the NUL).
char *awqc_read_file(const char *path, size_t *len, AwqcError *err);

// Writes data to path atomically: a temp file beside it, then rename.
bool awqc_write_file_atomic(const char *path, const void *data, size_t len, AwqcError *err);

// The same for content produced piece by piece: write(f, user) fills the
// temp file (false on failure); the file appears at path only when write
// succeeded and everything reached the disk, else nothing is left behind.
typedef bool (*AwqcWriter)(FILE *f, void *user);
bool awqc_write_atomic_with(const char *path, AwqcWriter write, void *user, AwqcError *err);

// The same for a (flat) folder: write(dir, user, err) fills an empty
// "<out>.partial.<pid>" beside out; only when it succeeds is that renamed to
// out (an earlier out, which must be a folder, is moved aside and removed
// once the new one is in place), else it is removed.
typedef bool (*AwqcFolderWriter)(const char *dir, void *user, AwqcError *err);
bool awqc_write_folder_atomic(const char *out, AwqcFolderWriter write, void *user, AwqcError *err);

// Where the set-up script caches the default model (SmolLM2-135M-Instruct
// Q4_1 GGUF): $AWQC_MODEL if set, else $AWQC_CACHE_DIR, $XDG_CACHE_HOME/awqc or
// ~/.cache/awqc, + "/SmolLM2-135M-Instruct.Q4_1.gguf". Heap string.
char *awqc_default_model_path(void);

// Seconds on a monotonic clock.
double awqc_now(void);

// Whether this machine's CPU has an x86 feature named as LLVM spells it
// ("avx2", "avx512vnni", ...): 1 yes, 0 no, -1 a feature this check does not
// know (or not an x86 machine).
int awqc_cpu_feature(const char *feature);

// IEEE half / bfloat16 to float.
float awqc_f16_to_f32(uint16_t h);
// IEEE binary16 bits of x, rounded to nearest even on the bits (no dependence on
// the compiler's or CPU's half support); overflow gives infinity, NaN stays a
// quiet NaN. The inverse of awqc_f16_to_f32 for every f16 value.
uint16_t awqc_f32_to_f16(float x);
float awqc_bf16_to_f32(uint16_t h);

// A parallel for over the loop that follows, where the file is built with
// OpenMP (the fuzz build compiles the readers without it: then a plain loop,
// and no unknown-pragma warning).
#ifdef _OPENMP
#define AWQC_OMP_PARALLEL_FOR _Pragma("omp parallel for schedule(static)")
#else
#define AWQC_OMP_PARALLEL_FOR
#endif

// ----------------------------------------------------------------------------
// Little-endian fields of the file formats (GGUF, safetensors, packed weight
// blobs, the .awqx artifact), whatever the host's byte order: n bytes at p.

static inline uint64_t awqc_load_le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static inline void awqc_store_le(uint8_t *p, uint64_t v, int n) {
    for (int i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
}

#endif
