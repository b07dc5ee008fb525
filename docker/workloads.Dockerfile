# syntax=docker/dockerfile:1
#
# The workloads image: what the Kubernetes launcher's pods run (`python -m workloads.<name>`,
# or `torchrun --nproc-per-node N -m workloads.train` for multi-GPU training). vLLM, torch, TRL,
# math-verify and dagster-pipes, on a CUDA base.
#
# NOT BUILT IN CI: the machine this project is developed and tested on has no Docker engine and
# no GPU, so this file has never been built or run. Treat it as a starting point to check on
# your own builder.
#
# Build from the repository root with only tracked files as the context (no .venv, no .study):
#   git archive HEAD | docker build -f docker/workloads.Dockerfile -t <registry>/workloads:<tag> -
#
# What gets installed, and the trade-off: the project with its `gpu` extra (`pip install .[gpu]`),
# so pip resolves vLLM, torch and the rest against the same pyproject.toml as every other
# environment, and the versions cannot drift from a second hand-written list. The price: the
# project's base dependencies also bring the orchestrator's libraries (dagster, the webserver,
# dagster-aws), a few hundred MB the workloads never import (they use `dagster_pipes` only).
# A leaner image needs pyproject.toml to move those into an extra of their own; until then,
# correctness over size.
#
# Not installed: FlashAttention. Training uses it when it is importable (padding-free batches);
# it has no wheel for every torch/CUDA pair, so add `pip install flash-attn --no-build-isolation`
# matching the torch below if you want it (it compiles for a long time).

ARG CUDA_IMAGE=nvidia/cuda:12.8.1-cudnn-devel-ubuntu24.04
# The devel flavour: Triton and vLLM's JIT-compiled kernels need a compiler and CUDA headers at
# run time. torch and vLLM wheels carry their own CUDA libraries; the node's driver is mounted
# by the NVIDIA container toolkit.
FROM ${CUDA_IMAGE}

ENV DEBIAN_FRONTEND=noninteractive \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

# Ubuntu 24.04's Python is 3.12 (the project supports 3.11 and 3.12); python3-dev and a C
# compiler for Triton's launcher stubs.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv python3-dev build-essential ca-certificates git \
 && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv "$VIRTUAL_ENV" \
 && pip install --upgrade pip

WORKDIR /app

# Dependencies first, from pyproject.toml alone, so a source change does not reinstall them.
COPY pyproject.toml README.md ./
RUN pip install ".[gpu]" && pip uninstall -y reasoning-sft-study

# The project itself, editable: resources/recipe.py finds recipes/ beside the packages.
COPY workspace.yaml ./
COPY orchestration ./orchestration
COPY assets ./assets
COPY resources ./resources
COPY jobs ./jobs
COPY workloads ./workloads
COPY recipes ./recipes
RUN pip install --no-deps -e . \
 && python -c "import dagster_pipes, math_verify, trl, vllm, workloads.train, workloads.generate, workloads.evaluate" \
 && command -v torchrun

# A non-root user with a writable home (Hugging Face, Triton and vLLM caches live under it,
# unless HF_HOME etc. point at a mounted volume).
RUN useradd --create-home --uid 1000 study
USER 1000
ENV HOME=/home/study

# The pod's command replaces this; alone, the image only proves the workloads import.
CMD ["python", "-c", "import workloads.train, workloads.generate, workloads.evaluate; print('workloads image ok')"]
