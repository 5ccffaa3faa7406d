// tool_run.c: the temporary folder and the child process of tool_run.h.
#include "codegen/tool_run.h"

#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

bool tool_files_open(ToolFiles *f, const char *tag, const char *input_name, const void *data, size_t size,
                     const char *output_name, AwqcError *err) {
    memset(f, 0, sizeof *f);
    const char *tmp = getenv("TMPDIR");
    f->dir = awqc_asprintf("%s/awqc-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", tag);
    if (!mkdtemp(f->dir)) {
        awqc_fail(err, "cannot create a temporary folder %s", f->dir);
        free(f->dir);
        f->dir = NULL;
        return false;
    }
    f->input = awqc_asprintf("%s/%s", f->dir, input_name);
    f->output = awqc_asprintf("%s/%s", f->dir, output_name);
    f->log = awqc_asprintf("%s/%s.log", f->dir, tag);
    if (awqc_write_file_atomic(f->input, data, size, err)) return true;
    tool_files_close(f);
    return false;
}

void tool_files_close(ToolFiles *f) {
    char *paths[] = {f->input, f->output, f->log};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        if (paths[i]) unlink(paths[i]);
        free(paths[i]);
    }
    if (f->dir) rmdir(f->dir);
    free(f->dir);
    memset(f, 0, sizeof *f);
}

int tool_spawn(char *const argv[], const char *log_path) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) return -1;
    int status;
    if (waitpid(pid, &status, 0) != pid) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void *tool_read_output(const ToolFiles *f, size_t *size, AwqcError *err) {
    return awqc_read_file(f->output, size, err);
}

char *tool_read_log(const ToolFiles *f) {
    AwqcError ignored;
    char *log = awqc_read_file(f->log, NULL, &ignored);
    return log ? log : xstrdup("");
}
