// mock_emu.c: kernel emulation for the mock driver. The runtime's kernels
// are named after their template and its arguments
// ("gemv_q4_960_576_64_4_8_3_1_0_0_0_0" is gemv_q4<960, 576, 64, 4, 8, 3, 1, 0, 0, 0, 0>),
// so the names it looks up are enough to instantiate them: each batch of new
// names becomes a C++ file of extern "C" entries over kernels.cuh, compiled
// with cuda_emu.hpp by $CXX (default c++) into a shared library in the folder
// $AWQC_MOCK_CUDA_EMU, named by a hash of everything that went into it (so
// later runs reuse it), and loaded.
#include "mock_emu.h"

#include <ctype.h>
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef AWQC_SOURCE_DIR
#error "CMake defines AWQC_SOURCE_DIR"
#endif
#define KERNELS_CUH AWQC_SOURCE_DIR "/codegen/cuda/kernels.cuh"
#define EMU_HPP AWQC_SOURCE_DIR "/tests/mock_cuda/cuda_emu.hpp"

typedef void (*KernelFn)(const void *);
typedef int (*LaunchFn)(KernelFn, const unsigned[3], const unsigned[3], unsigned, const void *, char *, size_t);

typedef struct {
    char name[128];
    KernelFn fn; // NULL until its batch is compiled
    LaunchFn launch; // the launcher of the library it is in
} Kernel;

static struct {
    Kernel *k;
    size_t n, cap;
    size_t args_size;
} emu;

bool emu_on(void) {
    const char *dir = getenv("AWQC_MOCK_CUDA_EMU");
    return dir && *dir;
}

static Kernel *find(const char *name) {
    for (size_t i = 0; i < emu.n; i++)
        if (strcmp(emu.k[i].name, name) == 0) return &emu.k[i];
    return NULL;
}

// ----------------------------------------------------------------------------
// the C++ source of a batch

// "gemv_q4_960_576_64_4_8_3_1_0_0_0_0" -> "gemv_q4<960,576,64,4,8,3,1,0,0,0,0>": the
// template's name ends before the first "_<digit>".
static bool template_call(const char *name, char *out, size_t size) {
    if (!isalpha((unsigned char)name[0])) return false; // "$__internal_0_...", "_Z..."
    for (const char *c = name; *c; c++)
        if (!isalnum((unsigned char)*c) && *c != '_') return false;
    const char *p = name;
    while ((p = strchr(p, '_')) && !isdigit((unsigned char)p[1])) p++;
    if (!p) return false;
    int len = snprintf(out, size, "%.*s<", (int)(p - name), name);
    for (const char *c = p + 1; *c && len + 2 < (int)size; c++) out[len++] = *c == '_' ? ',' : *c;
    if (len + 2 >= (int)size) return false;
    out[len++] = '>';
    out[len] = '\0';
    return true;
}

// Names that spell no template call (a cubin's other functions) are left out.
void emu_want(const char *name) {
    char call[256];
    if (find(name) || strlen(name) >= sizeof emu.k->name || !template_call(name, call, sizeof call)) return;
    if (emu.n == emu.cap) {
        emu.cap = emu.cap * 2 + 16;
        emu.k = realloc(emu.k, emu.cap * sizeof *emu.k);
        if (!emu.k) abort();
    }
    Kernel *k = &emu.k[emu.n++];
    memset(k, 0, sizeof *k);
    snprintf(k->name, sizeof k->name, "%s", name);
}

static char *append(char *s, size_t *len, const char *more) {
    size_t m = strlen(more);
    s = realloc(s, *len + m + 1);
    if (!s) abort();
    memcpy(s + *len, more, m + 1);
    *len += m;
    return s;
}

static char *batch_source(void) {
    size_t len = 0;
    char *src = append(NULL, &len, "#include \"" KERNELS_CUH "\"\n");
    src = append(src, &len, "extern \"C\" size_t awqc_emu_args_size(void) { return sizeof(KArgs); }\n");
    for (size_t i = 0; i < emu.n; i++) {
        if (emu.k[i].fn) continue;
        char call[256], line[512];
        template_call(emu.k[i].name, call, sizeof call);
        snprintf(line, sizeof line, "extern \"C\" void %s(const void *a) { %s(*(const KArgs *)a); }\n",
                 emu.k[i].name, call);
        src = append(src, &len, line);
    }
    return src;
}

// ----------------------------------------------------------------------------
// compiling and loading a batch

static uint64_t fnv1a(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

static bool hash_file(uint64_t *h, const char *path, char *why, size_t why_size) {
    FILE *f = fopen(path, "rb");
    if (!f) return snprintf(why, why_size, "cannot read %s", path), false;
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) *h = fnv1a(*h, buf, n);
    fclose(f);
    return true;
}

static bool write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f) return false;
    bool ok = fputs(text, f) >= 0;
    return fclose(f) == 0 && ok;
}

// The C++ compiler's flags for the kernels. The GPU's code is built with
// --fmad=false, so nothing may become an fma that the source does not write
// (clang contracts a * b + c by default). Where the CPU has FMA, the kernels'
// fmaf is one instruction and the code VEX-encoded: built for plain x86-64,
// each fmaf was a call into libm, and in the sanitizer build's test process
// those calls took 40-47% of the time (perf) and the emulated greedy test
// over 17 minutes, against 3.4 with -mfma. fmaf rounds once either way: the
// same bits.
static const char *emu_flags(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("fma")) return "-std=c++17 -O2 -ffp-contract=off -mfma";
#endif
    return "-std=c++17 -O2 -ffp-contract=off";
}

// Compiles src into lib (through a temporary name, so parallel tests that
// build the same batch do not see half a file).
static bool compile(const char *src, const char *flags, const char *lib, char *why, size_t why_size) {
    const char *cxx = getenv("CXX") && *getenv("CXX") ? getenv("CXX") : "c++";
    char cpp[4200], tmp[4200], log[4200], cmd[16384];
    snprintf(cpp, sizeof cpp, "%s.%d.cpp", lib, (int)getpid());
    snprintf(tmp, sizeof tmp, "%s.%d.tmp", lib, (int)getpid());
    snprintf(log, sizeof log, "%s.%d.log", lib, (int)getpid());
    if (!write_file(cpp, src)) return snprintf(why, why_size, "cannot write %s", cpp), false;
    snprintf(cmd, sizeof cmd,
             "'%s' %s -fPIC -shared -fno-gnu-unique -U_FORTIFY_SOURCE -DAWQC_EMU -include '%s' -o '%s' '%s' >'%s' 2>&1",
             cxx, flags, EMU_HPP, tmp, cpp, log);
    int rc = system(cmd);
    if (rc != 0) {
        snprintf(why, why_size, "compiling the emulated kernels failed (exit %d): see %s", rc, log);
        return false;
    }
    unlink(cpp);
    unlink(log);
    if (rename(tmp, lib) != 0) return snprintf(why, why_size, "cannot rename %s", tmp), false;
    return true;
}

static bool build_pending(char *why, size_t why_size) {
    bool pending = emu.args_size == 0;
    for (size_t i = 0; i < emu.n; i++) pending = pending || !emu.k[i].fn;
    if (!pending) return true;
    char *src = batch_source();
    const char *flags = emu_flags();
    uint64_t h = fnv1a(1469598103934665603ull, src, strlen(src));
    h = fnv1a(h, flags, strlen(flags));
    char lib[4096];
    bool ok = hash_file(&h, KERNELS_CUH, why, why_size) && hash_file(&h, EMU_HPP, why, why_size);
    snprintf(lib, sizeof lib, "%s/emu-%016llx.so", getenv("AWQC_MOCK_CUDA_EMU"), (unsigned long long)h);
    ok = ok && (access(lib, R_OK) == 0 || compile(src, flags, lib, why, why_size));
    free(src);
    if (!ok) return false;
    void *so = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
    if (!so) return snprintf(why, why_size, "dlopen %s: %s", lib, dlerror()), false;
    LaunchFn launch = (LaunchFn)dlsym(so, "awqc_emu_launch");
    size_t (*args_size)(void) = (size_t (*)(void))dlsym(so, "awqc_emu_args_size");
    if (!launch || !args_size) return snprintf(why, why_size, "%s lacks the emulator's entries", lib), false;
    emu.args_size = args_size();
    for (size_t i = 0; i < emu.n; i++) {
        Kernel *k = &emu.k[i];
        if (k->fn) continue;
        k->fn = (KernelFn)dlsym(so, k->name);
        k->launch = launch;
        if (!k->fn) return snprintf(why, why_size, "%s lacks kernel %s", lib, k->name), false;
    }
    return true;
}

size_t emu_args_size(char *why, size_t why_size) { return build_pending(why, why_size) ? emu.args_size : 0; }

bool emu_launch(const char *name, const unsigned grid[3], const unsigned block[3], unsigned smem, const void *args,
                char *why, size_t why_size) {
    Kernel *k = find(name);
    if (!k) return snprintf(why, why_size, "the name %s spells no kernel template call", name), false;
    if (!k->fn && !build_pending(why, why_size)) return false;
    return k->launch(k->fn, grid, block, smem, args, why, why_size) == 0;
}
