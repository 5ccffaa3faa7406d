// cmd_inspect.c: `awqc inspect OUT.awqx`: what a compiled artifact holds:
// model, target, quantization, the section table with sizes and checksums,
// and the weights by kind. Opening it checks every checksum, so a listing
// also says the file is intact. --extract writes one section's bytes out (the
// PTX of an orin artifact for ptxas, the CPU shared object for objdump).
// --gpu sm_XY says which of its CUDA code a GPU of that compute capability
// would run (the runtime's own choice), or why it would refuse, with no GPU.
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "codegen/cpu/cpu_codegen.h" // the section names only (no LLVM)
#include "runtime/artifact.h"
#include "runtime/cuda/cuda_arch.h" // section names and the arch choice only (no driver)

static const char *const inspect_help =
    "usage: awqc inspect [--gpu ARCH] [--extract SECTION [-o FILE]] FILE.awqx\n"
    "Lists a compiled artifact's model, target, quantization, the code it carries\n"
    "(CPU and GPU halves), sections and weights, after checking its header and every\n"
    "section's checksum.\n"
    "      --gpu ARCH         also say which CUDA code a GPU of ARCH (sm_87, 87 or 8.7,\n"
    "                         as nvidia-smi --query-gpu=compute_cap prints it) runs:\n"
    "                         a cubin, or PTX the driver compiles at load; exits 1\n"
    "                         with the reason when it would refuse the artifact\n"
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
        int sm;
        CudaCodeKind kind;
        if (!cuda_code_section_parse(artifact_section_at(a, i)->name, &sm, &kind) || kind != CUDA_CODE_PTX)
            continue; // one line per architecture, from its PTX
        char cubin[AWQX_NAME_MAX];
        cuda_code_section_name(sm, CUDA_CODE_CUBIN, cubin);
        uint64_t cubin_size = 0;
        bool has_cubin = artifact_find(a, cubin, &cubin_size) != NULL;
        printf("gpu code      cuda sm_%d: PTX %.1f KiB", sm, (double)artifact_section_at(a, i)->size / 1024.0);
        if (has_cubin) printf(", cubin %.1f KiB", (double)cubin_size / 1024.0);
        printf("\n");
    }
}

// "sm_87", "87" or "8.7" -> 87; 0 for anything else.
static int parse_gpu_arch(const char *s) {
    if (strncmp(s, "sm_", 3) == 0) s += 3;
    char *end;
    long major = strtol(s, &end, 10);
    if (end == s) return 0;
    if (*end == '.') {
        const char *minor_at = end + 1;
        long minor = strtol(minor_at, &end, 10);
        if (end == minor_at || *end || major < 1 || major > 99 || minor < 0 || minor > 9) return 0;
        return (int)(10 * major + minor);
    }
    return *end || major < 10 || major > 999 ? 0 : (int)major;
}

// Which code a GPU of compute capability sm runs, as the CUDA engine chooses it.
static void print_gpu_choice(const CudaCodeChoice *c, int sm) {
    if (c->kind == CUDA_CODE_CUBIN)
        printf("on sm_%-8d runs %s (%s)\n", sm, c->section,
               c->sm == sm ? "machine code for this arch" : "machine code of a lower minor, binary compatible");
    else
        printf("on sm_%-8d runs %s (PTX for sm_%d, compiled by the driver at load)\n", sm, c->section, c->sm);
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
    static const struct option longs[] = {{"extract", required_argument, 0, 'x'},
                                          {"output", required_argument, 0, 'o'},
                                          {"gpu", required_argument, 0, 'g'},
                                          {"help", no_argument, 0, 'h'},
                                          {0, 0, 0, 0}};
    const char *extract = NULL, *output = NULL;
    int gpu_sm = -1, c;
    while ((c = getopt_long(argc, argv, "o:h", longs, NULL)) != -1) {
        switch (c) {
        case 'x': extract = optarg; break;
        case 'o': output = optarg; break;
        case 'g':
            gpu_sm = parse_gpu_arch(optarg);
            if (!gpu_sm) die("inspect: --gpu '%s' is not a GPU arch: give sm_87, 87 or 8.7", optarg);
            break;
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
    CudaCodeChoice choice;
    AwqcError refusal;
    bool runs = gpu_sm < 0 || cuda_select_artifact_code(a, artifact_path(a), gpu_sm, &choice, &refusal);
    if (gpu_sm > 0 && runs) print_gpu_choice(&choice, gpu_sm);
    print_sections(a);
    print_weight_kinds(index);
    cJSON_Delete(index);
    artifact_close(a);
    if (!runs) die_error(&refusal); // last, under the listing: the answer to --gpu
    return 0;
}
