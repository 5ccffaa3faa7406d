// nvrtc.c: turns the generated CUDA C into device code: NVRTC compiles it to
// PTX for a virtual arch (compute_XX), and ptxas, run as a child process when
// the toolkit has it, assembles that PTX to a cubin for the real arch (sm_XX).
// Neither step needs a GPU.
#include "codegen/cuda/cuda_codegen.h"

#include <fcntl.h>
#include <nvrtc.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

// ----------------------------------------------------------------------------
// NVRTC

static char *program_log(nvrtcProgram prog) {
    size_t n = 0;
    if (nvrtcGetProgramLogSize(prog, &n) != NVRTC_SUCCESS || n == 0) return xstrdup("");
    char *log = xcalloc(n + 1, 1);
    nvrtcGetProgramLog(prog, log);
    return log;
}

bool cuda_nvrtc_ptx(const char *source, int sm, CudaBytes *ptx, AwqcError *err) {
    nvrtcProgram prog;
    nvrtcResult r = nvrtcCreateProgram(&prog, source, "awqc_plan.cu", 0, NULL, NULL);
    if (r != NVRTC_SUCCESS) return awqc_fail(err, "NVRTC: cannot create the program: %s", nvrtcGetErrorString(r));
    char arch[32];
    snprintf(arch, sizeof arch, "--gpu-architecture=compute_%d", sm);
    // No FMA contraction: the host reference is compiled without it, and the
    // kernels are bound by memory, not by arithmetic.
    const char *opts[] = {arch, "--std=c++17", "--fmad=false", "-default-device"};
    r = nvrtcCompileProgram(prog, (int)(sizeof opts / sizeof *opts), opts);
    bool ok = r == NVRTC_SUCCESS;
    if (!ok) {
        char *log = program_log(prog);
        awqc_fail(err, "NVRTC (compute_%d): %s\n%.1800s", sm, nvrtcGetErrorString(r), log);
        free(log);
    } else {
        size_t n = 0;
        nvrtcGetPTXSize(prog, &n); // includes the NUL
        ptx->data = xmalloc(n);
        ptx->size = n ? n - 1 : 0;
        nvrtcGetPTX(prog, ptx->data);
    }
    nvrtcDestroyProgram(&prog);
    return ok;
}

char *cuda_nvrtc_describe(void) {
    int major = 0, minor = 0, n = 0;
    nvrtcVersion(&major, &minor);
    StrBuf b = {0};
    char *head = awqc_asprintf("NVRTC %d.%d:", major, minor);
    sb_append(&b, head);
    free(head);
    if (nvrtcGetNumSupportedArchs(&n) == NVRTC_SUCCESS && n > 0) {
        int *archs = xcalloc((size_t)n, sizeof *archs);
        nvrtcGetSupportedArchs(archs);
        for (int i = 0; i < n; i++) {
            char one[16];
            snprintf(one, sizeof one, " sm_%d", archs[i]);
            sb_append(&b, one);
        }
        free(archs);
    }
    return sb_finish(&b);
}

int cuda_target_sm(const char *target) {
    if (target && strcmp(target, "orin") == 0) return 87; // Jetson AGX Orin
    if (!target || strncmp(target, "cuda:sm_", 8) != 0) return 0;
    char *end;
    long sm = strtol(target + 8, &end, 10);
    return *end == 0 && sm >= 50 && sm < 1000 ? (int)sm : 0;
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

// Runs argv, its stdout and stderr into log_path; the exit status, -1 if it
// could not start.
static int run_logged(char *const argv[], const char *log_path) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) return -1;
    int status;
    if (waitpid(pid, &status, 0) != pid) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// A fresh private directory for ptxas' files.
static char *make_workdir(AwqcError *err) {
    const char *tmp = getenv("TMPDIR");
    char *dir = awqc_asprintf("%s/awqc-ptxas-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        awqc_fail(err, "ptxas: cannot create a temporary directory %s", dir);
        free(dir);
        return NULL;
    }
    return dir;
}

static bool assemble_in(const char *dir, const char *ptxas, const CudaBytes *ptx, int sm, CudaBytes *cubin,
                        char *paths[3], AwqcError *err) {
    paths[0] = awqc_asprintf("%s/plan.ptx", dir);
    paths[1] = awqc_asprintf("%s/plan.cubin", dir);
    paths[2] = awqc_asprintf("%s/ptxas.log", dir);
    if (!awqc_write_file_atomic(paths[0], ptx->data, ptx->size, err)) return false;
    char arch[32];
    snprintf(arch, sizeof arch, "-arch=sm_%d", sm);
    char *argv[] = {(char *)ptxas, arch, "-O3", "-o", paths[1], paths[0], NULL};
    int rc = run_logged(argv, paths[2]);
    if (rc != 0) {
        char *log = awqc_read_file(paths[2], NULL, NULL);
        awqc_fail(err, "ptxas -arch=sm_%d %s (exit %d):\n%.1800s", sm, rc < 0 ? "could not run" : "rejected the PTX",
                  rc, log ? log : "");
        free(log);
        return false;
    }
    size_t n;
    cubin->data = awqc_read_file(paths[1], &n, err);
    cubin->size = n;
    return cubin->data != NULL;
}

bool cuda_ptxas_cubin(const char *ptxas, const CudaBytes *ptx, int sm, CudaBytes *cubin, AwqcError *err) {
    char *dir = make_workdir(err);
    if (!dir) return false;
    char *paths[3] = {NULL, NULL, NULL};
    bool ok = assemble_in(dir, ptxas, ptx, sm, cubin, paths, err);
    for (int i = 0; i < 3; i++) {
        if (paths[i]) unlink(paths[i]);
        free(paths[i]);
    }
    rmdir(dir);
    free(dir);
    return ok;
}
