// cpu_codegen.c: the CPU code generator's driver (cpu_codegen.h): resolves
// the target, emits one function per phase of every plan node, exports the
// kernel table of abi.h, runs LLVM's O3 pipeline for the target CPU, emits
// an object file and links it into a shared object.
#include "codegen/cpu/cpu_codegen.h"

#include <cjson/cJSON.h>
#include <llvm-c/Analysis.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>
#include <llvm-c/Transforms/PassBuilder.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codegen/cpu/abi.h"
#include "codegen/cpu/kernels.h"
#include "codegen/cpu/link.h"
#include "common/strmap.h"

// ----------------------------------------------------------------------------
// targets

typedef struct {
    const char *name, *triple, *cpu, *features, *arch;
} NamedTarget;

// Named targets fix the CPU so an artifact built anywhere is the same.
static const NamedTarget NAMED[] = {
    {"x86-64", "x86_64-pc-linux-gnu", "x86-64-v3", "", "x86-64"},
    {"x86-64-avx2", "x86_64-pc-linux-gnu", "x86-64-v3", "", "x86-64"},
    {"x86-64-avx512", "x86_64-pc-linux-gnu", "x86-64-v4", "", "x86-64"},
    {"x86-64-vnni", "x86_64-pc-linux-gnu", "x86-64-v4", "+avx512vnni", "x86-64"},
    {"aarch64", "aarch64-unknown-linux-gnu", "cortex-a78", "+neon", "aarch64"},
    {"orin", "aarch64-unknown-linux-gnu", "cortex-a78", "+neon", "aarch64"},
};

bool cpu_target_is_cpu(const char *target) {
    if (!target || strcmp(target, "host") == 0) return true;
    for (size_t i = 0; i < sizeof NAMED / sizeof *NAMED; i++)
        if (strcmp(NAMED[i].name, target) == 0) return true;
    return false;
}

static int lanes_for(const char *arch, const char *cpu, const char *features) {
    if (strcmp(arch, "aarch64") == 0) return 4;
    if (strstr(features, "+avx512f") || strcmp(cpu, "x86-64-v4") == 0) return 16;
    return 8;
}

static void init_llvm_targets(void) {
    static bool done;
    if (done) return;
    done = true;
    LLVMInitializeX86TargetInfo();
    LLVMInitializeX86Target();
    LLVMInitializeX86TargetMC();
    LLVMInitializeX86AsmPrinter();
    LLVMInitializeAArch64TargetInfo();
    LLVMInitializeAArch64Target();
    LLVMInitializeAArch64TargetMC();
    LLVMInitializeAArch64AsmPrinter();
}

static void host_target(CpuTarget *t) {
    char *triple = LLVMGetDefaultTargetTriple(), *cpu = LLVMGetHostCPUName(), *feat = LLVMGetHostCPUFeatures();
    char *norm = LLVMNormalizeTargetTriple(triple);
    t->triple = xstrdup(norm);
    t->cpu = xstrdup(cpu);
    t->features = xstrdup(feat);
    t->arch = strncmp(norm, "aarch64", 7) == 0 ? "aarch64" : "x86-64";
    LLVMDisposeMessage(triple);
    LLVMDisposeMessage(norm);
    LLVMDisposeMessage(cpu);
    LLVMDisposeMessage(feat);
}

bool cpu_target_resolve(const char *target, CpuTarget *t, AwqcError *err) {
    memset(t, 0, sizeof *t);
    init_llvm_targets();
    if (!target || strcmp(target, "host") == 0) {
        host_target(t);
    } else {
        size_t i = 0;
        while (i < sizeof NAMED / sizeof *NAMED && strcmp(NAMED[i].name, target) != 0) i++;
        if (i == sizeof NAMED / sizeof *NAMED) return awqc_fail(err, "'%s' is not a CPU target", target);
        t->triple = xstrdup(NAMED[i].triple);
        t->cpu = xstrdup(NAMED[i].cpu);
        t->features = xstrdup(NAMED[i].features);
        t->arch = NAMED[i].arch;
    }
    t->vector_lanes = lanes_for(t->arch, t->cpu, t->features);
    return true;
}

void cpu_target_free(CpuTarget *t) {
    free(t->triple);
    free(t->cpu);
    free(t->features);
    memset(t, 0, sizeof *t);
}

static LLVMTargetMachineRef target_machine(const CpuTarget *t, AwqcError *err) {
    LLVMTargetRef tr;
    char *msg = NULL;
    if (LLVMGetTargetFromTriple(t->triple, &tr, &msg)) {
        awqc_fail(err, "LLVM has no target for %s: %s", t->triple, msg ? msg : "?");
        LLVMDisposeMessage(msg);
        return NULL;
    }
    return LLVMCreateTargetMachine(tr, t->triple, t->cpu, t->features, LLVMCodeGenLevelAggressive, LLVMRelocPIC,
                                   LLVMCodeModelDefault);
}

// ----------------------------------------------------------------------------
// kernels and their table

static bool emit_node(KernelJob *j, AwqcError *err) {
    switch (j->n->op) {
    case OP_INPUT:
    case OP_PARAM: return true; // values the runtime provides
    case OP_LINEAR:
    case OP_RMS_NORM_LINEAR:
    case OP_LINEAR_ADD: return emit_linear(j, err);
    case OP_ROPE:
    case OP_ATTENTION:
    case OP_ROPE_ATTENTION: return emit_attention(j, err);
    case OP_EMBEDDING:
    case OP_RMS_NORM:
    case OP_LAYER_NORM:
    case OP_SILU:
    case OP_GELU:
    case OP_RELU:
    case OP_ADD:
    case OP_MUL:
    case OP_SOFTMAX:
    case OP_AWQ_SCALE:
    case OP_SLICE:
    case OP_SILU_MUL: return emit_elementwise(j, err);
    case OP_COUNT: break;
    }
    return kernel_fail(j, err, "no CPU kernel for this op");
}

static LLVMValueRef export_i64(Ll *l, const char *name, int64_t v) {
    LLVMValueRef gv = LLVMAddGlobal(l->mod, l->i64, name);
    LLVMSetInitializer(gv, ll_i64(l, v));
    LLVMSetGlobalConstant(gv, 1);
    return gv;
}

// The 4-bit layout the target's kernels read: 16-code halves suit NEON's
// 128-bit registers, 32-code halves x86's 256/512-bit ones.
const char *cpu_native_layout4(const Ll *l) { return l->vw == 4 ? "neon-i4" : "avx2-i4"; }

static void export_layout4(Ll *l) {
    const char *name = cpu_native_layout4(l);
    LLVMValueRef str = LLVMConstStringInContext(l->ctx, name, (unsigned)strlen(name), 0);
    LLVMValueRef gv = LLVMAddGlobal(l->mod, LLVMTypeOf(str), AWQC_SYM_LAYOUT4);
    LLVMSetInitializer(gv, str);
    LLVMSetGlobalConstant(gv, 1);
}

// awqc_kernels: {i64 node, i64 phase, i8* fn} per phase, in node order.
static void export_table(Ll *l, const NodeKernels *k, size_t n_nodes, int *count) {
    LLVMTypeRef fields[3] = {l->i64, l->i64, l->p8};
    LLVMTypeRef entry = LLVMStructTypeInContext(l->ctx, fields, 3, 0);
    int n = 0;
    for (size_t i = 0; i < n_nodes; i++) n += k[i].n;
    LLVMValueRef *rows = xcalloc((size_t)(n ? n : 1), sizeof *rows);
    int at = 0;
    for (size_t i = 0; i < n_nodes; i++)
        for (int p = 0; p < k[i].n; p++) {
            LLVMValueRef vals[3] = {ll_i64(l, (int64_t)i), ll_i64(l, p), LLVMConstBitCast(k[i].fn[p], l->p8)};
            rows[at++] = LLVMConstNamedStruct(entry, vals, 3);
        }
    LLVMValueRef gv = LLVMAddGlobal(l->mod, LLVMArrayType(entry, (unsigned)n), AWQC_SYM_TABLE);
    LLVMSetInitializer(gv, LLVMConstArray(entry, rows, (unsigned)n));
    LLVMSetGlobalConstant(gv, 1);
    free(rows);
    export_i64(l, AWQC_SYM_COUNT, n);
    export_i64(l, AWQC_SYM_ABI, AWQC_CPU_ABI_VERSION);
    export_layout4(l);
    *count = n;
}

// What a node's kernels depend on: the op, the attributes (but the memory
// plan's and the fusion's bookkeeping) and every operand's and the result's
// type and layout. Nodes with the same key share their kernels, so the 30
// identical layers of a model are generated, optimised and emitted once.
static void appendf(StrBuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void appendf(StrBuf *b, const char *fmt, ...) {
    char piece[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(piece, sizeof piece, fmt, ap);
    va_end(ap);
    sb_append(b, piece);
}

static char *kernel_key(const Graph *g, const Node *n) {
    StrBuf b = {0};
    char ty[128];
    appendf(&b, "%s>%s", ir_op_name(n->op), ir_type_str(&n->type, ty, sizeof ty));
    for (int i = 0; i < n->n_in; i++) {
        const Weight *w = n->in[i].kind == OPND_WEIGHT ? &g->weights[n->in[i].index] : NULL;
        appendf(&b, "|%s%s:%s", w ? "w" : "v", ir_type_str(ir_operand_type(g, n->in[i]), ty, sizeof ty),
                   w && w->layout ? w->layout : "");
    }
    for (int i = 0; i < n->n_attrs; i++) {
        const Attr *a = &n->attrs[i];
        if (!strcmp(a->key, "buf") || !strcmp(a->key, "rule")) continue;
        if (a->kind == ATTR_INT) appendf(&b, "|%s=%lld", a->key, (long long)a->i);
        else if (a->kind == ATTR_FLOAT) appendf(&b, "|%s=%.17g", a->key, a->f);
        else appendf(&b, "|%s='%s'", a->key, a->s);
    }
    return sb_finish(&b);
}

static bool build_module(Ll *l, const Graph *g, int *n_kernels, AwqcError *err) {
    NodeKernels *k = xcalloc(g->n_nodes ? g->n_nodes : 1, sizeof *k);
    char **keys = xcalloc(g->n_nodes ? g->n_nodes : 1, sizeof *keys);
    StrMap seen;
    strmap_init(&seen, g->n_nodes);
    bool ok = true;
    for (size_t i = 0; ok && i < g->n_nodes; i++) {
        keys[i] = kernel_key(g, &g->nodes[i]);
        int32_t same = strmap_get(&seen, keys[i], (uint32_t)strlen(keys[i]));
        if (same >= 0) {
            k[i] = k[same];
            continue;
        }
        KernelJob j = {l, g, (int)i, &g->nodes[i], &k[i]};
        ok = emit_node(&j, err);
        strmap_put(&seen, keys[i], (uint32_t)strlen(keys[i]), (int32_t)i);
    }
    if (ok) export_table(l, k, g->n_nodes, n_kernels);
    strmap_free(&seen);
    for (size_t i = 0; i < g->n_nodes; i++) free(keys[i]);
    free(keys);
    free(k);
    if (!ok) return false;
    char *msg = NULL;
    if (LLVMVerifyModule(l->mod, LLVMReturnStatusAction, &msg)) {
        fprintf(stderr, "%s\n", msg);
        LLVMDisposeMessage(msg);
        AWQC_PANIC("the CPU code generator built an invalid LLVM module");
    }
    LLVMDisposeMessage(msg);
    return true;
}

// ----------------------------------------------------------------------------
// optimise, emit, link

static bool optimise(LLVMModuleRef mod, LLVMTargetMachineRef tm, AwqcError *err) {
    LLVMPassBuilderOptionsRef po = LLVMCreatePassBuilderOptions();
    LLVMErrorRef e = LLVMRunPasses(mod, "default<O3>", tm, po);
    LLVMDisposePassBuilderOptions(po);
    if (!e) return true;
    char *msg = LLVMGetErrorMessage(e);
    awqc_fail(err, "LLVM O3 pipeline: %s", msg);
    LLVMDisposeErrorMessage(msg);
    return false;
}

static bool emit_object(LLVMModuleRef mod, LLVMTargetMachineRef tm, LLVMMemoryBufferRef *obj, AwqcError *err) {
    char *msg = NULL;
    if (LLVMTargetMachineEmitToMemoryBuffer(tm, mod, LLVMObjectFile, &msg, obj)) {
        awqc_fail(err, "LLVM object emission: %s", msg ? msg : "?");
        LLVMDisposeMessage(msg);
        return false;
    }
    return true;
}

static char *info_json(const CpuTarget *t) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "arch", t->arch);
    cJSON_AddStringToObject(o, "triple", t->triple);
    cJSON_AddStringToObject(o, "cpu", t->cpu);
    cJSON_AddStringToObject(o, "features", t->features);
    cJSON_AddNumberToObject(o, "vector_lanes", t->vector_lanes);
    cJSON_AddNumberToObject(o, "abi", AWQC_CPU_ABI_VERSION);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    char *copy = xstrdup(s);
    cJSON_free(s);
    return copy;
}

static bool generate(const Graph *g, const CpuCodegenOptions *o, CpuCode *out, LLVMTargetMachineRef tm,
                     AwqcError *err) {
    LLVMContextRef ctx = LLVMContextCreate();
    LLVMModuleRef mod = LLVMModuleCreateWithNameInContext("awqc_kernels", ctx);
    LLVMSetTarget(mod, out->target.triple);
    LLVMTargetDataRef td = LLVMCreateTargetDataLayout(tm);
    LLVMSetModuleDataLayout(mod, td);
    LLVMDisposeTargetData(td);
    Ll l;
    ll_init(&l, ctx, mod, out->target.vector_lanes);
    l.vnni = strstr(out->target.features, "+avx512vnni") != NULL;
    double t0 = awqc_now();
    bool ok = build_module(&l, g, &out->n_kernels, err);
    double t1 = awqc_now();
    ok = ok && (o->no_opt || optimise(mod, tm, err));
    double t2 = awqc_now();
    if (ok && o->emit_ll) {
        char *text = LLVMPrintModuleToString(mod);
        fputs(text, o->emit_ll);
        LLVMDisposeMessage(text);
    }
    LLVMMemoryBufferRef obj = NULL;
    ok = ok && emit_object(mod, tm, &obj, err);
    double t3 = awqc_now();
    if (ok) {
        ok = link_shared_object((const uint8_t *)LLVMGetBufferStart(obj), LLVMGetBufferSize(obj), &out->so,
                                &out->so_size, err);
        LLVMDisposeMemoryBuffer(obj);
    }
    out->seconds_emit = t1 - t0;
    out->seconds_opt = t2 - t1;
    out->seconds_object = t3 - t2;
    out->seconds_link = awqc_now() - t3;
    ll_dispose(&l);
    LLVMDisposeModule(mod);
    LLVMContextDispose(ctx);
    return ok;
}

bool cpu_codegen(const Graph *g, const char *target, const CpuCodegenOptions *o, CpuCode *out, AwqcError *err) {
    static const CpuCodegenOptions defaults = {0};
    memset(out, 0, sizeof *out);
    if (!cpu_target_resolve(target, &out->target, err)) return false;
    LLVMTargetMachineRef tm = target_machine(&out->target, err);
    bool ok = tm && generate(g, o ? o : &defaults, out, tm, err);
    if (tm) LLVMDisposeTargetMachine(tm);
    if (ok) out->info_json = info_json(&out->target);
    else cpu_code_free(out);
    if (ok && o && o->verbose)
        fprintf(stderr, "awqc: codegen %s (%s, %d lanes): %d kernels; emit %.2f s, O3 %.2f s, object %.2f s, link %.2f s\n",
                out->target.cpu, out->target.triple, out->target.vector_lanes, out->n_kernels, out->seconds_emit,
                out->seconds_opt, out->seconds_object, out->seconds_link);
    return ok;
}

void cpu_code_free(CpuCode *c) {
    cpu_target_free(&c->target);
    free(c->so);
    free(c->info_json);
    memset(c, 0, sizeof *c);
}
