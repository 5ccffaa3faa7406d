// link.c: turns the object file LLVM emitted into a shared object with
// ld.lld, which links for every target LLVM emits for (x86-64 and aarch64
// alike) without a cross toolchain. The kernels call nothing but libm
// symbols the runtime process already has, so no library is linked in.
#include "codegen/cpu/link.h"

#include <stdlib.h>
#include <string.h>

#include "codegen/tool_run.h"

static const char *const LINKERS[] = {"ld.lld", "ld.lld-14", "/usr/lib/llvm-14/bin/ld.lld"};

// The first linker that runs (its --version exits 0), spawned as the link is.
static const char *find_linker(void) {
    static const char *found;
    if (found) return found;
    for (size_t i = 0; i < sizeof LINKERS / sizeof *LINKERS; i++)
        if (tool_spawn((char *const[]){(char *)LINKERS[i], "--version", NULL}, "/dev/null") == 0)
            return found = LINKERS[i];
    return NULL;
}

static char *first_line(char *text) {
    char *nl = strchr(text, '\n');
    if (nl) *nl = '\0';
    return text;
}

bool link_shared_object(const uint8_t *obj, size_t obj_size, uint8_t **so, size_t *so_size, AwqcError *err) {
    const char *linker = find_linker();
    if (!linker) return awqc_fail(err, "no ld.lld found (install lld-14: scripts/setup.sh does)");
    ToolFiles f;
    if (!tool_files_open(&f, "link", "kernels.o", obj, obj_size, "kernels.so", err)) return false;
    char *argv[] = {(char *)linker, "-shared", "--hash-style=both", "-O1", "-o", f.output, f.input, NULL};
    int rc = tool_spawn(argv, f.log);
    bool ok = rc == 0;
    if (!ok) {
        char *why = first_line(tool_read_log(&f));
        awqc_fail(err, "%s failed (exit %d): %s", linker, rc, why);
        free(why);
    } else {
        *so = tool_read_output(&f, so_size, err);
        ok = *so != NULL;
    }
    tool_files_close(&f);
    return ok;
}
