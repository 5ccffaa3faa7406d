#!/usr/bin/env bash
# pack_board.sh: one tarball to copy to an aarch64 board (Jetson Orin, a
# Raspberry Pi, a Graviton host): the cross-built runtime, the shared libraries
# it needs beyond glibc, the compiled artifact and a launcher. See docs/aarch64.md.
#   scripts/pack_board.sh -a MODEL.awqx [-o awqc-board.tar.gz] [-b build-aarch64]
# MODEL.awqx comes from `awqc compile --target aarch64|orin`; the runtime is
# cross-built (cmake/aarch64-linux-gnu.cmake) into the build folder when absent.
set -euo pipefail
usage() { sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; }

src=$(cd "$(dirname "$0")/.." && pwd)
artifact="" out="awqc-board.tar.gz" build="$src/build-aarch64"
while [ $# -gt 0 ]; do
  case "$1" in
    -a|--artifact) artifact=$2; shift 2 ;;
    -o|--output) out=$2; shift 2 ;;
    -b|--build) build=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "pack_board: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
[ -n "$artifact" ] || { echo "pack_board: no artifact: give -a MODEL.awqx (awqc compile --target aarch64 -o MODEL.awqx)" >&2; exit 2; }
[ -f "$artifact" ] || { echo "pack_board: $artifact: no such file" >&2; exit 1; }
command -v aarch64-linux-gnu-readelf >/dev/null \
  || { echo "pack_board: no aarch64 cross toolchain: run scripts/setup.sh --cross" >&2; exit 1; }

# The artifact must carry aarch64 CPU code: its code.cpu.json says so, and the
# small sections come before the weights (the board's runtime checks it fully).
if [ "$(head -c 16777216 "$artifact" | grep -ac '"arch":"aarch64"')" = 0 ]; then
  echo "pack_board: $artifact has no aarch64 CPU code (compile it with --target aarch64 or --target orin)" >&2
  exit 1
fi

# ---------------------------------------------------------------------------
# the runtime

if [ ! -x "$build/cli/awqc" ]; then
  echo "pack_board: cross-building the runtime into $build"
  cmake -S "$src" -B "$build" -DCMAKE_TOOLCHAIN_FILE="$src/cmake/aarch64-linux-gnu.cmake" \
        -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$build" -j"$(nproc)" >/dev/null
runtime="$build/cli/awqc"

# Shared libraries it needs, recursively, except glibc's own (the board has
# those; the tarball states which glibc version it needs instead).
needed() { aarch64-linux-gnu-readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; }
is_glibc() { [[ "$1" =~ ^(libc|libm|libdl|libpthread|librt|ld-linux-aarch64)\.so ]]; }
find_lib() {
  local d
  for d in /usr/lib/aarch64-linux-gnu /lib/aarch64-linux-gnu /usr/aarch64-linux-gnu/lib; do
    [ -e "$d/$1" ] && { echo "$d/$1"; return; }
  done
  echo "pack_board: cannot find the arm64 library $1 (scripts/setup.sh --cross installs them)" >&2
  exit 1
}
declare -A seen=()
todo=("$runtime")
libs=()
while [ ${#todo[@]} -gt 0 ]; do
  file=${todo[0]}; todo=("${todo[@]:1}")
  for lib in $(needed "$file"); do
    if is_glibc "$lib" || [ -n "${seen[$lib]:-}" ]; then continue; fi
    seen[$lib]=1
    path=$(find_lib "$lib")
    libs+=("$path")
    todo+=("$path")
  done
done

# ---------------------------------------------------------------------------
# the bundle

stage=$(mktemp -d)
tmp_out="$out.tmp.$$"
trap 'rm -rf "$stage" "$tmp_out"' EXIT
name=$(basename "$out" .tar.gz)
dir="$stage/$name"
mkdir -p "$dir/bin" "$dir/lib"
cp "$runtime" "$dir/bin/awqc"
aarch64-linux-gnu-strip "$dir/bin/awqc"
for l in "${libs[@]}"; do cp -L "$l" "$dir/lib/"; done
cp "$artifact" "$dir/model.awqx"
glibc=$( { aarch64-linux-gnu-objdump -T "$dir/bin/awqc"; for l in "$dir"/lib/*; do aarch64-linux-gnu-objdump -T "$l"; done; } \
         | grep -o 'GLIBC_[0-9.]*' | sort -t. -k1,1 -k2,2n -k3,3n -u | tail -1)
cat >"$dir/awqc" <<'EOF'
#!/bin/sh
# Runs the bundled awqc with the bundled libraries: ./awqc run -m model.awqx -p "..."
here=$(cd "$(dirname "$0")" && pwd)
LD_LIBRARY_PATH="$here/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec "$here/bin/awqc" "$@"
EOF
chmod +x "$dir/awqc"
cat >"$dir/README.txt" <<EOF
awqc runtime for aarch64 Linux, packed by scripts/pack_board.sh.
Needs glibc >= ${glibc#GLIBC_} on the board (Debian 12, Ubuntu 22.04 / JetPack 6 or newer).

  ./awqc inspect model.awqx                       what the artifact holds
  ./awqc run -m model.awqx -p "Hello" -n 64       generate
  ./awqc chat -m model.awqx                       chat in the terminal
  ./awqc serve -m model.awqx --port 8080          OpenAI-compatible server
  ./awqc bench -m model.awqx                      tokens/s

Bundled libraries (lib/): $(cd "$dir/lib" && ls | tr '\n' ' ')
EOF
tar -C "$stage" -czf "$tmp_out" "$name"
mv "$tmp_out" "$out"
echo "pack_board: wrote $out ($(du -h "$out" | cut -f1)): bin/awqc, ${#libs[@]} libraries, model.awqx; needs ${glibc} on the board"
