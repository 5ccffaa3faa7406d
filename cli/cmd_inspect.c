// cmd_inspect.c: `awqc inspect OUT.awqx`: what a compiled artifact holds:
// model, target, quantization, the section table with sizes and checksums,
// and the weights by kind. Opening it checks every checksum, so a listing
// also says the file is intact.
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "runtime/artifact.h"

static const char *const inspect_help =
    "usage: awqc inspect FILE.awqx\n"
    "Lists a compiled artifact's model, target, quantization, sections and weights,\n"
    "after checking its header and every section's checksum.\n";

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

int cmd_inspect(int argc, char **argv) {
    if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        fputs(inspect_help, stdout);
        return 0;
    }
    if (argc != 2) {
        fputs(inspect_help, stderr);
        return 2;
    }
    AwqcError err;
    Artifact *a = artifact_open(argv[1], &err);
    if (!a) die_error(&err);
    cJSON *index = artifact_section_json(a, AWQX_SEC_WEIGHT_INDEX, &err);
    if (!index) die_error(&err);
    print_summary(a, artifact_meta(a), artifact_file_size(a));
    print_sections(a);
    print_weight_kinds(index);
    cJSON_Delete(index);
    artifact_close(a);
    return 0;
}
