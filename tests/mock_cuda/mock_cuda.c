// mock_cuda.c: a stand-in libcuda.so.1 that runs no kernel but checks every
// driver call the GPU runtime makes, so its host side (module loading, kernel
// names, launch shapes, the KArgs block, buffer extents, CUDA-graph capture)
// is exercised on machines without a GPU (tests/cli/cuda_mock.sh).
//
// Device memory is one reserved address range; an allocation is a mapped
// piece of it, and a freed one is unmapped again. A call that breaks a rule
// the real driver enforces (or that would corrupt memory on a GPU) prints
// "mock-cuda: violation: ..." and returns an error, so the runtime fails
// loudly. Checked:
//   - copies and memsets lie inside one live allocation;
//   - a kernel name is an entry of the loaded module (PTX .entry, or a symbol
//     of a cubin's ELF string table);
//   - launch shapes: block <= 1024 threads, grid y/z <= 65535, dynamic shared
//     memory <= 48 KiB unless cuFuncSetAttribute raised the limit (<= 227 KiB);
//   - each parameter is read at the size its PTX .param declares, and every
//     8-byte word in it that points into device memory points into a live
//     allocation;
//   - during stream capture (thread-local mode) no synchronous copy, memset,
//     allocation, free or synchronisation; captured launches are checked
//     again at each graph launch;
//   - awqc's own rule: no kernel is looked up (cuModuleGetFunction, where
//     lazy loading loads it) while a stream is captured;
//   - the calling thread has the context current (cuCtxSetCurrent is per
//     thread: a server's worker thread must set it too).
// At exit it prints a summary line (launches, kernels, graph launches, bytes
// live, violations) to stderr, and to $AWQC_MOCK_CUDA_LOG when that is set.
// The compute capability is $AWQC_MOCK_CUDA_SM (default 90).
// Kernel results are not computed unless $AWQC_MOCK_CUDA_EMU names a folder:
// then every launch runs the kernel on the CPU (mock_emu.c, cuda_emu.hpp) at
// once, and a graph launch runs its captured launches in order, so device
// memory holds what a GPU would have computed.
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "mock_emu.h"

typedef int CUresult;
typedef unsigned long long CUdeviceptr;

enum {
    OK = 0,
    ERR_INVALID_VALUE = 1,
    ERR_INVALID_IMAGE = 200,
    ERR_INVALID_CONTEXT = 201,
    ERR_INVALID_HANDLE = 400,
    ERR_NOT_FOUND = 500,
    ERR_LAUNCH = 719,
    ERR_CAPTURE_UNSUPPORTED = 900,
};

#define DEVICE_RANGE (64ULL << 30) // reserved, mapped piece by piece
#define PAGE 4096ULL
#define MAX_PARAMS 16

// ----------------------------------------------------------------------------
// state

typedef struct {
    CUdeviceptr base;
    size_t size, mapped;
    bool live;
} Alloc;

typedef struct {
    char name[128];
    int n_params;
    int param_size[MAX_PARAMS]; // bytes, from the PTX; 0 when unknown (a cubin)
    int max_dyn_smem;
    bool emu_checked; // its parameter agrees with the emulated kernels' KArgs
} Func;

typedef struct {
    Func *f;
    unsigned grid[3], block[3], smem;
    unsigned char params[MAX_PARAMS][256];
} Launch;

typedef struct {
    Launch *launches;
    size_t n, cap;
} Graph;

static struct {
    unsigned char *range;
    size_t used;
    Alloc *allocs;
    size_t n_allocs, cap_allocs;
    Func *funcs[4096];
    size_t n_funcs;
    void *capturing; // the stream being captured, or NULL
    Graph *capture;
    unsigned long long launches, graph_launches, violations;
} mock;

static void violation(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "mock-cuda: violation: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    mock.violations++;
}

static void *grow(void *p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return p;
    *cap = need * 2 + 8;
    p = realloc(p, *cap * elem);
    if (!p) abort();
    return p;
}

// ----------------------------------------------------------------------------
// device memory

static bool in_range(CUdeviceptr p) {
    CUdeviceptr base = (CUdeviceptr)(uintptr_t)mock.range;
    return mock.range && p >= base && p < base + DEVICE_RANGE;
}

static Alloc *find_alloc(CUdeviceptr p) {
    for (size_t i = 0; i < mock.n_allocs; i++) {
        Alloc *a = &mock.allocs[i];
        if (a->live && p >= a->base && p < a->base + a->size) return a;
    }
    return NULL;
}

// Whether [p, p + n) lies inside one live allocation; a violation if not.
static bool span_ok(CUdeviceptr p, size_t n, const char *call) {
    Alloc *a = find_alloc(p);
    if (a && n <= a->base + a->size - p) return true;
    if (a)
        violation("%s: %zu bytes at offset %llu of a %zu-byte allocation run past its end", call, n, p - a->base,
                  a->size);
    else violation("%s: address 0x%llx is not in a live allocation", call, p);
    return false;
}

static int ctx_token;
static __thread bool ctx_current; // cuCtxSetCurrent(the primary context) on this thread

// True (and a violation) when the calling thread has no current context.
static bool no_context(const char *call) {
    if (ctx_current) return false;
    violation("%s on a thread with no current context (cuCtxSetCurrent is per thread)", call);
    return true;
}
#define NEED_CONTEXT(call) \
    do { \
        if (no_context(call)) return ERR_INVALID_CONTEXT; \
    } while (0)

static bool capture_forbids(const char *call) {
    if (!mock.capturing) return false;
    violation("%s while a stream is being captured (not allowed in thread-local capture mode)", call);
    return true;
}

CUresult cuMemAlloc_v2(CUdeviceptr *p, size_t bytes) {
    NEED_CONTEXT("cuMemAlloc");
    if (capture_forbids("cuMemAlloc")) return ERR_CAPTURE_UNSUPPORTED;
    if (!p || bytes == 0) return ERR_INVALID_VALUE;
    size_t mapped = (bytes + PAGE - 1) / PAGE * PAGE;
    if (mock.used + mapped > DEVICE_RANGE) return 2; // CUDA_ERROR_OUT_OF_MEMORY
    unsigned char *at = mock.range + mock.used;
    if (mprotect(at, mapped, PROT_READ | PROT_WRITE) != 0) return 2;
    mock.used += mapped + PAGE; // a guard page between allocations
    mock.allocs = grow(mock.allocs, &mock.cap_allocs, mock.n_allocs + 1, sizeof *mock.allocs);
    mock.allocs[mock.n_allocs++] =
        (Alloc){.base = (CUdeviceptr)(uintptr_t)at, .size = bytes, .mapped = mapped, .live = true};
    *p = (CUdeviceptr)(uintptr_t)at;
    return OK;
}

CUresult cuMemFree_v2(CUdeviceptr p) {
    NEED_CONTEXT("cuMemFree");
    if (capture_forbids("cuMemFree")) return ERR_CAPTURE_UNSUPPORTED;
    Alloc *a = find_alloc(p);
    if (!a || a->base != p) {
        violation("cuMemFree(0x%llx): not the start of a live allocation", p);
        return ERR_INVALID_VALUE;
    }
    a->live = false;
    madvise((void *)(uintptr_t)a->base, a->mapped, MADV_DONTNEED);
    mprotect((void *)(uintptr_t)a->base, a->mapped, PROT_NONE);
    return OK;
}

static CUresult copy(void *dst, const void *src, size_t n) {
    memcpy(dst, src, n);
    return OK;
}

CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void *src, size_t n) {
    NEED_CONTEXT("cuMemcpyHtoD");
    if (capture_forbids("cuMemcpyHtoD (synchronous)")) return ERR_CAPTURE_UNSUPPORTED;
    return span_ok(dst, n, "cuMemcpyHtoD") ? copy((void *)(uintptr_t)dst, src, n) : ERR_INVALID_VALUE;
}

CUresult cuMemcpyDtoH_v2(void *dst, CUdeviceptr src, size_t n) {
    NEED_CONTEXT("cuMemcpyDtoH");
    if (capture_forbids("cuMemcpyDtoH (synchronous)")) return ERR_CAPTURE_UNSUPPORTED;
    return span_ok(src, n, "cuMemcpyDtoH") ? copy(dst, (const void *)(uintptr_t)src, n) : ERR_INVALID_VALUE;
}

CUresult cuMemcpyDtoD_v2(CUdeviceptr dst, CUdeviceptr src, size_t n) {
    NEED_CONTEXT("cuMemcpyDtoD");
    if (capture_forbids("cuMemcpyDtoD (synchronous)")) return ERR_CAPTURE_UNSUPPORTED;
    if (!span_ok(dst, n, "cuMemcpyDtoD") || !span_ok(src, n, "cuMemcpyDtoD")) return ERR_INVALID_VALUE;
    memmove((void *)(uintptr_t)dst, (const void *)(uintptr_t)src, n);
    return OK;
}

// Asynchronous copies during capture become graph nodes on a GPU; here they
// happen at once and are not replayed. The engine copies nothing while it
// captures; with emulation such a copy would make the results differ from a
// GPU's, so it is refused then.
CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void *src, size_t n, void *stream) {
    NEED_CONTEXT("cuMemcpyHtoDAsync");
    (void)stream;
    if (emu_on() && capture_forbids("cuMemcpyHtoDAsync with kernel emulation (the mock does not replay copies)"))
        return ERR_CAPTURE_UNSUPPORTED;
    return span_ok(dst, n, "cuMemcpyHtoDAsync") ? copy((void *)(uintptr_t)dst, src, n) : ERR_INVALID_VALUE;
}

CUresult cuMemcpyDtoHAsync_v2(void *dst, CUdeviceptr src, size_t n, void *stream) {
    NEED_CONTEXT("cuMemcpyDtoHAsync");
    (void)stream;
    if (emu_on() && capture_forbids("cuMemcpyDtoHAsync with kernel emulation (the mock does not replay copies)"))
        return ERR_CAPTURE_UNSUPPORTED;
    return span_ok(src, n, "cuMemcpyDtoHAsync") ? copy(dst, (const void *)(uintptr_t)src, n) : ERR_INVALID_VALUE;
}

CUresult cuMemsetD8_v2(CUdeviceptr p, unsigned char v, size_t n) {
    NEED_CONTEXT("cuMemsetD8");
    if (capture_forbids("cuMemsetD8 (synchronous)")) return ERR_CAPTURE_UNSUPPORTED;
    if (!span_ok(p, n, "cuMemsetD8")) return ERR_INVALID_VALUE;
    memset((void *)(uintptr_t)p, v, n);
    return OK;
}

// ----------------------------------------------------------------------------
// device, context

static int mock_sm(void) {
    const char *s = getenv("AWQC_MOCK_CUDA_SM");
    int sm = s ? atoi(s) : 90;
    return sm > 0 ? sm : 90;
}

CUresult cuInit(unsigned flags) {
    if (flags != 0) return ERR_INVALID_VALUE;
    if (!mock.range) {
        void *r = mmap(NULL, DEVICE_RANGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (r == MAP_FAILED) return 2;
        mock.range = r;
    }
    return OK;
}

CUresult cuDeviceGet(int *dev, int ordinal) {
    if (ordinal != 0) return ERR_INVALID_VALUE;
    *dev = 0;
    return OK;
}

CUresult cuDeviceGetAttribute(int *v, int attr, int dev) {
    (void)dev;
    if (attr == 75) *v = mock_sm() / 10; // compute capability major
    else if (attr == 76) *v = mock_sm() % 10;
    else if (attr == 97) *v = mock_sm() == 87 ? 163 * 1024 : mock_sm() / 10 == 8 && mock_sm() != 80 ? 99 * 1024 : 227 * 1024;
    else return ERR_INVALID_VALUE;
    return OK;
}

CUresult cuDeviceGetName(char *name, int len, int dev) {
    (void)dev;
    snprintf(name, (size_t)len, emu_on() ? "awqc mock GPU (kernels emulated on the CPU)" : "awqc mock GPU (no kernels run)");
    return OK;
}

CUresult cuDeviceTotalMem_v2(size_t *bytes, int dev) {
    (void)dev;
    *bytes = DEVICE_RANGE;
    return OK;
}

CUresult cuDevicePrimaryCtxRetain(void **ctx, int dev) {
    (void)dev;
    *ctx = &ctx_token;
    return OK;
}
CUresult cuDevicePrimaryCtxRelease_v2(int dev) { (void)dev; return OK; }
CUresult cuCtxSetCurrent(void *ctx) {
    if (ctx && ctx != &ctx_token) return ERR_INVALID_HANDLE;
    ctx_current = ctx != NULL;
    return OK;
}

// ----------------------------------------------------------------------------
// modules: the entries of a PTX text, or the names a cubin's ELF holds

typedef struct {
    char *text; // PTX (NUL-terminated), or NULL for a cubin
    unsigned char *elf;
    size_t elf_size;
} Module;

// "(.param .align 8 .b8 k_param_0[96], .param .u32 k_param_1)" -> sizes.
static void parse_params(const char *p, Func *f) {
    const char *end = strchr(p, ')');
    while (f->n_params < MAX_PARAMS && (p = strstr(p, ".param")) && (!end || p < end)) {
        const char *comma = strchr(p, ','), *stop = comma && (!end || comma < end) ? comma : end;
        size_t len = stop ? (size_t)(stop - p) : strlen(p);
        const char *bracket = memchr(p, '[', len);
        // .b8 name[N] is N bytes, a 32-bit scalar 4, anything else (.u64, .b64) 8
        f->param_size[f->n_params++] = bracket ? atoi(bracket + 1) : memmem(p, len, "32 ", 3) ? 4 : 8;
        p += 6;
    }
}

// The name of the first .entry at or after p, and its length; NULL when none.
static const char *next_entry(const char *p, size_t *len) {
    if (!(p = strstr(p, ".entry "))) return NULL;
    for (p += 7; *p == ' ';) p++;
    *len = strcspn(p, "( \n");
    return p;
}

static bool ptx_entry(const char *text, const char *name, Func *f) {
    size_t len = strlen(name), n_len;
    for (const char *n = text; (n = next_entry(n, &n_len)); n += n_len)
        if (n_len == len && strncmp(n, name, len) == 0) {
            parse_params(n + len, f);
            return true;
        }
    return false;
}

// Where an ELF64 image's section headers are, from its header.
static void elf_section_table(const unsigned char *b, uint64_t *shoff, uint16_t *shentsize, uint16_t *shnum) {
    memcpy(shoff, b + 0x28, 8);
    memcpy(shentsize, b + 0x3a, 2);
    memcpy(shnum, b + 0x3c, 2);
}

static bool elf_has_name(const Module *m, const char *name) {
    size_t len = strlen(name) + 1; // with its NUL
    for (size_t i = 0; i + len <= m->elf_size; i++)
        if ((i == 0 || m->elf[i - 1] == '\0') && memcmp(m->elf + i, name, len) == 0) return true;
    return false;
}

// With emulation, every kernel of a module is compiled in one batch: the
// PTX's entries, or a cubin's function symbols.
static void emu_want_ptx(const char *text) {
    size_t len;
    for (const char *n = text; (n = next_entry(n, &len)); n += len) {
        char name[128];
        if (len > 0 && len < sizeof name) memcpy(name, n, len), name[len] = '\0', emu_want(name);
    }
}

static void emu_want_cubin(const Module *m) {
    const unsigned char *b = m->elf;
    uint64_t shoff;
    uint16_t shentsize, shnum;
    elf_section_table(b, &shoff, &shentsize, &shnum);
    for (unsigned i = 0; i < shnum; i++) {
        const unsigned char *sh = b + shoff + (size_t)i * shentsize;
        uint32_t type, link;
        uint64_t off, size, entsize;
        memcpy(&type, sh + 4, 4), memcpy(&off, sh + 0x18, 8), memcpy(&size, sh + 0x20, 8);
        memcpy(&link, sh + 0x28, 4), memcpy(&entsize, sh + 0x38, 8);
        if (type != 2 || entsize < 24 || link >= shnum) continue; // SHT_SYMTAB of Elf64_Sym
        uint64_t stroff;
        memcpy(&stroff, b + shoff + (size_t)link * shentsize + 0x18, 8);
        for (uint64_t s = off; s + 24 <= off + size; s += entsize) {
            uint32_t name;
            memcpy(&name, b + s, 4);
            if ((b[s + 4] & 15) == 2 && stroff + name < m->elf_size) // STT_FUNC
                emu_want((const char *)b + stroff + name);
        }
    }
}

static void emu_want_module(const Module *m) {
    if (m->text) emu_want_ptx(m->text);
    else emu_want_cubin(m);
}

CUresult cuModuleLoadData(void **module, const void *image) {
    NEED_CONTEXT("cuModuleLoadData");
    const unsigned char *b = image;
    Module *m = calloc(1, sizeof *m);
    if (b[0] == 0x7f && b[1] == 'E' && b[2] == 'L' && b[3] == 'F') {
        // The ELF header says where the section headers end: the image's size.
        uint64_t shoff;
        uint16_t shentsize, shnum;
        elf_section_table(b, &shoff, &shentsize, &shnum);
        m->elf_size = shoff + (size_t)shentsize * shnum;
        m->elf = malloc(m->elf_size);
        memcpy(m->elf, b, m->elf_size);
    } else if (strstr((const char *)b, ".version") && strstr((const char *)b, ".entry")) {
        m->text = strdup((const char *)b);
    } else {
        violation("cuModuleLoadData: neither PTX text nor an ELF cubin");
        free(m);
        return ERR_INVALID_IMAGE;
    }
    if (emu_on()) emu_want_module(m);
    *module = m;
    return OK;
}

CUresult cuModuleUnload(void *module) {
    Module *m = module;
    if (!m) return ERR_INVALID_HANDLE;
    free(m->text);
    free(m->elf);
    free(m);
    return OK;
}

CUresult cuModuleGetFunction(void **fn, void *module, const char *name) {
    if (capture_forbids("cuModuleGetFunction (lazy loading loads the kernel here)")) return ERR_CAPTURE_UNSUPPORTED;
    Module *m = module;
    Func f = {0};
    snprintf(f.name, sizeof f.name, "%s", name);
    bool found = m->text ? ptx_entry(m->text, name, &f) : elf_has_name(m, name);
    if (!found) {
        violation("cuModuleGetFunction: the module has no kernel '%s'", name);
        return ERR_NOT_FOUND;
    }
    if (mock.n_funcs == sizeof mock.funcs / sizeof *mock.funcs) return ERR_INVALID_VALUE;
    Func *copy_of = malloc(sizeof *copy_of);
    *copy_of = f;
    mock.funcs[mock.n_funcs++] = copy_of;
    *fn = copy_of;
    return OK;
}

CUresult cuFuncSetAttribute(void *fn, int attr, int value) {
    Func *f = fn;
    if (attr != 8) return ERR_INVALID_VALUE; // max dynamic shared memory
    if (value > 227 * 1024) {
        violation("cuFuncSetAttribute(%s): %d bytes of dynamic shared memory (at most 227 KiB)", f->name, value);
        return ERR_INVALID_VALUE;
    }
    f->max_dyn_smem = value;
    return OK;
}

// ----------------------------------------------------------------------------
// launches

// With emulation, the kernel's one parameter (KArgs) has the size the
// compiled kernels give it; a cubin does not declare it, PTX must agree.
static bool emu_params(Func *f) {
    if (f->emu_checked) return true;
    char why[512];
    size_t size = emu_args_size(why, sizeof why);
    if (size == 0) {
        violation("kernel emulation: %s", why);
        return false;
    }
    if (f->n_params == 0) f->n_params = 1, f->param_size[0] = (int)size;
    if (f->n_params != 1 || f->param_size[0] != (int)size) {
        violation("launch %s: %d parameters, the first of %d bytes; the kernels take one KArgs of %zu", f->name,
                  f->n_params, f->param_size[0], size);
        return false;
    }
    return f->emu_checked = true;
}

static bool emu_run(const Launch *l) {
    char why[1024];
    if (emu_launch(l->f->name, l->grid, l->block, l->smem, l->params[0], why, sizeof why)) return true;
    violation("launch %s (emulated): %s", l->f->name, why);
    return false;
}

static bool known_func(const Func *f) {
    for (size_t i = 0; i < mock.n_funcs; i++)
        if (mock.funcs[i] == f) return true;
    return false;
}

static bool check_launch(const Launch *l) {
    const Func *f = l->f;
    unsigned threads = l->block[0] * l->block[1] * l->block[2];
    if (threads == 0 || threads > 1024 || l->grid[0] == 0 || l->grid[1] == 0 || l->grid[2] == 0 ||
        l->grid[1] > 65535 || l->grid[2] > 65535) {
        violation("launch %s: grid %ux%ux%u, block %ux%ux%u", f->name, l->grid[0], l->grid[1], l->grid[2], l->block[0],
                  l->block[1], l->block[2]);
        return false;
    }
    unsigned limit = f->max_dyn_smem > 48 * 1024 ? (unsigned)f->max_dyn_smem : 48 * 1024;
    if (l->smem > limit) {
        violation("launch %s: %u bytes of dynamic shared memory, over its limit of %u", f->name, l->smem, limit);
        return false;
    }
    for (int i = 0; i < f->n_params; i++)
        for (int off = 0; off + 8 <= f->param_size[i]; off += 8) {
            CUdeviceptr word;
            memcpy(&word, l->params[i] + off, 8);
            if (in_range(word) && !find_alloc(word)) {
                violation("launch %s: parameter %d, bytes %d..%d: 0x%llx points into device memory that is not "
                          "allocated (freed, or past an allocation)",
                          f->name, i, off, off + 7, word);
                return false;
            }
        }
    return true;
}

CUresult cuLaunchKernel(void *fn, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                        unsigned smem, void *stream, void **params, void **extra) {
    NEED_CONTEXT("cuLaunchKernel");
    Func *f = fn;
    if (!known_func(f)) {
        violation("cuLaunchKernel: not a function of a loaded module");
        return ERR_INVALID_HANDLE;
    }
    if (emu_on() && !emu_params(f)) return ERR_LAUNCH;
    if (extra || (f->n_params > 0 && !params)) {
        violation("launch %s: parameters missing", f->name);
        return ERR_INVALID_VALUE;
    }
    Launch l = {.f = f, .grid = {gx, gy, gz}, .block = {bx, by, bz}, .smem = smem};
    for (int i = 0; i < f->n_params; i++) {
        if (f->param_size[i] > (int)sizeof l.params[i]) return ERR_INVALID_VALUE;
        memcpy(l.params[i], params[i], (size_t)f->param_size[i]); // read at the declared size: ASan sees a short one
    }
    if (!check_launch(&l)) return ERR_LAUNCH;
    if (mock.capturing && stream == mock.capturing) {
        Graph *g = mock.capture;
        g->launches = grow(g->launches, &g->cap, g->n + 1, sizeof *g->launches);
        g->launches[g->n++] = l;
    } else {
        mock.launches++;
        if (emu_on() && !emu_run(&l)) return ERR_LAUNCH;
    }
    return OK;
}

// ----------------------------------------------------------------------------
// streams, graphs, events

static int stream_token[64];
static size_t n_streams;

CUresult cuStreamCreate(void **stream, unsigned flags) {
    NEED_CONTEXT("cuStreamCreate");
    (void)flags;
    if (n_streams == 64) return ERR_INVALID_VALUE;
    *stream = &stream_token[n_streams++];
    return OK;
}
CUresult cuStreamDestroy_v2(void *stream) { return stream ? OK : ERR_INVALID_HANDLE; }
CUresult cuCtxSynchronize(void) {
    NEED_CONTEXT("cuCtxSynchronize");
    return capture_forbids("cuCtxSynchronize") ? ERR_CAPTURE_UNSUPPORTED : OK;
}
CUresult cuStreamSynchronize(void *stream) {
    NEED_CONTEXT("cuStreamSynchronize");
    (void)stream;
    return capture_forbids("cuStreamSynchronize") ? ERR_CAPTURE_UNSUPPORTED : OK;
}

CUresult cuStreamBeginCapture_v2(void *stream, int mode) {
    NEED_CONTEXT("cuStreamBeginCapture");
    if (!stream) {
        violation("cuStreamBeginCapture on the legacy default stream");
        return ERR_INVALID_VALUE;
    }
    if (mock.capturing) return ERR_INVALID_VALUE;
    (void)mode;
    mock.capturing = stream;
    mock.capture = calloc(1, sizeof *mock.capture);
    return OK;
}

CUresult cuStreamEndCapture(void *stream, void **graph) {
    if (stream != mock.capturing) return ERR_INVALID_VALUE;
    *graph = mock.capture;
    mock.capturing = NULL;
    mock.capture = NULL;
    return OK;
}

CUresult cuGraphInstantiateWithFlags(void **exec, void *graph, unsigned long long flags) {
    (void)flags;
    Graph *g = graph;
    if (!g || g->n == 0) {
        violation("cuGraphInstantiate: an empty graph");
        return ERR_INVALID_VALUE;
    }
    *exec = g;
    return OK;
}

CUresult cuGraphLaunch(void *exec, void *stream) {
    NEED_CONTEXT("cuGraphLaunch");
    (void)stream;
    Graph *g = exec;
    for (size_t i = 0; i < g->n; i++)
        if (!check_launch(&g->launches[i]) || (emu_on() && !emu_run(&g->launches[i]))) return ERR_LAUNCH;
    mock.launches += g->n;
    mock.graph_launches++;
    return OK;
}
CUresult cuGraphExecDestroy(void *exec) { return exec ? OK : ERR_INVALID_HANDLE; }
CUresult cuGraphDestroy(void *graph) {
    Graph *g = graph;
    if (!g) return ERR_INVALID_HANDLE;
    free(g->launches);
    free(g);
    return OK;
}

static int event_token[64];
static size_t n_events;
CUresult cuEventCreate(void **event, unsigned flags) {
    (void)flags;
    *event = &event_token[n_events++ % 64];
    return OK;
}
CUresult cuEventRecord(void *event, void *stream) { (void)stream; return event ? OK : ERR_INVALID_HANDLE; }
CUresult cuEventSynchronize(void *event) { return event ? OK : ERR_INVALID_HANDLE; }
CUresult cuEventElapsedTime(float *ms, void *a, void *b) {
    if (!a || !b) return ERR_INVALID_HANDLE;
    *ms = 1.0f; // no time passes on the mock: a fixed millisecond
    return OK;
}
CUresult cuEventDestroy_v2(void *event) { return event ? OK : ERR_INVALID_HANDLE; }

// NVRTC looks for the driver's private tables when libcuda.so.1 is loaded
// and gets along without them; without this symbol it crashes.
CUresult cuGetExportTable(const void **table, const void *id) {
    (void)id;
    *table = NULL;
    return 801; // CUDA_ERROR_NOT_SUPPORTED
}

CUresult cuDriverGetVersion(int *version) {
    *version = 13000;
    return OK;
}

CUresult cuGetErrorString(CUresult r, const char **s) {
    static const struct { CUresult code; const char *text; } names[] = {
        {OK, "no error"}, {ERR_INVALID_VALUE, "invalid argument (mock)"}, {2, "out of memory (mock)"},
        {ERR_INVALID_IMAGE, "invalid image (mock)"}, {ERR_INVALID_HANDLE, "invalid handle (mock)"},
        {ERR_NOT_FOUND, "named symbol not found (mock)"}, {ERR_LAUNCH, "launch failed (mock)"},
        {ERR_CAPTURE_UNSUPPORTED, "operation not permitted when stream is capturing (mock)"}};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (names[i].code == r) return *s = names[i].text, OK;
    *s = "unknown error (mock)";
    return OK;
}

// ----------------------------------------------------------------------------
// the summary

__attribute__((destructor)) static void summary(void) {
    if (!mock.range) return;
    size_t live = 0, n_live = 0;
    for (size_t i = 0; i < mock.n_allocs; i++)
        if (mock.allocs[i].live) live += mock.allocs[i].size, n_live++;
    char line[256];
    snprintf(line, sizeof line,
             "mock-cuda: %llu launches, %zu kernels, %llu graph launches, %zu allocations live (%zu bytes), "
             "%llu violations\n",
             mock.launches, mock.n_funcs, mock.graph_launches, n_live, live, mock.violations);
    fputs(line, stderr);
    const char *log = getenv("AWQC_MOCK_CUDA_LOG");
    FILE *f = log ? fopen(log, "a") : NULL;
    if (f) fputs(line, f), fclose(f);
    // dlclose runs this too: the next dlopen starts from nothing.
    for (size_t i = 0; i < mock.n_funcs; i++) free(mock.funcs[i]);
    free(mock.allocs);
    munmap(mock.range, DEVICE_RANGE);
    memset(&mock, 0, sizeof mock);
}
