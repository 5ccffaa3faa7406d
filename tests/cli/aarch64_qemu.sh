#!/usr/bin/env bash
# aarch64_qemu.sh: ahead-of-time builds for aarch64 boards, end to end on this
# x86-64 host. Cross-builds the runtime (cmake/aarch64-linux-gnu.cmake),
# compiles SmolLM2 AWQ W4-g64 with --target aarch64 and --target orin, runs
# both under qemu-aarch64 and checks they produce the same 32 greedy tokens as
# the host's own artifact; checks the orin artifact's sm_87 half with ptxas, the
# board bundle (scripts/pack_board.sh), and that artifacts refuse to run on the
# wrong architecture, saying what they were built for.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib/expect.sh"
AWQC=${AWQC_BIN:?}
src=${AWQC_SOURCE_DIR:?}

for tool in aarch64-linux-gnu-gcc qemu-aarch64; do
  command -v $tool >/dev/null || { echo "SKIP: no $tool (scripts/setup.sh installs the cross toolchain)"; exit 77; }
done
[ -f /usr/lib/aarch64-linux-gnu/pkgconfig/libcjson.pc ] \
  || { echo "SKIP: no arm64 libraries (scripts/setup.sh installs them)"; exit 77; }
model=$(bash "$here/lib/awq_fixture.sh" --path) || { echo "SKIP: no AWQ fixture"; exit 77; }

# The runtime, cross-built once per build tree (incremental afterwards).
cross=${AWQC_BUILD_DIR:?}/aarch64-runtime
log=$(mktemp)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp" "$log"' EXIT
if ! { cmake -S "$src" -B "$cross" -DCMAKE_TOOLCHAIN_FILE="$src/cmake/aarch64-linux-gnu.cmake" \
         -DCMAKE_BUILD_TYPE=Release && cmake --build "$cross" -j"$(nproc)"; } >"$log" 2>&1; then
  echo "FAIL: cross-building the runtime:"; tail -30 "$log"; exit 1
fi
rt="$cross/cli/awqc"
expect runtime-is-aarch64 0 'ARM aarch64' file "$rt"
expect runtime-only 2 "'compile' is not in this runtime-only build" qemu-aarch64 "$rt" compile -o x.awqx

# Three artifacts of the same AWQ checkpoint.
for t in host aarch64 orin; do
  if ! "$AWQC" compile -m "$model" --target $t -o "$tmp/$t.awqx" >"$log" 2>&1; then
    echo "FAIL: compile --target $t:"; tail -20 "$log"; exit 1
  fi
done
prompt="The capital of France is"
ids() { # ids MODEL AWQC...: the 32 greedy token ids
  local m=$1; shift
  "$@" run -m "$m" -n 32 -p "$prompt" --print-ids --engine compiled -t 2 2>"$log"
}
host_ids=$(ids "$tmp/host.awqx" "$AWQC")
a64_ids=$(ids "$tmp/aarch64.awqx" qemu-aarch64 "$rt")
orin_ids=$(ids "$tmp/orin.awqx" qemu-aarch64 "$rt")
expect host-32-tokens 0 '^([0-9]+ ){32}$' echo "$host_ids"
same aarch64-equals-host "$host_ids" "$a64_ids"
same orin-cpu-half-equals-host "$host_ids" "$orin_ids"

# The orin artifact: both halves listed, its sm_87 PTX accepted by ptxas.
expect orin-inspect-cpu 0 'cpu code +aarch64 \(cortex-a78 \+neon' "$AWQC" inspect "$tmp/orin.awqx"
expect orin-inspect-gpu 0 'gpu code +cuda sm_87: PTX [0-9.]+ KiB, cubin' "$AWQC" inspect "$tmp/orin.awqx"
# Which of its code a GPU would run, as the CUDA engine chooses it (no GPU needed).
expect orin-on-sm87 0 'on sm_87 +runs code.cuda.sm_87.cubin \(machine code for this arch\)' \
  "$AWQC" inspect --gpu 8.7 "$tmp/orin.awqx"
expect orin-on-sm90 0 'on sm_90 +runs code.cuda.sm_87.ptx \(PTX for sm_87, compiled by the driver at load\)' \
  "$AWQC" inspect --gpu sm_90 "$tmp/orin.awqx"
expect orin-on-sm86 1 'orin.awqx: built for cuda sm_87; this GPU is sm_86 \(compute capability 8.6\): recompile with --target cuda:sm_80' \
  "$AWQC" inspect --gpu 86 "$tmp/orin.awqx"
if command -v ptxas >/dev/null; then
  "$AWQC" inspect --extract code.cuda.sm_87.ptx -o "$tmp/orin.ptx" "$tmp/orin.awqx" 2>/dev/null
  expect orin-ptxas-sm87 0 '' ptxas -arch=sm_87 "$tmp/orin.ptx" -o "$tmp/orin.cubin"
fi

# The board bundle: runtime, its libraries and the artifact; the bundled
# libraries are the ones loaded (LD_LIBRARY_PATH as the launcher sets it).
expect pack 0 'wrote .*board.tar.gz .*bin/awqc, [0-9]+ libraries, model.awqx; needs GLIBC_2\.[0-9]+' \
  bash "$src/scripts/pack_board.sh" -a "$tmp/aarch64.awqx" -b "$cross" -o "$tmp/board.tar.gz"
tar -xzf "$tmp/board.tar.gz" -C "$tmp"
expect pack-runs 0 'cpu code +aarch64' qemu-aarch64 -E LD_LIBRARY_PATH="$tmp/board/lib" "$tmp/board/bin/awqc" \
  inspect "$tmp/board/model.awqx"
expect pack-refuses-x86 1 'has no aarch64 CPU code' bash "$src/scripts/pack_board.sh" -a "$tmp/host.awqx" -b "$cross"

# The wrong architecture is refused, naming what the artifact was built for.
expect a64-on-x86 1 'built for aarch64 \(cortex-a78\), but this machine is x86-64' \
  "$AWQC" run -m "$tmp/aarch64.awqx" -p hi -n 1
expect x86-on-a64 1 'built for x86-64 \([a-z0-9-]+\), but this machine is aarch64' \
  qemu-aarch64 "$rt" run -m "$tmp/host.awqx" -p hi -n 1
report
