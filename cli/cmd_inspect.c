// cmd_inspect.c: `awqc inspect OUT.awqx`: what a compiled artifact holds:
// model, target, quantization, the section table with sizes and checksums,
// and the weights by kind. Opening it checks every checksum, so a listing
// also says the file is intact. --extract writes one section's bytes out (the
// PTX of an orin artifact for ptxas, the CPU shared object for objdump).
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "codegen/cpu/cpu_codegen.h" // the section names only (no LLVM)
#include "runtime/artifact.h"

static const char *const inspect_help =
    "usage: awqc inspect [--extract SECTION [-o FILE]] FILE.awqx\n"
    "Lists a compiled artifact's model, target, quantization, the code it carries\n"
    "(CPU and GPU halves), sections and weights, after checking its header and every\n"
    "section's checksum.\n"
    "      --extract SECTION  write that section's bytes (e.g. code.cuda.sm_87.ptx,\n"
    "                         code.cpu.so) to FILE, or to standard output\n"
    "  -o, --output FILE      where --extract writes (replaced atomically)\n"
    "  -h, --help             this help\n";

static const char *str(const cJSON *o, const char *key) {
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
    return s ? s : "?";
}

static double num(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static double mib(double bytes) { return bytes / (1024.0 * 1024.0); }

static void print_summary(const Artifact *a, const cJSON *meta, uint64_t file_size) {
    printf("file          %s (%.1f MiB, format version %u)\n", artifact_path(a), mib((double)file_size),
           artifact_version(a));
    printf("model         %s, from %s\n", str(meta, "model"), str(meta, "source"));
    printf("compiled by   awqc %s for target %s, memory planned for %.0f tokens\n", str(meta, "awqc_version"),
           str(meta, "target"), num(meta, "planned_ctx"));
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(meta, "quantization");
    if (cJSON_IsObject(q))
        printf("quantization  W%.0f g%.0f, %.0f quantized weights\n", num(q, "bits"), num(q, "group_size"),
               num(q, "quantized_weights"));
    else
        printf("quantization  none (floating point)\n");
    printf("plan          %.0f nodes, %.0f weights\n", num(meta, "nodes"), num(meta, "weights"));
}

// The CPU half (code.cpu.json: what it was built for) and every GPU
// architecture with PTX or cubin sections.
static void print_cpu_code(const Artifact *a) {
    uint64_t so_size = 0;
    if (!artifact_find(a, AWQX_SEC_CPU_CODE, &so_size)) return;
    AwqcError err;
    cJSON *o = artifact_section_json(a, AWQX_SEC_CPU_INFO, &err);
    if (!o) return;
    const char *feat = str(o, "features");
    if (strlen(feat) > 40) feat = ""; // a host build lists every feature LLVM knows: the CPU name says it
    printf("cpu code      %s (%s%s%s, %.0f f32 lanes), %.1f KiB shared object\n", str(o, "arch"), str(o, "cpu"),
           *feat ? " " : "", feat, num(o, "vector_lanes"), (double)so_size / 1024.0);
    cJSON_Delete(o);
}

static void print_gpu_code(const Artifact *a) {
    for (size_t i = 0; i < artifact_section_count(a); i++) {
        const ArtifactSection *s = artifact_section_at(a, i);
        const char *arch = strncmp(s->name, "code.cuda.sm_", 13) == 0 ? s->name + 10 : NULL;
        const char *dot = arch ? strrchr(arch, '.') : NULL;
        if (!dot || strcmp(dot, ".ptx") != 0) continue; // one line per architecture, from its PTX
        char cubin[96];
        snprintf(cubin, sizeof cubin, "code.cuda.%.*s.cubin", (int)(dot - arch), arch);
        uint64_t cubin_size = 0;
        bool has_cubin = artifact_find(a, cubin, &cubin_size) != NULL;
        printf("gpu code      cuda %.*s: PTX %.1f KiB%s", (int)(dot - arch), arch, (double)s->size / 1024.0,
               has_cubin ? ", cubin " : "\n");
        if (has_cubin) printf("%.1f KiB\n", (double)cubin_size / 1024.0);
    }
}

static void print_sections(const Artifact *a) {
    printf("\n%-24s %12s %12s  %s\n", "section", "offset", "bytes", "xxh3-64");
    for (size_t i = 0; i < artifact_section_count(a); i++) {
        const ArtifactSection *s = artifact_section_at(a, i);
        printf("%-24s %12llu %12llu  %016llx\n", s->name, (unsigned long long)s->offset, (unsigned long long)s->size,
               (unsigned long long)s->checksum);
    }
}

static void print_weight_kinds(const cJSON *index) {
    static const char *const kinds[] = {"f32", "packed", "codes"};
    printf("\n%-8s %8s %12s\n", "weights", "count", "MiB");
    for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
        int count = 0;
        double bytes = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, index) {
            if (strcmp(str(e, "kind"), kinds[k]) != 0) continue;
            count++;
            bytes += num(e, "size");
        }
        if (count) printf("%-8s %8d %12.1f\n", kinds[k], count, mib(bytes));
    }
}

// Writes section name of a to path (atomically) or to standard output.
static void extract_section(const Artifact *a, const char *name, const char *path) {
    uint64_t size = 0;
    const uint8_t *bytes = artifact_find(a, name, &size);
    if (!bytes) die("inspect: %s has no section '%s' (awqc inspect %s lists them)", artifact_path(a), name, artifact_path(a));
    AwqcError err;
    if (path) {
        if (!awqc_write_file_atomic(path, bytes, (size_t)size, &err)) die_error(&err);
        fprintf(stderr, "awqc: wrote %s (%llu bytes of %s)\n", path, (unsigned long long)size, name);
    } else if (fwrite(bytes, 1, (size_t)size, stdout) != size || fflush(stdout) != 0) {
        die("inspect: cannot write section '%s' to standard output", name);
    }
}

int cmd_inspect(int argc, char **argv) {
    static const struct option longs[] = {{"extract", required_argument, 0, 'x'}, {"output", required_argument, 0, 'o'},
                                          {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *extract = NULL, *output = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "o:h", longs, NULL)) != -1) {
        switch (c) {
        case 'x': extract = optarg; break;
        case 'o': output = optarg; break;
        case 'h': fputs(inspect_help, stdout); return 0;
        default: fputs(inspect_help, stderr); return 2;
        }
    }
    if (optind != argc - 1) {
        fputs(inspect_help, stderr);
        return 2;
    }
    if (output && !extract) die("inspect: -o FILE goes with --extract SECTION");
    AwqcError err;
    Artifact *a = artifact_open(argv[optind], &err);
    if (!a) die_error(&err);
    if (extract) {
        extract_section(a, extract, output);
        artifact_close(a);
        return 0;
    }
    cJSON *index = artifact_section_json(a, AWQX_SEC_WEIGHT_INDEX, &err);
    if (!index) die_error(&err);
    print_summary(a, artifact_meta(a), artifact_file_size(a));
    print_cpu_code(a);
    print_gpu_code(a);
    print_sections(a);
    print_weight_kinds(index);
    cJSON_Delete(index);
    artifact_close(a);
    return 0;
}
