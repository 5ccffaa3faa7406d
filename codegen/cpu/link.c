// link.c: turns the object file LLVM emitted into a shared object with
// ld.lld, which links for every target LLVM emits for (x86-64 and aarch64
// alike) without a cross toolchain. The kernels call nothing but libm
// symbols the runtime process already has, so no library is linked in.
#include "codegen/cpu/link.h"

#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static const char *const LINKERS[] = {"ld.lld", "ld.lld-14", "/usr/lib/llvm-14/bin/ld.lld"};

// Runs argv with stderr into log; its exit status, or -1.
static int run_tool(char *const argv[], const char *log) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 2, log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) return -1;
    int status;
    if (waitpid(pid, &status, 0) < 0) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// The first linker that runs (its --version exits 0), spawned as the link is.
static const char *find_linker(void) {
    static const char *found;
    if (found) return found;
    for (size_t i = 0; i < sizeof LINKERS / sizeof *LINKERS; i++)
        if (run_tool((char *const[]){(char *)LINKERS[i], "--version", NULL}, "/dev/null") == 0)
            return found = LINKERS[i];
    return NULL;
}

static char *first_line_of(const char *path) {
    size_t len;
    AwqcError ignored;
    char *text = awqc_read_file(path, &len, &ignored);
    if (!text) return xstrdup("");
    char *nl = strchr(text, '\n');
    if (nl) *nl = '\0';
    return text;
}

bool link_shared_object(const uint8_t *obj, size_t obj_size, uint8_t **so, size_t *so_size, AwqcError *err) {
    const char *linker = find_linker();
    if (!linker) return awqc_fail(err, "no ld.lld found (install lld-14: scripts/setup.sh does)");
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char dir[512];
    snprintf(dir, sizeof dir, "%s/awqc-link-XXXXXX", tmp);
    if (!mkdtemp(dir)) return awqc_fail(err, "cannot make a temporary folder in %s", tmp);
    char o_path[600], so_path[600], log[600];
    snprintf(o_path, sizeof o_path, "%s/kernels.o", dir);
    snprintf(so_path, sizeof so_path, "%s/kernels.so", dir);
    snprintf(log, sizeof log, "%s/ld.log", dir);
    bool ok = awqc_write_file_atomic(o_path, obj, obj_size, err);
    if (ok) {
        char *argv[] = {(char *)linker, "-shared", "--hash-style=both", "-O1", "-o", so_path, o_path, NULL};
        int rc = run_tool(argv, log);
        if (rc != 0) {
            char *why = first_line_of(log);
            ok = awqc_fail(err, "%s failed (exit %d): %s", linker, rc, why);
            free(why);
        }
    }
    if (ok) {
        char *bytes = awqc_read_file(so_path, so_size, err);
        ok = bytes != NULL;
        *so = (uint8_t *)bytes;
    }
    unlink(o_path);
    unlink(so_path);
    unlink(log);
    rmdir(dir);
    return ok;
}
