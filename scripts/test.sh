#!/usr/bin/env bash
# Sets up .venv (with the [dev] extra) if needed, then runs the whole test suite offline.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k quality -x`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 GRADIO_ANALYTICS_ENABLED=False
.venv/bin/python -m ruff check .
exec .venv/bin/python -m pytest "$@"
