#!/usr/bin/env python3
# gguf_weights.py: what a GGUF file's weights are (tensor types, counts, bytes)
# and how many weight bytes one decoded token reads, for the e2e speed table.
#   bench/gguf_weights.py FILE.gguf            human-readable summary
#   bench/gguf_weights.py --json FILE.gguf     the same as one JSON object
#
# Bytes per token: every tensor is read once per decoded token except the
# token-embedding table (one row is looked up). When the model has no
# output.weight its output projection is tied to token_embd, which is then
# read in full as the output matrix: counted once.
import argparse
import json
import sys
from collections import defaultdict

import gguf

EMBED = "token_embd.weight"
OUTPUT = "output.weight"


# ----------------------------------------------------------------------------
# Reading


def tensor_table(path):
    """(name, type name, bytes, elements) of every tensor in the file."""
    try:
        reader = gguf.GGUFReader(path)
    except (OSError, ValueError) as e:
        sys.exit(f"gguf_weights: cannot read {path}: {e}")
    return [(t.name, t.tensor_type.name, int(t.n_bytes), int(t.n_elements)) for t in reader.tensors]


# ----------------------------------------------------------------------------
# Summaries


def summarize(path):
    table = tensor_table(path)
    names = {name for name, *_ in table}
    tied = OUTPUT not in names
    by_type = defaultdict(lambda: {"count": 0, "bytes": 0})
    per_token = total = 0
    for name, kind, nbytes, _ in table:
        by_type[kind]["count"] += 1
        by_type[kind]["bytes"] += nbytes
        total += nbytes
        if name != EMBED or tied:
            per_token += nbytes
    types_of = {name: kind for name, kind, *_ in table}
    return {
        "file": path,
        "tensors": len(table),
        "total_bytes": total,
        "bytes_per_token": per_token,
        "tied_output": tied,
        "embedding_type": types_of.get(EMBED, "?"),
        "output_type": types_of.get(OUTPUT, types_of.get(EMBED, "?") + " (tied)"),
        "by_type": dict(sorted(by_type.items())),
        "linear_types": linear_types(table),
    }


def linear_types(table):
    """Type of each kind of block matrix (attn_q, ffn_down, ...) across layers."""
    kinds = defaultdict(set)
    for name, kind, *_ in table:
        parts = name.split(".")
        if len(parts) == 4 and parts[0] == "blk" and parts[3] == "weight":
            kinds[parts[2]].add(kind)
    return {k: "/".join(sorted(v)) for k, v in sorted(kinds.items())}


def print_summary(s):
    print(f"{s['file']}: {s['tensors']} tensors, {s['total_bytes'] / 2**20:.1f} MiB")
    for kind, v in s["by_type"].items():
        print(f"  {kind:6s} {v['count']:4d} tensors {v['bytes'] / 2**20:8.2f} MiB")
    print(f"  token_embd {s['embedding_type']}, output {s['output_type']}")
    print("  blocks: " + ", ".join(f"{k} {v}" for k, v in s["linear_types"].items()))
    print(f"  weight bytes read per decoded token: {s['bytes_per_token']} ({s['bytes_per_token'] / 2**20:.2f} MiB)")


def main():
    ap = argparse.ArgumentParser(description="GGUF tensor types and weight bytes per decoded token")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("file")
    args = ap.parse_args()
    s = summarize(args.file)
    if args.json:
        print(json.dumps(s))
    else:
        print_summary(s)


if __name__ == "__main__":
    main()
