#!/usr/bin/env bash
# README command 1: set up, then materialize the whole graph of the small CPU recipe locally.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export DAGSTER_HOME="${DAGSTER_HOME:-$PWD/.study/dagster_home}"
mkdir -p "$DAGSTER_HOME"
exec .venv/bin/python -m orchestration.run_study --recipe "${STUDY_RECIPE:-recipes/small.yaml}" "$@"
