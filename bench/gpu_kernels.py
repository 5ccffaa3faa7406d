"""gpu_kernels.py: on a machine with an NVIDIA GPU and nvcc, times awqc's
decode GEMV kernels (codegen/cuda/kernels.cuh) alone at Llama-2-7B's
shapes, over a sweep of their launch shapes, against the device's copy
bandwidth measured in the same run: how the code generator's choices
(emit.c gemv_shape) were made. Each variant's launches are captured in a
CUDA graph, as awqc's decode step is, and cycle through enough copies of
the weights that the L2 cache cannot hold them (50 MB on an H100).

Usage: python3 bench/gpu_kernels.py [--arch sm_90] [--only q4|h16]
       [--arith f32|f16|both] [--stages 1|2|both] [--out DIR] [--compile-only]
       [--limit N] [--jobs N]
Prints one line per variant: shape, template arguments, blocks, microseconds
per launch, GB/s of weights read, that as a percentage of the copy
bandwidth, and the largest difference of its outputs from the shape's first
variant (same weights and x: launch shapes must not change the result
beyond the order of additions; the f16x2 variants, the last template
argument true (awqc compile --act f16), also round x and their sums to f16).
Then the fastest variant of each shape, arithmetic and stage count, and what a 7B decode
token's GEMVs would take with them: a share of the copy-bandwidth bound for
the GEMVs alone, the most the whole step can reach with these kernels.
--arith picks the q4 GEMV's arithmetic (both: each launch shape in f32, then
in f16x2), --stages its copies of weight rows (1: a batch copied, then
computed; 2: double-buffered; both: each of those, as awqc compile
--gemv-stages picks). The variants are compiled in --jobs parts at once
(default: the machine's cores). --compile-only builds the harness without a GPU (nvcc only), e.g.
to carry it to one; --sass also prints each q4 variant's registers and
SASS instruction counts (cuobjdump), which need no GPU either.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Llama-2-7B's decode GEMVs after merge-qkv / merge-gate-up / fusion:
# (name, N, K, norm, res, silu)
Q4_SHAPES = [("qkv", 12288, 4096, 1, 0, 0), ("o", 4096, 4096, 0, 1, 0),
             ("gate_up", 22016, 4096, 1, 0, 0), ("down", 4096, 11008, 0, 1, 1)]
GROUP = 128
HEAD = (32000, 4096)

# The Variant struct, shared by the harness and the parts of kernels.
VARIANT = r'''
#include <vector>
struct Variant {
    const char *shape, *targs;
    void (*kernel)(KArgs);
    int gx, bx, by, n, k, in_words; // in_words: x floats per token
    size_t wbytes, part_floats;
    int norm, res;
};
void run(const Variant &v, double bw);
'''

HARNESS = r'''
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>
#include <cuda_runtime.h>
#define CK(x) do { cudaError_t e_ = (x); if (e_ != cudaSuccess) { \
    fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, cudaGetErrorString(e_)); exit(1); } } while (0)

static unsigned rng = 12345u;
static unsigned next_u32() { rng = rng * 1664525u + 1013904223u; return rng; }

static double copy_bandwidth() {
    size_t bytes = (size_t)1 << 30;
    void *a, *b;
    CK(cudaMalloc(&a, bytes)); CK(cudaMalloc(&b, bytes));
    CK(cudaMemset(a, 1, bytes));
    cudaEvent_t e0, e1; CK(cudaEventCreate(&e0)); CK(cudaEventCreate(&e1));
    CK(cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice));
    CK(cudaEventRecord(e0));
    for (int i = 0; i < 5; i++) CK(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice));
    CK(cudaEventRecord(e1)); CK(cudaEventSynchronize(e1));
    float ms; CK(cudaEventElapsedTime(&ms, e0, e1));
    CK(cudaFree(a)); CK(cudaFree(b));
    return 2.0 * bytes * 5 / (ms * 1e-3) / 1e9;
}

// Random weights: q4 words anything, f16 scales small (exponent bits kept
// low so products stay finite), f16 head values small likewise.
static void fill_weights(unsigned *h, size_t words, bool f16_halves) {
    for (size_t i = 0; i < words; i++) {
        unsigned r = next_u32();
        h[i] = f16_halves ? (r & 0x83ff83ffu) | 0x20002000u : r;
    }
}

// The outputs of the first variant of each shape: every later one of the
// shape is compared with them (the variants come grouped by shape).
static std::vector<float> first_outputs;
static const char *first_shape = "";

void run(const Variant &v, double bw) {
    const int launches = 40;
    if (strcmp(first_shape, v.shape)) first_outputs.clear(), first_shape = v.shape;
    std::vector<float> *first = &first_outputs;
    rng = 12345u; // the same weights and x for every variant of a shape
    size_t words = v.wbytes / 4;
    int copies = (int)((400u << 20) / v.wbytes) + 1;
    if (copies > launches) copies = launches;
    std::vector<unsigned> h(words);
    std::vector<void *> w(copies);
    bool q4 = strncmp(v.shape, "head", 4) != 0;
    fill_weights(h.data(), words, !q4);
    if (q4) { // scales (the last K/G*N halves) small f16
        size_t scale_words = (size_t)(v.k / GROUP) * v.n / 2;
        fill_weights(h.data() + words - scale_words, scale_words, true);
    }
    for (int c = 0; c < copies; c++) { // equal copies: only their addresses must differ, to miss the L2
        CK(cudaMalloc(&w[c], v.wbytes));
        CK(cudaMemcpy(w[c], h.data(), v.wbytes, cudaMemcpyHostToDevice));
    }
    float *x, *gain, *res, *out, *part; unsigned *done;
    std::vector<float> hx(v.in_words);
    for (auto &f : hx) f = (float)((int)(next_u32() % 2001) - 1000) / 1000.0f;
    CK(cudaMalloc(&x, v.in_words * 4)); CK(cudaMemcpy(x, hx.data(), v.in_words * 4, cudaMemcpyHostToDevice));
    CK(cudaMalloc(&gain, v.k * 4)); CK(cudaMemcpy(gain, hx.data(), v.k * 4, cudaMemcpyHostToDevice));
    CK(cudaMalloc(&res, v.n * 4)); CK(cudaMemset(res, 0, v.n * 4));
    CK(cudaMalloc(&out, v.n * 4));
    CK(cudaMalloc(&part, (v.part_floats + 1) * 4));
    CK(cudaMalloc(&done, 4096 * 4)); CK(cudaMemset(done, 0, 4096 * 4));
    KArgs a; memset(&a, 0, sizeof a);
    a.out = out; a.part = part; a.done = done; a.T = 1; a.eps = 1e-5f;
    auto args_for = [&](int c) {
        KArgs b = a; int i = 0;
        b.in[i++] = x;
        if (v.norm) b.in[i++] = gain;
        b.in[i++] = w[c];
        if (v.res) b.in[i++] = res;
        return b;
    };
    cudaStream_t s; CK(cudaStreamCreate(&s));
    KArgs a0 = args_for(0);
    v.kernel<<<dim3(v.gx, 1), dim3(v.bx, v.by), 0, s>>>(a0);
    CK(cudaStreamSynchronize(s));
    std::vector<float> got(v.n);
    CK(cudaMemcpy(got.data(), out, v.n * 4, cudaMemcpyDeviceToHost));
    double diff = 0, mag = 0;
    if (first->empty()) *first = got;
    for (int i = 0; i < v.n; i++) {
        double d = fabs((double)got[i] - (*first)[i]), m = fabs((double)(*first)[i]);
        if (d > diff || d != d) diff = d;
        if (m > mag) mag = m;
    }
    cudaGraph_t g; cudaGraphExec_t ge;
    CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
    for (int l = 0; l < launches; l++) {
        KArgs al = args_for(l % copies);
        v.kernel<<<dim3(v.gx, 1), dim3(v.bx, v.by), 0, s>>>(al);
    }
    CK(cudaStreamEndCapture(s, &g));
    CK(cudaGraphInstantiate(&ge, g, 0));
    CK(cudaGraphLaunch(ge, s)); CK(cudaStreamSynchronize(s));
    cudaEvent_t e0, e1; CK(cudaEventCreate(&e0)); CK(cudaEventCreate(&e1));
    const int reps = 10;
    CK(cudaEventRecord(e0, s));
    for (int r = 0; r < reps; r++) CK(cudaGraphLaunch(ge, s));
    CK(cudaEventRecord(e1, s)); CK(cudaEventSynchronize(e1));
    float ms; CK(cudaEventElapsedTime(&ms, e0, e1));
    double us = ms * 1e3 / (reps * launches), gbs = v.wbytes / (us * 1e-6) / 1e9;
    printf("%-8s %-44s %3d blocks %8.2f us %7.1f GB/s %5.1f%% of copy  (diff vs first %.2g of %.2g)\n", v.shape,
           v.targs, v.gx, us, gbs, 100 * gbs / bw, diff, mag);
    fflush(stdout);
    CK(cudaGraphExecDestroy(ge)); CK(cudaGraphDestroy(g)); CK(cudaStreamDestroy(s));
    for (auto p : w) CK(cudaFree(p));
    CK(cudaFree(x)); CK(cudaFree(gain)); CK(cudaFree(res)); CK(cudaFree(out)); CK(cudaFree(part)); CK(cudaFree(done));
}
'''


def q4_variants(arith, stages):
    out = []
    kinds = {"f32": ["f32"], "f16": ["f16"], "both": ["f32", "f16"]}[arith]
    stage_counts = {"1": [1], "2": [2], "both": [1, 2]}[stages]
    for name, n, k, norm, res, silu in Q4_SHAPES:
        cb = (n // 8 + 31) // 32
        combos = []
        for vw, r in ((4, 8), (4, 16), (4, 32), (2, 8)):
            units = k // r
            for s in (1, 2, 3, 4, 6, 8, 12, 16, 22, 24):
                if units >= s * 8 * vw:
                    combos.append((vw, r, s))
        for (vw, r, s), kind, st in ((c, f, t) for c in combos for f in kinds for t in stage_counts):
            targs = f"{n}, {k}, {GROUP}, {vw}, {r}, {s}, {'true' if norm else 'false'}, " \
                    f"{'true' if res else 'false'}, false, {'true' if silu else 'false'}, " \
                    f"{'true' if kind == 'f16' else 'false'}, {st}"
            wbytes = k * n // 2 + (k // GROUP) * n // 2 + (k // GROUP) * n * 2
            out.append(dict(shape=name, arith=kind, stages=st, targs=targs, tmpl="gemv_q4", gx=cb * s, bx=32 // vw, by=8 * vw, n=n, k=k,
                            in_words=(2 * k if silu else k), wbytes=wbytes, part=s * cb * 256, norm=norm, res=res))
    return out


def h16_variants():
    n, k = HEAD
    return [dict(shape="head", arith="f32", stages=1, targs=f"{n}, {k}, true, false, false", tmpl="gemv_h16", gx=(n + 7) // 8, bx=256, by=1,
                 n=n, k=k, in_words=k, wbytes=n * k * 2, part=0, norm=1, res=0)]


def write_sources(out, kernels, variants, parts):
    """The harness and main() in main.cu; the kernels, and a function running
    them in order, in part_P.cu for P < parts (contiguous runs of variants,
    so the output keeps its order). Returns the paths."""
    if not variants:
        sys.exit("gpu_kernels: no variant left to build (see --only and --limit)")
    per = (len(variants) + parts - 1) // parts
    chunks = [list(range(i, min(i + per, len(variants)))) for i in range(0, len(variants), per)]
    head = f'#include "{kernels}"\n#define GROUP {GROUP}\n' + VARIANT
    paths = []
    for p, idx in enumerate(chunks):
        path = os.path.join(out, f"part_{p}.cu")
        with open(path, "w") as f:
            f.write(head)
            for i in idx:
                v = variants[i]
                bounds = v["bx"] * v["by"]
                f.write(f"__global__ void __launch_bounds__({bounds}) k{i}(KArgs a) {{ {v['tmpl']}<{v['targs']}>(a); }}\n")
            f.write(f"void run_part_{p}(double bw) {{\n")
            for i in idx:
                v = variants[i]
                f.write(f'  run(Variant{{"{v["shape"]}", "{v["targs"]}", k{i}, {v["gx"]}, {v["bx"]}, {v["by"]}, {v["n"]}, '
                        f'{v["k"]}, {v["in_words"]}, {v["wbytes"]}u, {v["part"]}u, {v["norm"]}, {v["res"]}}}, bw);\n')
            f.write("}\n")
        paths.append(path)
    path = os.path.join(out, "main.cu")
    with open(path, "w") as f:
        f.write(head + "#include <cstring>\n" + HARNESS)
        for p in range(len(chunks)):
            f.write(f"void run_part_{p}(double bw);\n")
        f.write("int main() {\n  double bw = copy_bandwidth();\n")
        f.write('  cudaDeviceProp p; CK(cudaGetDeviceProperties(&p, 0));\n')
        f.write('  printf("device %s, %d SMs, copy bandwidth %.1f GB/s (read + write)\\n", p.name, '
                'p.multiProcessorCount, bw);\n')
        f.write("  fflush(stdout);\n")
        for p in range(len(chunks)):
            f.write(f"  run_part_{p}(bw);\n")
        f.write("  return 0;\n}\n")
    return [path] + paths


def build(sources, exe, arch, jobs):
    """nvcc -c of every source, jobs at a time, then one link."""
    objs, running, pending = [], [], list(sources)
    while pending or running:
        while pending and len(running) < jobs:
            src = pending.pop(0)
            obj = src[:-3] + ".o"
            objs.append(obj)
            running.append((src, subprocess.Popen(["nvcc", "-O3", "-std=c++17", f"-arch={arch}", "-c", "-o", obj, src])))
        src, proc = running.pop(0)
        if proc.wait() != 0:
            for _, other in running:  # no nvcc left behind the exit
                other.kill()
                other.wait()
            sys.exit(f"gpu_kernels: nvcc failed on {src}")
    subprocess.run(["nvcc", f"-arch={arch}", "-o", exe] + objs, check=True)


def print_sass_counts(exe, variants):
    """Per kernel kI: registers, and its SASS instructions by kind: the
    f16x2 fmas and adds (HFMA2, HADD2; HFMA2.MMA is ptxas's idiom for moving a
    constant, counted apart), f32 fmas and adds, LOP3s and all, so a change to
    the GEMV's arithmetic shows in instructions per weight before a GPU runs it."""
    sass = subprocess.run(["cuobjdump", "-sass", exe], check=True, capture_output=True, text=True).stdout
    res = subprocess.run(["cuobjdump", "-res-usage", exe], check=True, capture_output=True, text=True).stdout
    regs, name = {}, None
    for line in res.splitlines():
        if line.strip().startswith("Function "):
            name = line.split("Function ")[1].rstrip(":").strip()
        elif name and "REG:" in line:
            regs[name] = int(line.split("REG:")[1].split()[0])
    counts, name = {}, None
    for line in sass.splitlines():
        if line.strip().startswith("Function : "):
            name = line.split("Function : ")[1].strip()
            counts[name] = {}
        elif name and line.strip().startswith("/*") and "*/" in line:
            words = line.split("*/", 1)[1].split()
            words = words[1:] if words and words[0].startswith("@") else words  # a predicate
            op = words[0].split(".")[0] if words else ""
            if op == "HFMA2" and words[0].startswith("HFMA2.MMA"):
                op = "HFMA2.MMA"
            if op and not op.startswith("/*"):
                counts[name][op] = counts[name].get(op, 0) + 1
    kinds = ["HFMA2", "HADD2", "HFMA2.MMA", "FFMA", "FADD", "LOP3"]
    print(f"{'shape':8} {'template arguments':64} regs instrs " + " ".join(f"{k:>9}" for k in kinds))
    for i, v in enumerate(variants):
        if v["tmpl"] != "gemv_q4":
            continue
        key = f"_Z{len(f'k{i}')}k{i}5KArgs"  # the harness's kI(KArgs), mangled
        if key not in counts or key not in regs:
            print(f"gpu_kernels: no SASS or registers for {key} ({v['shape']} {v['targs']})", file=sys.stderr)
            continue
        c = counts[key]
        print(f"{v['shape']:8} {v['targs']:64} {regs[key]:4} {sum(c.values()):6} " +
              " ".join(f"{c.get(k, 0):9}" for k in kinds))


# A line of the harness's run(): shape, template arguments, blocks, microseconds, ...
RESULT_LINE = re.compile(r"^(?P<shape>\S+)\s+(?P<targs>.*?)\s+\d+ blocks\s+(?P<us>[\d.]+) us ")


def run_and_summarise(exe, variants):
    """Runs the harness, echoing its lines, then prints the fastest variant of
    each shape, arithmetic and stage count, and what a decode token's GEMVs would take at
    Llama-2-7B's 32 layers with those (the head once): the launch shapes
    emit.c should choose, and how near the bound the GEMVs alone can come."""
    proc = subprocess.Popen([exe], stdout=subprocess.PIPE, text=True)
    bw, best = None, {}
    by_targs = {(v["shape"], v["targs"]): v for v in variants}
    for line in proc.stdout:
        print(line, end="", flush=True)
        if line.startswith("device ") and "copy bandwidth" in line:
            bw = float(line.split("copy bandwidth")[1].split()[0])
        m = RESULT_LINE.match(line)
        v = m and by_targs.get((m["shape"], m["targs"]))
        if not v:
            continue
        us, key = float(m["us"]), (v["shape"], v["arith"], v["stages"])
        if key not in best or us < best[key][0]:
            best[key] = (us, v["targs"], v["wbytes"])
    if proc.wait() != 0:
        sys.exit(f"gpu_kernels: the harness failed (exit {proc.returncode})")
    if not best or not bw:
        return  # (with --only, --arith or --limit a shape may be missing: then no 7B line below)
    print("\nfastest per shape:")
    for (shape, arith, stages), (us, targs, wbytes) in sorted(best.items()):
        print(f"  {shape:8} {arith} {stages} stage{'s' if stages > 1 else ' '} {us:8.2f} us  "
              f"{wbytes / us / 1e3:7.1f} GB/s  {targs}")
    head = best.get(("head", "f32", 1))
    for arith, stages in ((a, st) for a in ("f32", "f16") for st in (1, 2)):
        shapes = [best.get((name, arith, stages)) for name, *_ in Q4_SHAPES]
        if None in shapes or not head:
            continue
        us = 32 * sum(b[0] for b in shapes) + head[0]
        gb = (32 * sum(b[2] for b in shapes) + head[2]) / 1e9
        bound = gb / (bw / 1e6)  # microseconds a token at the copy bandwidth
        print(f"a 7B token's GEMVs, {arith} q4 GEMV in {stages} stage{'s' if stages > 1 else ''}: {us:.0f} us "
              f"({1e6 / us:.0f} tok/s) for {gb:.2f} GB: "
              f"{100 * bound / us:.1f}% of the copy-bandwidth bound ({1e6 / bound:.0f} tok/s), "
              f"before attention and the small kernels")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--kernels", default=os.path.join(ROOT, "codegen/cuda/kernels.cuh"))
    p.add_argument("--arch", default="sm_90")
    p.add_argument("--only", choices=["q4", "h16"])
    p.add_argument("--out", default=tempfile.mkdtemp(prefix="awqc-kernels-"))
    p.add_argument("--compile-only", action="store_true", help="build the harness, run nothing (no GPU needed)")
    p.add_argument("--limit", type=int, default=0, help="the first N variants only")
    p.add_argument("--arith", choices=["f32", "f16", "both"], default="both", help="the q4 GEMV's arithmetic")
    p.add_argument("--stages", choices=["1", "2", "both"], default="both", help="the q4 GEMV's copy stages")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="nvcc processes at once")
    p.add_argument("--sass", action="store_true", help="print registers and SASS instruction counts per q4 variant")
    a = p.parse_args()
    variants = []
    if a.only != "h16":
        variants += q4_variants(a.arith, a.stages)
    if a.only != "q4":
        variants += h16_variants()
    if a.limit:
        variants = variants[:a.limit]
    os.makedirs(a.out, exist_ok=True)
    exe = os.path.join(a.out, "gpu_kernels")
    jobs = max(1, a.jobs)
    sources = write_sources(a.out, os.path.abspath(a.kernels), variants, min(jobs * 2, len(variants)))
    print(f"compiling {len(variants)} variants for {a.arch} in {len(sources)} files, {jobs} at a time",
          file=sys.stderr, flush=True)
    build(sources, exe, a.arch, jobs)
    if a.sass:
        print_sass_counts(exe, variants)
    if not a.compile_only:
        run_and_summarise(exe, variants)


if __name__ == "__main__":
    main()
