#!/usr/bin/env python3
# e2e_table.py: turns one run of bench/e2e_vs_llamacpp.sh (raw JSON from
# awqc-stream, llama-bench, awqc bench and bench/gguf_weights.py) into the
# results table (markdown), a CSV and the gnuplot data for the tokens/s plot.
#   bench/e2e_table.py RAW_DIR OUT_DIR
# RAW_DIR holds stream.json, llamacpp.json, awqc.json, awqc_inspect.txt,
# gguf_<peer>.json for each peer and env.json (machine and run settings).
import json
import os
import re
import statistics
import sys

PEERS = ("q4_0", "q4_1")  # llama.cpp peers, in table order


# ----------------------------------------------------------------------------
# Loading the raw results


def load_json(raw, name):
    path = os.path.join(raw, name)
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        sys.exit(f"e2e_table: cannot read {path}: {e}")


def test_name(row):
    """llama-bench row -> 'pp512' / 'tg128' (awqc bench names them the same way)."""
    return f"pp{row['n_prompt']}" if row["n_gen"] == 0 else f"tg{row['n_gen']}"


def llamacpp_build(raw):
    rows = load_json(raw, "llamacpp.json")
    return f"b{rows[0]['build_number']} ({rows[0]['build_commit']})" if rows else "?"


def llamacpp_results(raw):
    """{peer: {test: row}} with the median of the per-repetition tokens/s."""
    out = {}
    for row in load_json(raw, "llamacpp.json"):
        peer = peer_of(row["model_filename"])
        samples = row.get("samples_ts") or [row["avg_ts"]]
        out.setdefault(peer, {})[test_name(row)] = {
            "tps": statistics.median(samples), "min": min(samples), "max": max(samples),
            "threads": row["n_threads"],
        }
    return out


def peer_of(filename):
    for p in PEERS:
        if filename.endswith(f"-{p}.gguf"):
            return p
    sys.exit(f"e2e_table: llama-bench row for an unexpected model {filename}")


def awqc_results(raw):
    rows = load_json(raw, "awqc.json")
    tests = {r["test"]: {"tps": r["tps_median"], "min": r["tps_min"], "max": r["tps_max"],
                         "threads": r["threads"]} for r in rows}
    # A bytes_per_token field (the engine's own count) wins over weight_bytes,
    # which the reference interpreter reports as every weight in FP32.
    first = rows[0] if rows else {}
    bpt = first.get("bytes_per_token", first.get("weight_bytes"))
    return tests, bpt, first.get("backend", "?"), first.get("model", "?")


def artifact_weight_bytes(raw):
    """Stored weight bytes per kind from `awqc inspect` (MiB lines under 'weights')."""
    kinds = {}
    try:
        text = open(os.path.join(raw, "awqc_inspect.txt")).read()
    except OSError:
        return kinds
    for m in re.finditer(r"^(f32|packed|codes)\s+(\d+)\s+([\d.]+)\s*$", text, re.M):
        kinds[m.group(1)] = float(m.group(3)) * 2**20
    return kinds


# ----------------------------------------------------------------------------
# Rows: one per engine/model, with the decode bound from the bandwidth


def build_rows(raw):
    stream = load_json(raw, "stream.json")
    bw = stream["read_gbps"] * 1e9
    llama = llamacpp_results(raw)
    a_tests, a_bpt, a_backend, a_model = awqc_results(raw)
    a_stored = sum(artifact_weight_bytes(raw).values())
    rows = [{"engine": f"awqc ({a_backend})", "model": a_model, "stored_bytes": a_stored or None,
             "bpt": a_bpt, "tests": a_tests}]
    for p in PEERS:
        g = load_json(raw, f"gguf_{p}.json")
        rows.append({"engine": "llama.cpp", "model": os.path.basename(g["file"]),
                     "stored_bytes": g["total_bytes"], "bpt": g["bytes_per_token"], "tests": llama.get(p, {})})
    for r in rows:
        r["bound"] = bw / r["bpt"] if r["bpt"] else None
    awqc = rows[0]["tests"]
    for r in rows[1:]:
        r["ratio"] = {t: awqc[t]["tps"] / v["tps"] for t, v in r["tests"].items() if t in awqc}
    return rows, stream


def tps(r, test):
    v = r["tests"].get(test)
    return v["tps"] if v else None


# ----------------------------------------------------------------------------
# Output


def fmt(x, spec=".1f", none="-"):
    """x formatted by spec; a trailing '%' in spec is appended as a literal."""
    if x is None:
        return none
    return format(x, spec[:-1]) + "%" if spec.endswith("%") else format(x, spec)


def mib(b):
    return None if b is None else b / 2**20


def speed(r, test):
    """'median (min-max)': the spread shows how noisy the machine was."""
    v = r["tests"].get(test)
    return "-" if not v else f"{v['tps']:.2f} ({v['min']:.1f}-{v['max']:.1f})"


def above_bound(r, test):
    t = tps(r, test)
    return t is not None and r["bound"] is not None and t > r["bound"]


def write_markdown(path, rows, stream, env, pp, tg):
    lines = [
        "# awqc vs llama.cpp, end to end (SmolLM2-135M-Instruct)",
        "",
        f"Run {env['date']} on {env['cpu']} ({env['cores']} cores), {env['threads']} threads for every engine, "
        f"load average {env['load']} at the start. llama.cpp {env['llamacpp']} (llama-cpp-python {env['peer_version']}); "
        f"awqc {env['awqc_rev']}, model {env['awqc_model']}. tokens/s: median of {env['reps']} repetitions "
        "after a warm-up (min-max in brackets).",
        "",
        f"Streaming read bandwidth (bench/stream.c, {stream['threads']} threads): **{stream['read_gbps']:.2f} GB/s** "
        f"(triad {stream['triad_gbps']:.2f} GB/s). Decode bound = bandwidth / weight bytes read per token.",
        "",
        f"| engine | model | weights MiB | read/token MiB | {pp} tok/s | {tg} tok/s | {tg} bound tok/s "
        f"| {tg} % of bound | awqc/this {pp} | awqc/this {tg} |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        ratio = r.get("ratio", {})
        t = tps(r, tg)
        frac = t / r["bound"] if t is not None and r["bound"] else None
        lines.append(
            f"| {r['engine']} | {r['model']} | {fmt(mib(r['stored_bytes']))} | {fmt(mib(r['bpt']))} "
            f"| {speed(r, pp)} | {speed(r, tg)} | {fmt(r['bound'])} | {fmt(frac and 100 * frac, '.1f%')} "
            f"| {fmt(ratio.get(pp), '.4f')} | {fmt(ratio.get(tg), '.4f')} |")
    lines += ["", NOTES]
    over = [f"{r['engine']} {r['model']}" for r in rows if above_bound(r, tg)]
    if over:
        lines.append(f"- Above 100% of the bound ({', '.join(over)}): the engine reads fewer bytes per token "
                     "than counted, or the stream kernel understates this machine's read bandwidth.")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


NOTES = """Notes:
- llama.cpp read/token: every GGUF tensor except the token-embedding table (one row is looked
  up per token); SmolLM2's output projection is tied to token_embd, so token_embd is counted
  once, as the output matrix (bench/gguf_weights.py).
- awqc read/token: the `bytes_per_token` of `awqc bench -o json` (every weight a decode step reads,
  once; a table only the embedding reads counts one row), or for older builds
  its `weight_bytes` (every weight counted as FP32, what the FP reference interpreter
  streams). "weights MiB" for awqc is the artifact's stored weights (`awqc inspect`).
- Ratios are awqc tokens/s divided by the peer's (above 1: awqc is faster).
- Raw outputs of this run are in raw/."""


def write_csv(path, rows, stream):
    head = ("engine,model,threads,test,tps_median,tps_min,tps_max,stored_weight_bytes,bytes_per_token,"
            "read_gbps,bound_tps,fraction_of_bound,awqc_over_this")
    out = [head]
    for r in rows:
        for test, v in sorted(r["tests"].items()):
            decode = test.startswith("tg")
            bound = r["bound"] if decode else None
            frac = v["tps"] / bound if bound else None
            ratio = r.get("ratio", {}).get(test)
            out.append(",".join([
                r["engine"], r["model"], str(v["threads"]), test, f"{v['tps']:.4f}", f"{v['min']:.4f}",
                f"{v['max']:.4f}", fmt(r["stored_bytes"], ".0f", ""), fmt(r["bpt"], ".0f", ""),
                f"{stream['read_gbps']:.3f}", fmt(bound, ".3f", ""), fmt(frac, ".4f", ""), fmt(ratio, ".5f", "")]))
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def write_plot_data(path, rows, tests):
    """One line per test, one column per engine (gnuplot clustered histogram)."""
    labels = [f"{r['engine']} {r['model']}".replace('"', "'") for r in rows]
    out = ["test " + " ".join(f'"{lab}"' for lab in labels)]
    for t in tests:
        out.append(t + " " + " ".join(fmt(tps(r, t), ".4f", "NaN") for r in rows))
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: e2e_table.py RAW_DIR OUT_DIR")
    raw, out = sys.argv[1], sys.argv[2]
    env = load_json(raw, "env.json")
    env["llamacpp"] = llamacpp_build(raw)
    rows, stream = build_rows(raw)
    pp, tg = f"pp{env['n_prompt']}", f"tg{env['n_gen']}"
    write_markdown(os.path.join(out, "e2e_vs_llamacpp.md"), rows, stream, env, pp, tg)
    write_csv(os.path.join(out, "e2e_vs_llamacpp.csv"), rows, stream)
    write_plot_data(os.path.join(raw, "e2e_tokens_per_s.dat"), rows, [pp, tg])


if __name__ == "__main__":
    main()
