#!/usr/bin/env bash
# reference_speed.sh: speed of the FP32 reference interpreter on the default
# model, with the machine's streaming read bandwidth measured in the same run,
# so decode speed reads as a fraction of its bytes-per-token limit
# (limit tok/s = read bandwidth / weight bytes per token).
#   bench/reference_speed.sh [BUILD_DIR] [THREADS...]     (default: build 1 2)
set -euo pipefail
build=${1:-build}; shift || true
threads=("$@"); [ ${#threads[@]} -gt 0 ] || threads=(1 2)
for t in "${threads[@]}"; do
  stream=$("$build/bench/awqc-stream" -t "$t" -o json)
  bench=$("$build/cli/awqc" bench -t "$t" -p 512 -n 128 -r 5 -o json 2>/dev/null)
  python3 - "$stream" "$bench" <<'PY'
import json, sys
s = json.loads(sys.argv[1]); rows = json.loads(sys.argv[2])
for r in rows:
    line = f"| {r['threads']} | {r['test']} | {r['tps_median']:.1f} | {r['tps_min']:.1f}-{r['tps_max']:.1f} |"
    if r['test'].startswith('tg'):
        limit = s['read_gbps'] * 1e9 / r['bytes_per_token']
        line += f" {r['read_gbps']:.2f} | {s['read_gbps']:.2f} | {limit:.1f} | {r['tps_median'] / limit:.0%} |"
    else:
        line += " | | | |"
    print(line)
PY
done
