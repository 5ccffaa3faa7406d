#!/usr/bin/env bash
# render_dot.sh: renders a Graphviz file written by `awqc compile --emit=dot`
# to SVG.  Usage: scripts/render_dot.sh IN.dot OUT.svg
# Exits 2 with a hint when Graphviz is not installed, 1 when dot fails.
set -euo pipefail
if [ $# -ne 2 ]; then
  echo "usage: $0 IN.dot OUT.svg" >&2
  exit 1
fi
in=$1
out=$2
if [ ! -r "$in" ]; then
  echo "render_dot.sh: cannot read $in" >&2
  exit 1
fi
if ! command -v dot >/dev/null 2>&1; then
  echo "render_dot.sh: Graphviz 'dot' is not installed, so $in was not rendered." >&2
  echo "  install it (e.g. 'apt-get install graphviz') or open $in in any Graphviz viewer" >&2
  exit 2
fi
# Render beside the target and rename, so a failed run leaves no half-written SVG.
tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT
dot -Tsvg "$in" -o "$tmp"
mv "$tmp" "$out"
