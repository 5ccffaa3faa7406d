#!/usr/bin/env bash
# e2e_vs_llamacpp.sh: awqc against llama.cpp (Q4_0 and Q4_1 GGUFs of the
# default model) end to end, side by side in one run on this machine at the
# same thread count, with the streaming read bandwidth measured in the same run
# so decode speed also reads as a fraction of its bytes-per-token bound.
#
#   bench/e2e_vs_llamacpp.sh [--awqc-model PATH] [--build DIR] [-t THREADS]
#                            [-p N] [-n N] [-r REPS] [--out DIR]
#     --awqc-model  awqc artifact to time (default: smollm2-awq-w4g64.awqx in
#                   the repo root, what the README's first command writes)
#     --build       awqc build dir holding cli/awqc and bench/awqc-stream
#                   (default: build)
#     -t 2  -p 512  -n 128  -r 3  --out docs/results
#     --table-only  no measurements: rebuild the table, CSV and plot from
#                   OUT/raw/ (after editing bench/e2e_table.py, say)
#
# Writes OUT/e2e_vs_llamacpp.md, OUT/e2e_vs_llamacpp.csv,
# OUT/e2e_tokens_per_s.png and the raw outputs under OUT/raw/. llama.cpp is
# built and the peer models prepared by bench/peer_llamacpp.sh (first run only).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
AWQC_MODEL="$REPO/smollm2-awq-w4g64.awqx"
BUILD="$REPO/build"
THREADS=2 N_PROMPT=512 N_GEN=128 REPS=3 TABLE_ONLY=0
OUT="$REPO/docs/results"

log() { echo "e2e_vs_llamacpp: $*" >&2; }
die() { log "$*"; exit 1; }

usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { print }' "$0"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --awqc-model|--build|-t|-p|-n|-r|--out) [ $# -ge 2 ] || die "$1 needs a value" ;;
  esac
  case "$1" in
    --awqc-model) AWQC_MODEL="$2"; shift 2 ;;
    --build) BUILD="$2"; shift 2 ;;
    -t) THREADS="$2"; shift 2 ;;
    -p) N_PROMPT="$2"; shift 2 ;;
    -n) N_GEN="$2"; shift 2 ;;
    -r) REPS="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --table-only) TABLE_ONLY=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown option $1" ;;
  esac
done

AWQC="$BUILD/cli/awqc"
STREAM="$BUILD/bench/awqc-stream"
RAW="$OUT/raw"

# ----------------------------------------------------------------------------
# Preconditions: every input present before anything is timed.

check_inputs() {
  [ -x "$AWQC" ] || die "no $AWQC (build awqc first, or pass --build DIR)"
  [ -x "$STREAM" ] || die "no $STREAM (cmake --build $BUILD --target awqc-stream)"
  [ -f "$AWQC_MODEL" ] || die "no awqc model $AWQC_MODEL (run the README's first command, or" \
    "$AWQC compile -m MODEL -o OUT.awqx and pass --awqc-model OUT.awqx)"
  LLAMA_BIN="$("$HERE/peer_llamacpp.sh" | tail -n 1)"
  PEER_MODELS="$("$HERE/peer_llamacpp.sh" --print-models)"
}

# ----------------------------------------------------------------------------
# The measurements, one after the other (never two at once: same cores).

run_stream() {
  log "awqc-stream -t $THREADS"
  "$STREAM" -t "$THREADS" -o json >"$RAW/stream.json"
}

run_llamacpp() {
  log "llama-bench -p $N_PROMPT -n $N_GEN -r $REPS -t $THREADS on Q4_0 and Q4_1"
  "$LLAMA_BIN/llama-bench" -m "$PEER_MODELS/smollm2-135m-q4_0.gguf" -m "$PEER_MODELS/smollm2-135m-q4_1.gguf" \
    -p "$N_PROMPT" -n "$N_GEN" -r "$REPS" -t "$THREADS" -o json >"$RAW/llamacpp.json" 2>"$RAW/llamacpp.log" \
    || { tail -n 20 "$RAW/llamacpp.log" >&2; die "llama-bench failed"; }
}

run_awqc() {
  log "awqc bench -m $AWQC_MODEL -t $THREADS -p $N_PROMPT -n $N_GEN -r $REPS"
  "$AWQC" inspect "$AWQC_MODEL" >"$RAW/awqc_inspect.txt"
  "$AWQC" bench -m "$AWQC_MODEL" -t "$THREADS" -p "$N_PROMPT" -n "$N_GEN" -r "$REPS" -o json \
    >"$RAW/awqc.json" 2>"$RAW/awqc.log" || { tail -n 20 "$RAW/awqc.log" >&2; die "awqc bench failed"; }
}

describe_peers() {
  local p
  for p in q4_0 q4_1; do
    python3 "$HERE/gguf_weights.py" --json "$PEER_MODELS/smollm2-135m-$p.gguf" >"$RAW/gguf_$p.json"
  done
}

# What the table's header says about the run, recorded before the timings;
# the load average tells a quiet machine from a busy one.
write_env() {
  ENV_DATE="$(date -u +%Y-%m-%dT%H:%MZ)" ENV_LOAD="$(cut -d ' ' -f 1-3 /proc/loadavg)" \
  ENV_CPU="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)" ENV_CORES="$(nproc)" \
  ENV_PEER="$("$HERE/peer_llamacpp.sh" --version)" \
  ENV_AWQC="$(git -C "$REPO" describe --always --dirty 2>/dev/null || echo unknown)" \
  ENV_AWQC_MODEL="$AWQC_MODEL" ENV_THREADS="$THREADS" ENV_REPS="$REPS" ENV_PP="$N_PROMPT" ENV_TG="$N_GEN" \
  python3 -c '
import json, os, sys
e = os.environ
json.dump({"date": e["ENV_DATE"], "load": e["ENV_LOAD"], "cpu": e["ENV_CPU"], "cores": int(e["ENV_CORES"]),
           "peer_version": e["ENV_PEER"], "awqc_rev": e["ENV_AWQC"], "awqc_model": e["ENV_AWQC_MODEL"],
           "threads": int(e["ENV_THREADS"]), "reps": int(e["ENV_REPS"]),
           "n_prompt": int(e["ENV_PP"]), "n_gen": int(e["ENV_TG"])}, open(sys.argv[1], "w"), indent=1)
' "$RAW/env.json"
}

# ----------------------------------------------------------------------------
# The plot: tokens/s per engine, pp and tg clustered, on a linear scale from
# zero so the bars' heights compare as the ratios in the table do.

plot() {
  gnuplot <<GP
set terminal pngcairo size 900,520 noenhanced font ",10"
set output "$OUT/e2e_tokens_per_s.png"
set title "SmolLM2-135M end to end, $THREADS threads: tokens/s (higher is better)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set yrange [0:*]
set ylabel "tokens/s"
set grid ytics
set key below autotitle columnheader
# Three bars per cluster with a gap of one: bar i sits (i-3)/4 off the cluster centre.
plot for [i=2:4] "$RAW/e2e_tokens_per_s.dat" using i:xtic(1), \
     for [i=2:4] "" using (\$0 + (i - 3) * 0.25):(column(i)):(sprintf("%.1f", column(i))) \
       with labels offset 0,0.8 notitle
GP
}

# ----------------------------------------------------------------------------

command -v gnuplot >/dev/null || die "gnuplot missing (scripts/setup.sh --deps installs gnuplot-nox)"
if [ "$TABLE_ONLY" = 0 ]; then
  mkdir -p "$RAW"
  check_inputs
  write_env
  run_stream
  run_llamacpp
  run_awqc
  describe_peers
fi
python3 "$HERE/e2e_table.py" "$RAW" "$OUT"
plot
log "wrote $OUT/e2e_vs_llamacpp.md, $OUT/e2e_vs_llamacpp.csv, $OUT/e2e_tokens_per_s.png"
cat "$OUT/e2e_vs_llamacpp.md"
