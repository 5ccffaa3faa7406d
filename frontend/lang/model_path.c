// model_path.c: choosing the model description for a checkpoint from its
// architecture name (GGUF general.architecture, HF model_type), through a tiny
// alias table for architectures that share a description.
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lang_internal.h"

// ----------------------------------------------------------------------------
// architecture names

// Architectures whose weights and hyper-parameters a shared description
// covers under the same keys and tensor names.
static const struct {
    const char *arch, *model;
} aliases[] = {
    {"mistral", "llama"},
};

static const char *model_for_arch(const char *arch) {
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (strcmp(aliases[i].arch, arch) == 0) return aliases[i].model;
    return arch;
}

// The name becomes part of a path: no separators or dots that could leave
// models_dir.
static bool is_safe_arch(const char *arch) {
    if (!*arch) return false;
    for (const char *p = arch; *p; p++)
        if (!(*p == '_' || *p == '-' || (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
            return false;
    return true;
}

// ----------------------------------------------------------------------------
// the models folder

static int compare_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

// "llama, qwen2" from the *.model files in dir, sorted; "none" when empty.
static char *available_models(const char *dir) {
    char **names = NULL;
    size_t n = 0, cap = 0;
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (len <= 6 || strcmp(e->d_name + len - 6, ".model") != 0) continue;
        GROW(names, cap, n + 1);
        names[n++] = xstrndup(e->d_name, len - 6);
    }
    if (d) closedir(d);
    if (n) qsort(names, n, sizeof *names, compare_names);
    char *list = xstrdup(n ? "" : "none");
    for (size_t i = 0; i < n; i++) {
        char *longer = awqc_asprintf("%s%s%s", list, i ? ", " : "", names[i]);
        free(list);
        free(names[i]);
        list = longer;
    }
    free(names);
    return list;
}

char *lang_model_path_for(const Checkpoint *ckpt, const char *models_dir, AwqcError *err) {
    const char *key = ckpt_format(ckpt) == CKPT_GGUF ? "general.architecture" : "model_type";
    const char *arch = NULL;
    if (!ckpt_meta_string(ckpt, key, &arch)) {
        awqc_fail(err, "%s: no string '%s' in the metadata, so the architecture is unknown", ckpt_path(ckpt), key);
        return NULL;
    }
    if (!is_safe_arch(arch)) {
        awqc_fail(err, "%s: architecture name '%s' (%s) is not a plain name", ckpt_path(ckpt), arch, key);
        return NULL;
    }
    char *path = awqc_asprintf("%s/%s.model", models_dir, model_for_arch(arch));
    if (access(path, R_OK) == 0) return path;
    char *list = available_models(models_dir);
    awqc_fail(err, "%s: no model description for architecture '%s': %s does not exist (available in %s: %s)",
              ckpt_path(ckpt), arch, path, models_dir, list);
    free(list);
    free(path);
    return NULL;
}
