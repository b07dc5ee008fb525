#!/usr/bin/env bash
# Opens the Dagster UI on the same instance the run scripts write to (stop it with Ctrl-C).
set -euo pipefail
cd "$(dirname "$0")/.."
export DAGSTER_HOME="${DAGSTER_HOME:-$PWD/.study/dagster_home}"
mkdir -p "$DAGSTER_HOME"
exec .venv/bin/dagster dev -w workspace.yaml -h 127.0.0.1 -p "${PORT:-3000}"
