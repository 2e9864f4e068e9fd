#!/usr/bin/env bash
# Recipes raced on one GPU at equal time and scored by the judge on held-out clips: one table, in at most 8 minutes.
#     bash bench/gpu_quality.sh --data data/words8k [--minutes 5] [--contenders wavegan,ttur,r1,ensemble-gpu]
# Without a GPU it says so and runs at smoke size on the CPU (bench/gpu_quality.py), so it cannot rot.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
exec timeout 480 "$PY" -m bench.gpu_quality "$@"
