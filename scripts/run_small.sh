#!/usr/bin/env bash
# README command 1: set up, then materialize the whole graph of the small CPU recipe locally.
# Arguments go to `study run` (e.g. --verbose, --from training); STUDY_RECIPE picks another recipe.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export DAGSTER_HOME="${DAGSTER_HOME:-$PWD/.study/dagster_home}"
exec .venv/bin/study run --recipe "${STUDY_RECIPE:-recipes/small.yaml}" "$@"
