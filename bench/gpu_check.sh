#!/usr/bin/env bash
# The GPU check: one table of wavegen's speed and memory on one CUDA GPU, in at most 8 minutes.
#     bash bench/gpu_check.sh
# Without a GPU it says so and runs the same rows at smoke size on the CPU (bench/gpu_check.py), so it cannot rot.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
exec timeout 480 "$PY" -m bench.gpu_check "$@"
