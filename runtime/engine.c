// engine.c: the Engine of engine.h. It picks what executes a model: the
// GPU code a compiled artifact carries (through the registered GPU backend,
// runtime/cuda), its CPU code (runtime/cpu_engine.c), or the reference
// interpreter, and forwards each call to it.
#include "runtime/engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/cpu/cpu_codegen.h"
#include "runtime/artifact.h"
#include "runtime/cpu_engine.h"
#include "runtime/interp.h"

struct Engine {
    Interp *interp;  // one of the three
    CpuEngine *cpu;
    void *gpu;       // run by gpu_backend
    char *name;
};

static const EngineGpuBackend *gpu_backend;

void engine_register_gpu(const EngineGpuBackend *b) { gpu_backend = b; }

// ----------------------------------------------------------------------------
// creation

static const uint8_t *cpu_code(const Model *m, uint64_t *size) {
    return m->artifact ? artifact_find(m->artifact, AWQX_SEC_CPU_CODE, size) : NULL;
}

static bool cpu_code_runs_here(const Model *m, AwqcError *err) {
    uint64_t size = 0;
    const uint8_t *info = artifact_find(m->artifact, AWQX_SEC_CPU_INFO, &size);
    if (!info) return awqc_fail(err, "%s: has CPU code but no '%s' section", m->path, AWQX_SEC_CPU_INFO);
    char *text = xmalloc(size + 1);
    memcpy(text, info, size);
    text[size] = '\0';
    bool ok = cpu_engine_can_run(text, m->path, err);
    free(text);
    return ok;
}

static Engine *new_compiled(const Model *m, const EngineOptions *o, const uint8_t *so, uint64_t size,
                            AwqcError *err) {
    if (!cpu_code_runs_here(m, err)) {
        size_t len = strlen(err->msg);
        snprintf(err->msg + len, sizeof err->msg - len, " (--engine interp runs its plan with the interpreter)");
        return NULL;
    }
    CpuEngine *c = cpu_engine_new(m->graph, so, (size_t)size, m->path, o->n_ctx, o->n_threads, 0, err);
    if (!c) return NULL;
    Engine *e = xcalloc(1, sizeof *e);
    e->cpu = c;
    const char *target = artifact_meta_string(m->artifact, "target");
    e->name = awqc_asprintf("compiled %s", target ? target : "cpu");
    return e;
}

// ENGINE_CUDA, or AUTO on a model with GPU code: NULL with err and *why when
// the GPU cannot run it.
static Engine *new_gpu(const Model *m, const EngineOptions *o, GpuRefusal *why, AwqcError *err) {
    *why = GPU_FAULT;
    if (!gpu_backend) {
        awqc_fail(err, "this awqc was built without the CUDA runtime: --engine cuda is not available "
                  "(build it where the CUDA toolkit is installed)");
        return NULL;
    }
    void *b = gpu_backend->open(m, o, why, err);
    if (!b) return NULL;
    Engine *e = xcalloc(1, sizeof *e);
    e->gpu = b;
    e->name = xstrdup(gpu_backend->name(b));
    fprintf(stderr, "awqc: GPU: %s\n", gpu_backend->describe(b)); // which code runs: a cubin, or PTX the driver compiles
    return e;
}

// AUTO: the GPU when the model has code for it and a GPU is here, and one
// line on stderr when it falls back to the CPU instead:
// - no driver or no GPU: the artifact's CPU code, else the interpreter;
// - a GPU the artifact has no code for (an orin artifact on a Xavier): its
//   CPU code when it has some. A GPU-only artifact is refused then, with the
//   target to recompile for: the interpreter would be a silent slow fallback;
// - a fault (out of memory, a module that does not load) is the answer.
static Engine *try_gpu(const Model *m, const EngineOptions *o, bool *fall_back, AwqcError *err) {
    *fall_back = true;
    if (o->kind != ENGINE_AUTO || !gpu_backend || !gpu_backend->has_code(m)) return NULL;
    GpuRefusal why = GPU_FAULT;
    uint64_t size = 0;
    Engine *e = new_gpu(m, o, &why, err);
    *fall_back = !e && (why == GPU_ABSENT || (why == GPU_OTHER_ARCH && cpu_code(m, &size)));
    if (*fall_back) fprintf(stderr, "awqc: %s: not running its GPU code: %s\n", m->path, err->msg);
    return e;
}

Engine *engine_new(const Model *m, const EngineOptions *o, AwqcError *err) {
    bool fall_back;
    GpuRefusal why;
    if (o->kind == ENGINE_CUDA) return new_gpu(m, o, &why, err);
    Engine *g = try_gpu(m, o, &fall_back, err);
    if (g || !fall_back) return g;
    uint64_t so_size = 0;
    const uint8_t *so = cpu_code(m, &so_size);
    if (o->kind == ENGINE_COMPILED && !so) {
        awqc_fail(err, "%s: holds no compiled CPU code (compile it with awqc compile -o OUT.awqx)", m->path);
        return NULL;
    }
    if (o->kind != ENGINE_INTERP && so) return new_compiled(m, o, so, so_size, err);
    Interp *in = interp_new(m->graph, o->n_ctx, o->n_threads, err);
    if (!in) return NULL;
    Engine *e = xcalloc(1, sizeof *e);
    e->interp = in;
    e->name = xstrdup("interp");
    return e;
}

void engine_free(Engine *e) {
    if (!e) return;
    interp_free(e->interp);
    cpu_engine_free(e->cpu);
    if (e->gpu) gpu_backend->close(e->gpu);
    free(e->name);
    free(e);
}

// ----------------------------------------------------------------------------
// state and running

const char *engine_name(const Engine *e) { return e->name; }

int engine_pos(const Engine *e) {
    if (e->gpu) return gpu_backend->pos(e->gpu);
    return e->cpu ? cpu_engine_pos(e->cpu) : interp_pos(e->interp);
}

int engine_n_ctx(const Engine *e) {
    if (e->gpu) return gpu_backend->n_ctx(e->gpu);
    return e->cpu ? cpu_engine_n_ctx(e->cpu) : interp_n_ctx(e->interp);
}

// A GPU engine drives the device from one host thread.
int engine_threads(const Engine *e) {
    if (e->gpu) return 1;
    return e->cpu ? cpu_engine_threads(e->cpu) : interp_threads(e->interp);
}

int64_t engine_vocab(const Engine *e) {
    if (e->gpu) return gpu_backend->vocab(e->gpu);
    return e->cpu ? cpu_engine_vocab(e->cpu) : interp_vocab(e->interp);
}

void engine_reset(Engine *e) { engine_rewind(e, 0); }

void engine_rewind(Engine *e, int pos) {
    if (e->gpu) gpu_backend->rewind(e->gpu, pos);
    else if (e->cpu) cpu_engine_rewind(e->cpu, pos);
    else interp_rewind(e->interp, pos);
}

const float *engine_forward(Engine *e, const int32_t *tokens, int n, bool all_rows, AwqcError *err) {
    if (e->gpu) return gpu_backend->forward(e->gpu, tokens, n, all_rows, err);
    if (e->cpu) return cpu_engine_forward(e->cpu, tokens, n, all_rows, err);
    return interp_forward(e->interp, tokens, n, all_rows, err);
}

bool engine_device_info(Engine *e, EngineDeviceInfo *out, AwqcError *err) {
    memset(out, 0, sizeof *out);
    if (!e->gpu) return awqc_fail(err, "engine '%s' does not run on a GPU", e->name);
    return gpu_backend->device_info(e->gpu, out, err);
}
