// tool_run.h: runs an external compiler tool (ld.lld for CPU code, ptxas for
// CUDA cubins) over files in a fresh private temporary folder: the input is
// written there, the tool's output and its log are read back, and the folder
// is removed, so the code generators share one way to do it.
#ifndef AWQC_CODEGEN_TOOL_RUN_H
#define AWQC_CODEGEN_TOOL_RUN_H

#include <stdbool.h>
#include <stddef.h>

#include "common/util.h"

typedef struct {
    char *dir;                  // $TMPDIR/awqc-<tag>-XXXXXX
    char *input, *output, *log; // paths in dir
} ToolFiles;

// Makes the folder and writes data to its input file (named input_name);
// output_name is where the tool is to write. False with err, nothing left behind.
bool tool_files_open(ToolFiles *f, const char *tag, const char *input_name, const void *data, size_t size,
                     const char *output_name, AwqcError *err);
// Removes the folder and everything the tool wrote into it.
void tool_files_close(ToolFiles *f);

// Runs argv (argv[0] looked up on PATH when it has no '/'), stdout and stderr
// into log_path; the exit status, or -1 when it could not start or was killed.
int tool_spawn(char *const argv[], const char *log_path);

// The tool's output file (heap, *size bytes); NULL with err.
void *tool_read_output(const ToolFiles *f, size_t *size, AwqcError *err);
// The log, NUL-terminated (heap; "" when there is none).
char *tool_read_log(const ToolFiles *f);

#endif
