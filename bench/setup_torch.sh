#!/usr/bin/env bash
# Optional, benchmark-only: a virtual environment with PyTorch for
# bench/compare.py (never part of the test command or CI). The Linux x86-64
# wheel on the default index pulls the CUDA stack (several GB) even on
# machines without a GPU; the CPU-only index is used when it is reachable.
# Usage: bench/setup_torch.sh   then   $VENV/bin/python bench/compare.py
set -euo pipefail
VENV="${OVERLIN_BENCH_VENV:-$HOME/.cache/overlin-bench-venv}"
python3 -m venv --system-site-packages "$VENV"
if ! "$VENV/bin/pip" install -q --index-url https://download.pytorch.org/whl/cpu torch 2>/dev/null; then
    "$VENV/bin/pip" install -q torch
fi
"$VENV/bin/python" -c 'import torch; print("torch", torch.__version__, "in", "'"$VENV"'")'
