#!/usr/bin/env bash
# Creates .venv if missing and installs LRRG (editable) with the given extras, through the committed
# constraints file: on a machine without a GPU this installs the CPU build of torch, never CUDA wheels.
# Usage: bash scripts/setup.sh [EXTRAS]   (e.g. dev, or dev,quant)
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
python_bin="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$python_bin" -m venv .venv
fi
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1; then
  constraints=constraints-gpu.txt
else
  constraints=constraints-cpu.txt
fi
stamp=".venv/.lrrg-installed-${extras:-core}"
# Reinstall only when the package metadata or the constraints changed since the last set-up.
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ "$constraints" -nt "$stamp" ]; then
  spec="."
  [ -n "$extras" ] && spec=".[$extras]"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -c "$constraints" -e "$spec"
  touch "$stamp"
fi
