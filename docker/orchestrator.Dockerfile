# syntax=docker/dockerfile:1
#
# The orchestrator image: the Dagster code location (orchestration.definitions) with dagster-k8s
# and dagster-postgres. It serves the code location (CMD below) and runs the run workers that the
# Kubernetes run launcher starts; the workloads themselves run in the workloads image's pods.
# No GPU libraries: no torch, vLLM, TRL or accelerate.
#
# Build with scripts/build_images.sh (docker, podman or buildah; docs/images.md). CI does not
# build it. By hand, from the repository root with only tracked files as the context:
#   git archive HEAD | docker build -f docker/orchestrator.Dockerfile -t <registry>/orchestrator:<tag> -
#
# What gets installed: the project's base dependencies (what both sides import: polars,
# transformers for a tokenizer, which works without torch, datasets, math-verify, dagster-pipes)
# with its `orchestrator` and `cluster` extras (Dagster, the webserver, dagster-aws, dagster-k8s,
# dagster-postgres, matplotlib), resolved from pyproject.toml like every other environment. Not
# the `workloads` extra: torch, TRL and the IFEval libraries stay in the workloads image.

# Any Debian/Ubuntu base with Python 3.11 or 3.12 and its venv module: scripts/build_images.sh
# passes a Debian base it makes with debootstrap where no registry can be reached.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

# Index settings and a CA bundle come in as build secrets (scripts/build_images.sh).
# Versions come from pyproject.toml's ranges (and pip's own latest release), not from `==` pins here.
# hadolint ignore=DL3013
RUN --mount=type=secret,id=pip_conf --mount=type=secret,id=ca_bundle \
    python3 -m venv "$VIRTUAL_ENV" && PIP_CONFIG_FILE=/run/secrets/pip_conf pip install --upgrade pip

WORKDIR /app

# Dependencies first, from pyproject.toml alone, so a source change does not reinstall them. Not
# the README its metadata names: the package is uninstalled again (setuptools warns that the file
# is missing), and an edit of the README would otherwise reinstall every dependency.
COPY pyproject.toml ./
# hadolint ignore=DL3013
RUN --mount=type=secret,id=pip_conf --mount=type=secret,id=ca_bundle \
    PIP_CONFIG_FILE=/run/secrets/pip_conf pip install ".[orchestrator,cluster]" && pip uninstall -y reasoning-sft-study

COPY workspace.yaml README.md ./
COPY orchestration ./orchestration
COPY assets ./assets
COPY resources ./resources
COPY recipe_schema ./recipe_schema
COPY jobs ./jobs
COPY workloads ./workloads
COPY recipes ./recipes
# Editable: recipe_schema/data_files.py finds recipes/ beside the packages (its build backend comes from the
# index, so the index settings are mounted here too). Then check that every module
# of the orchestrator's packages imports and that no GPU library slipped in through a dependency.
RUN --mount=type=secret,id=pip_conf --mount=type=secret,id=ca_bundle \
    PIP_CONFIG_FILE=/run/secrets/pip_conf pip install --no-deps -e . \
 && python -c "import dagster_k8s, dagster_postgres, importlib, pkgutil, assets, jobs, resources, recipe_schema, orchestration.environments; \
[importlib.import_module(m.name) for p in (assets, jobs, resources, recipe_schema) for m in pkgutil.walk_packages(p.__path__, p.__name__ + '.')]" \
 && ! python -c "import torch" 2>/dev/null \
 && ! python -c "import vllm" 2>/dev/null

RUN useradd --create-home --uid 1000 dagster
USER 1000

EXPOSE 4000
# The code location server the Dagster webserver and daemon connect to (Helm: a user deployment).
CMD ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000", "-m", "orchestration.definitions"]
