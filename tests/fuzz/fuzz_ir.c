// fuzz_ir.c: libFuzzer harness for the IR text parser. The input is IR text;
// whatever parses must verify without crashing and survive print -> parse ->
// print unchanged (the text form's promise in ir.h), else the harness aborts.
// Not built by default: CC=clang cmake -DAWQC_FUZZ=ON (see CMakeLists.txt here).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/ir.h"

// ----------------------------------------------------------------------------

static void check_round_trip(const Graph *g) {
    char *first = ir_print_to_string(g);
    AwqcError err;
    Graph *again = ir_parse(first, "printed.ir", &err);
    if (!again) {
        fprintf(stderr, "printed IR does not parse again: %s\n--- printed:\n%s\n", err.msg, first);
        abort();
    }
    char *second = ir_print_to_string(again);
    if (strcmp(first, second) != 0) {
        fprintf(stderr, "print -> parse -> print changed the text:\n--- first:\n%s\n--- second:\n%s\n", first, second);
        abort();
    }
    free(second);
    ir_graph_free(again);
    free(first);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = xstrndup((const char *)data, size); // ir_parse reads up to a NUL
    AwqcError err;
    Graph *g = ir_parse(text, "fuzz.ir", &err);
    if (g) {
        (void)ir_verify(g, &err);
        check_round_trip(g);
        ir_graph_free(g);
    }
    free(text);
    return 0;
}
