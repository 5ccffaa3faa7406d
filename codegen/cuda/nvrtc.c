// nvrtc.c: turns the generated CUDA C into device code: NVRTC compiles it to
// PTX for a virtual arch (compute_XX), and ptxas, run as a child process when
// the toolkit has it, assembles that PTX to a cubin for the real arch (sm_XX).
// Neither step needs a GPU. NVRTC is loaded at its first use (dlopen), not
// linked: awqc then starts, and runs artifacts and CPU code, on machines with
// a driver but no toolkit (a deployment box, the GPU machine's bare image).
#include "codegen/cuda/cuda_codegen.h"

#include <dlfcn.h>
#include <nvrtc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "codegen/tool_run.h"

// ----------------------------------------------------------------------------
// loading NVRTC

typedef struct {
    nvrtcResult (*Version)(int *major, int *minor);
    nvrtcResult (*GetNumSupportedArchs)(int *n);
    nvrtcResult (*GetSupportedArchs)(int *archs);
    nvrtcResult (*CreateProgram)(nvrtcProgram *prog, const char *src, const char *name, int n_headers,
                                 const char *const *headers, const char *const *include_names);
    nvrtcResult (*CompileProgram)(nvrtcProgram prog, int n_opts, const char *const *opts);
    nvrtcResult (*DestroyProgram)(nvrtcProgram *prog);
    nvrtcResult (*GetProgramLogSize)(nvrtcProgram prog, size_t *n);
    nvrtcResult (*GetProgramLog)(nvrtcProgram prog, char *log);
    nvrtcResult (*GetPTXSize)(nvrtcProgram prog, size_t *n);
    nvrtcResult (*GetPTX)(nvrtcProgram prog, char *ptx);
    const char *(*GetErrorString)(nvrtcResult r);
} Nvrtc;

#define NVRTC_SYM(field) {"nvrtc" #field, offsetof(Nvrtc, field)}
static const struct {
    const char *symbol;
    size_t offset; // of the function pointer in Nvrtc
} NVRTC_SYMS[] = {
    NVRTC_SYM(Version), NVRTC_SYM(GetNumSupportedArchs), NVRTC_SYM(GetSupportedArchs), NVRTC_SYM(CreateProgram),
    NVRTC_SYM(CompileProgram), NVRTC_SYM(DestroyProgram), NVRTC_SYM(GetProgramLogSize), NVRTC_SYM(GetProgramLog),
    NVRTC_SYM(GetPTXSize), NVRTC_SYM(GetPTX), NVRTC_SYM(GetErrorString),
};

static Nvrtc nvrtc;
static bool nvrtc_loaded;
static char nvrtc_problem[1024]; // why it is not loaded
static pthread_once_t nvrtc_once = PTHREAD_ONCE_INIT;

// Adds one candidate's reason to nvrtc_problem ("a; b; c").
__attribute__((format(printf, 1, 2))) static void note_problem(const char *fmt, ...) {
    size_t len = strlen(nvrtc_problem);
    if (len) snprintf(nvrtc_problem + len, sizeof nvrtc_problem - len, "; "), len = strlen(nvrtc_problem);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(nvrtc_problem + len, sizeof nvrtc_problem - len, fmt, ap);
    va_end(ap);
}

static bool resolve_nvrtc(void *lib, const char *path) {
    for (size_t i = 0; i < sizeof NVRTC_SYMS / sizeof *NVRTC_SYMS; i++) {
        void *f = dlsym(lib, NVRTC_SYMS[i].symbol);
        if (!f) {
            note_problem("%s lacks %s", path, NVRTC_SYMS[i].symbol);
            return false;
        }
        memcpy((char *)&nvrtc + NVRTC_SYMS[i].offset, &f, sizeof f); // function pointer from dlsym's void *
    }
    return true;
}

// dlopen's answer for one candidate; a failure's reason joins nvrtc_problem.
static bool try_nvrtc(const char *path) {
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (lib && resolve_nvrtc(lib, path)) return true;
    if (lib) dlclose(lib);
    else {
        const char *why = dlerror();
        note_problem("%s", why ? why : path);
    }
    return false;
}

// $AWQC_NVRTC alone when set; else the soname of the toolkit awqc was built
// with, on the loader's path, in $CUDA_HOME/lib64, then in the folder it was
// found in at build time. Another major version is not tried: its ABI may differ.
static void load_nvrtc(void) {
    const char *forced = getenv("AWQC_NVRTC");
    if (forced && *forced) {
        nvrtc_loaded = try_nvrtc(forced);
        return;
    }
    const char *soname = "libnvrtc.so." AWQC_NVRTC_SOVERSION;
    const char *home = getenv("CUDA_HOME");
    char *in_home = home && *home ? awqc_asprintf("%s/lib64/%s", home, soname) : NULL;
    char *built = awqc_asprintf("%s/%s", AWQC_NVRTC_BUILD_DIR, soname);
    nvrtc_loaded = try_nvrtc(soname) || (in_home && try_nvrtc(in_home)) || try_nvrtc(built);
    free(in_home);
    free(built);
}

bool cuda_nvrtc_available(AwqcError *err) {
    pthread_once(&nvrtc_once, load_nvrtc);
    if (nvrtc_loaded) return true;
    return awqc_fail(err, "NVRTC not found (%s): generating CUDA code needs the CUDA toolkit's NVRTC; put its "
                     "folder on LD_LIBRARY_PATH or set AWQC_NVRTC to the library", nvrtc_problem);
}

// ----------------------------------------------------------------------------
// NVRTC

static char *program_log(nvrtcProgram prog) {
    size_t n = 0;
    if (nvrtc.GetProgramLogSize(prog, &n) != NVRTC_SUCCESS || n == 0) return xstrdup("");
    char *log = xcalloc(n + 1, 1);
    nvrtc.GetProgramLog(prog, log);
    return log;
}

bool cuda_nvrtc_ptx(const char *source, int sm, CudaBytes *ptx, AwqcError *err) {
    if (!cuda_nvrtc_available(err)) return false;
    nvrtcProgram prog;
    nvrtcResult r = nvrtc.CreateProgram(&prog, source, "awqc_plan.cu", 0, NULL, NULL);
    if (r != NVRTC_SUCCESS) return awqc_fail(err, "NVRTC: cannot create the program: %s", nvrtc.GetErrorString(r));
    char arch[32];
    snprintf(arch, sizeof arch, "--gpu-architecture=compute_%d", sm);
    // No FMA contraction: the host reference is compiled without it, and the
    // kernels are bound by memory, not by arithmetic.
    const char *opts[] = {arch, "--std=c++17", "--fmad=false", "-default-device"};
    r = nvrtc.CompileProgram(prog, (int)(sizeof opts / sizeof *opts), opts);
    bool ok = r == NVRTC_SUCCESS;
    if (!ok) {
        char *log = program_log(prog);
        awqc_fail(err, "NVRTC (compute_%d): %s\n%.1800s", sm, nvrtc.GetErrorString(r), log);
        free(log);
    } else {
        size_t n = 0;
        nvrtc.GetPTXSize(prog, &n); // includes the NUL
        ptx->data = xmalloc(n);
        ptx->size = n ? n - 1 : 0;
        nvrtc.GetPTX(prog, ptx->data);
    }
    nvrtc.DestroyProgram(&prog);
    return ok;
}

char *cuda_nvrtc_describe(void) {
    AwqcError err = {0};
    if (!cuda_nvrtc_available(&err)) return awqc_asprintf("NVRTC: not found (%s)", nvrtc_problem);
    int major = 0, minor = 0, n = 0;
    nvrtc.Version(&major, &minor);
    StrBuf b = {0};
    char *head = awqc_asprintf("NVRTC %d.%d:", major, minor);
    sb_append(&b, head);
    free(head);
    if (nvrtc.GetNumSupportedArchs(&n) == NVRTC_SUCCESS && n > 0) {
        int *archs = xcalloc((size_t)n, sizeof *archs);
        nvrtc.GetSupportedArchs(archs);
        for (int i = 0; i < n; i++) {
            char one[16];
            snprintf(one, sizeof one, " sm_%d", archs[i]);
            sb_append(&b, one);
        }
        free(archs);
    }
    return sb_finish(&b);
}


// ----------------------------------------------------------------------------
// ptxas

static bool is_executable(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

static char found_ptxas[4096];

static bool try_dir(const char *dir, size_t len) {
    if (len == 0 || len + 8 >= sizeof found_ptxas) return false;
    snprintf(found_ptxas, sizeof found_ptxas, "%.*s/ptxas", (int)len, dir);
    return is_executable(found_ptxas);
}

const char *cuda_find_ptxas(void) {
    const char *path = getenv("PATH");
    for (const char *p = path; p && *p;) {
        const char *colon = strchr(p, ':');
        size_t len = colon ? (size_t)(colon - p) : strlen(p);
        if (try_dir(p, len)) return found_ptxas;
        p = colon ? colon + 1 : p + len;
    }
    const char *home = getenv("CUDA_HOME");
    if (home) {
        char *bin = awqc_asprintf("%s/bin", home);
        bool ok = try_dir(bin, strlen(bin));
        free(bin);
        if (ok) return found_ptxas;
    }
    const char *fixed = "/usr/local/cuda/bin";
    return try_dir(fixed, strlen(fixed)) ? found_ptxas : NULL;
}

bool cuda_ptxas_cubin(const char *ptxas, const CudaBytes *ptx, int sm, CudaBytes *cubin, AwqcError *err) {
    ToolFiles f;
    if (!tool_files_open(&f, "ptxas", "plan.ptx", ptx->data, ptx->size, "plan.cubin", err)) {
        awqc_error_prefix(err, "ptxas");
        return false;
    }
    char arch[32];
    snprintf(arch, sizeof arch, "-arch=sm_%d", sm);
    char *argv[] = {(char *)ptxas, arch, "-O3", "-o", f.output, f.input, NULL};
    int rc = tool_spawn(argv, f.log);
    bool ok = rc == 0;
    if (!ok) {
        char *log = tool_read_log(&f);
        awqc_fail(err, "ptxas -arch=sm_%d %s (exit %d):\n%.1800s", sm, rc < 0 ? "could not run" : "rejected the PTX",
                  rc, log);
        free(log);
    } else {
        cubin->data = tool_read_output(&f, &cubin->size, err);
        ok = cubin->data != NULL;
    }
    tool_files_close(&f);
    return ok;
}
