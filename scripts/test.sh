#!/usr/bin/env bash
# README command 2: set up, then run the test suite (slow end-to-end tests included).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The PostgreSQL-backed instance tests start a real server from Debian's binaries.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
# Static checks first: each is quick and names the file and line it objects to.
# The Dockerfiles (hadolint comes with the dev extra; findings are fixed or ignored inline with a reason).
.venv/bin/hadolint docker/*.Dockerfile
# The Python code: ruff's lint rules and its formatter (settings in pyproject.toml).
.venv/bin/ruff check .
.venv/bin/ruff format --check .
# The Dagster definitions of every shipped recipe, loaded and validated as the UI would load them
# (in a throwaway instance; a failure names the recipe and the error).
validate_home=$(mktemp -d)
touch "$validate_home/dagster.yaml"
for recipe in recipes/small.yaml recipes/cpu-dynamics.yaml recipes/full.yaml; do
  echo "dagster definitions validate: $recipe"
  DAGSTER_HOME="$validate_home" STUDY_RECIPE="$recipe" PYTHONWARNINGS=ignore \
    .venv/bin/dagster definitions validate -m orchestration.definitions -d . --log-level warning
done
rm -rf "$validate_home"
exec .venv/bin/python -m pytest "$@"
