#!/usr/bin/env bash
# Peer AWQ baseline for awqc's quantizer results table: AutoAWQ 0.2.9 quantizes
# the default model (SmolLM2-135M-Instruct Q4_1 GGUF, dequantized to float32 by
# transformers: awqc's FP reference) on the CPU, and wikitext-2 perplexity is
# scored with awqc's protocol.
#
# Protocol (details in bench/peer_autoawq.py): calibration = first W*L tokens
# of wikitext-2 valid.txt as W windows of L tokens (W=4, L=512); AutoAWQ with
# zero_point, GEMM, duo_scaling, clipping, export_compatible=True, then every
# decoder-block linear fake-quantized with AutoAWQ's pseudo_quantize_tensor in
# float32; ppl over the first K=32 non-overlapping 512-token windows of
# test.txt, each from an empty cache, tokens 1..511 scored, no BOS.
#
# Run:   bench/peer_autoawq.sh [--configs w4g64,w4g32,w3g64,w3g32] [--no-fp]
#            [--eval-windows K] [--calib-windows W] [--calib-len L]
#            [--threads N] [--out results.json]
# The first run creates a venv at ~/.cache/awqc/peer-venv (about 5 GB: PyPI's
# torch wheel pulls the CUDA runtime packages; download.pytorch.org is not
# reachable here). AutoAWQ 0.2.9 imports transformers' qwen3 modules (needs
# >= 4.51) and PytorchGELUTanh (gone in later 4.5x), hence transformers 4.51.3.
# AutoAWQ needs one CPU fix (a state-dict snapshot that aliases on the CPU),
# applied by a quantizer subclass in peer_autoawq.py; see CpuSafeAwqQuantizer.

set -euo pipefail

VENV="${AWQC_PEER_VENV:-$HOME/.cache/awqc/peer-venv}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYTHON="${PYTHON:-python3}"

# Every package in the venv, pinned (the direct ones and all they pull in).
PINS=(
  autoawq==0.2.9
  torch==2.6.0
  transformers==4.51.3
  tokenizers==0.21.1
  huggingface-hub==0.30.2
  safetensors==0.5.3
  accelerate==1.6.0
  datasets==3.5.0
  gguf==0.16.2
  numpy==2.2.5
  zstandard==0.23.0
  sentencepiece==0.2.0
  triton==3.2.0
  sympy==1.13.1
  mpmath==1.3.0
  networkx==3.4.2
  jinja2==3.1.6
  MarkupSafe==3.0.2
  filelock==3.18.0
  fsspec==2024.12.0
  typing-extensions==4.13.2
  packaging==25.0
  pyyaml==6.0.2
  regex==2024.11.6
  requests==2.32.3
  certifi==2025.4.26
  charset-normalizer==3.4.2
  idna==3.10
  urllib3==2.4.0
  tqdm==4.67.1
  psutil==7.0.0
  pandas==2.2.3
  python-dateutil==2.9.0.post0
  pytz==2025.2
  tzdata==2025.2
  six==1.17.0
  pyarrow==19.0.1
  dill==0.3.8
  multiprocess==0.70.16
  xxhash==3.5.0
  aiohttp==3.11.18
  aiohappyeyeballs==2.6.1
  aiosignal==1.3.2
  attrs==25.3.0
  frozenlist==1.6.0
  multidict==6.4.3
  propcache==0.3.1
  yarl==1.20.0
  nvidia-cublas-cu12==12.4.5.8
  nvidia-cuda-cupti-cu12==12.4.127
  nvidia-cuda-nvrtc-cu12==12.4.127
  nvidia-cuda-runtime-cu12==12.4.127
  nvidia-cudnn-cu12==9.1.0.70
  nvidia-cufft-cu12==11.2.1.3
  nvidia-curand-cu12==10.3.5.147
  nvidia-cusolver-cu12==11.6.1.9
  nvidia-cusparse-cu12==12.3.1.170
  nvidia-cusparselt-cu12==0.6.2
  nvidia-nccl-cu12==2.21.5
  nvidia-nvjitlink-cu12==12.4.127
  nvidia-nvtx-cu12==12.4.127
)

# ----------------------------------------------------------------------------
# The venv, created once; a stamp file records that the pinned set installed.

STAMP="$VENV/.awqc-peer-autoawq-pins"
WANT="$(printf '%s\n' "${PINS[@]}")"
if [[ ! -f "$STAMP" || "$(cat "$STAMP")" != "$WANT" ]]; then
  echo "peer_autoawq: creating $VENV (one-off, several GB)" >&2
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet pip==25.0.1
  "$VENV/bin/pip" install --quiet "${PINS[@]}"
  printf '%s\n' "$WANT" >"$STAMP"
fi

# ----------------------------------------------------------------------------
# The run. AutoAWQ's import prints a long deprecation banner: silence warnings.

export PYTHONWARNINGS="${PYTHONWARNINGS:-ignore}"
export TOKENIZERS_PARALLELISM=false
# The clip search allocates and frees ~100 MB temporaries in a loop; glibc
# would mmap/munmap each one (page faults made sys time 2x user time). Keep
# them on the heap instead. Speed only: the numbers do not change.
export MALLOC_MMAP_MAX_="${MALLOC_MMAP_MAX_:-0}"
export MALLOC_TRIM_THRESHOLD_="${MALLOC_TRIM_THRESHOLD_:-68719476736}"
export HF_HUB_OFFLINE=1
exec "$VENV/bin/python" -u "$HERE/peer_autoawq.py" "$@"
