# syntax=docker/dockerfile:1
#
# The orchestrator image: the Dagster code location (orchestration.definitions) with dagster-k8s
# and dagster-postgres. It serves the code location (CMD below) and runs the run workers that the
# Kubernetes run launcher starts; the workloads themselves run in the workloads image's pods.
# No GPU libraries: no torch, vLLM, TRL or accelerate.
#
# NOT BUILT IN CI: the machine this project is developed and tested on has no Docker engine, so
# this file has never been built. Treat it as a starting point to check on your own builder.
#
# Build from the repository root with only tracked files as the context (no .venv, no .study):
#   git archive HEAD | docker build -f docker/orchestrator.Dockerfile -t <registry>/orchestrator:<tag> -
#
# Why an explicit requirement list: pyproject.toml's base dependencies include torch, TRL and
# accelerate (the workloads' needs), so `pip install .` would pull several GB of GPU libraries.
# The project is installed with --no-deps and the list below is what the orchestrator imports:
# Dagster and its integrations, plus what asset bodies use in process (polars and matplotlib
# everywhere; transformers for a tokenizer in the datasets asset, which works without torch;
# datasets for the hub loaders of raw_queries; math-verify, whose version is the verdicts'
# code version). Keep the version ranges in step with pyproject.toml; an `orchestrator` extra
# there would let this become `pip install --no-deps .` plus `.[orchestrator]`'s list.

FROM python:3.11-slim

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

RUN python -m venv "$VIRTUAL_ENV" && pip install --upgrade pip

RUN pip install \
      "dagster>=1.13,<1.14" \
      "dagster-webserver>=1.13,<1.14" \
      "dagster-pipes>=1.13,<1.14" \
      "dagster-aws>=0.29,<0.30" \
      "dagster-k8s>=0.29,<0.30" \
      "dagster-postgres>=0.29,<0.30" \
      "polars>=1.30,<3" \
      "pyyaml>=6" \
      "matplotlib>=3.8,<4" \
      "math-verify>=0.9,<0.10" \
      "transformers>=5.0,<5.20" \
      "datasets>=4,<6"

WORKDIR /app
COPY pyproject.toml README.md workspace.yaml ./
COPY orchestration ./orchestration
COPY assets ./assets
COPY resources ./resources
COPY jobs ./jobs
COPY workloads ./workloads
COPY recipes ./recipes
# Editable: resources/recipe.py finds recipes/ beside the packages. Then check that the
# orchestrator's modules import and that no GPU library slipped in through a dependency.
RUN pip install --no-deps -e . \
 && python -c "import dagster_k8s, dagster_postgres, polars, math_verify, transformers, datasets, resources.launcher, assets.training" \
 && ! python -c "import torch" 2>/dev/null \
 && ! python -c "import vllm" 2>/dev/null

RUN useradd --create-home --uid 1000 dagster
USER 1000

EXPOSE 4000
# The code location server the Dagster webserver and daemon connect to (Helm: a user deployment).
CMD ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000", "-m", "orchestration.definitions"]
