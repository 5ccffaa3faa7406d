#!/bin/bash
# The exported AutoAWQ GEMM / awqc INT3 tensors, unpacked by the independent
# numpy code in tests/reference/check_gemm_export.py, must equal the weights
# awqc dequantized in memory bit for bit. Skips (77) without numpy.
set -euo pipefail
python3 -c "import numpy" 2>/dev/null || { echo "SKIP: python3 numpy not installed"; exit 77; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$AWQC_BUILD_DIR/tests/test_quant_export" --write "$dir"
python3 "$AWQC_SOURCE_DIR/tests/reference/check_gemm_export.py" "$dir"
