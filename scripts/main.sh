#!/usr/bin/env bash
# Sets up .venv if needed, then runs the main job on the built-in default (phantom radiographs).
# Extra arguments go to `lrrg benchmark`, e.g. `bash scripts/main.sh --quick`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_DISABLE_TELEMETRY=1 GRADIO_ANALYTICS_ENABLED=False
exec .venv/bin/lrrg benchmark "$@"
