# syntax=docker/dockerfile:1
#
# The workloads image: what the Kubernetes launcher's pods run (`python -m workloads.programs.<name>`,
# or `torchrun --nproc-per-node N -m workloads.programs.train` for multi-GPU training). vLLM, torch, TRL,
# math-verify and dagster-pipes, on a CUDA base.
#
# NOT BUILT IN CI: the machine this project is developed and tested on has no Docker engine and
# no GPU, so this file has never been built or run. Treat it as a starting point to check on
# your own builder.
#
# Build from the repository root with only tracked files as the context (no .venv, no .study):
#   git archive HEAD | docker build -f docker/workloads.Dockerfile -t <registry>/workloads:<tag> -
#
# What gets installed: the project's base dependencies with its `workloads` and `gpu` extras
# (`pip install .[workloads,gpu]`): dagster-pipes, torch, transformers, TRL, accelerate, datasets,
# math-verify, polars, the IFEval libraries and vLLM, resolved from the same pyproject.toml as
# every other environment. Not the orchestrator's libraries (Dagster, the webserver, dagster-aws,
# dagster-k8s): the workloads never import them, and tests/test_deploy_dependency_sets.py imports
# every workload module with this set alone.
#
# FlashAttention without compiling: the `gpu` extra brings the `kernels` package, and the build
# downloads the prebuilt kernels-community/flash-attn2 build matching this torch and CUDA into
# HF_HOME=/opt/hf (a deployment that points HF_HOME elsewhere downloads it again on first use).
# Training then asks transformers for it (attn_implementation="kernels-community/flash-attn2") and
# trains padding-free; a flash-attn wheel, if you install one matched to the torch below, wins.
# liger-kernel (the fused loss) comes with the same extra.

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
# compiler for Triton's launcher stubs. Not pinned to package versions: the Ubuntu archive drops
# superseded ones, so pins would break the next rebuild; the base image tag fixes the release.
# pip's own version likewise follows the latest release; the project's come from pyproject.toml.
# hadolint ignore=DL3008,DL3013
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv python3-dev build-essential ca-certificates git \
 && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv "$VIRTUAL_ENV" \
 && pip install --upgrade pip

WORKDIR /app

# Dependencies first, from pyproject.toml alone, so a source change does not reinstall them.
COPY pyproject.toml README.md ./
# Versions come from pyproject.toml's ranges, not from `==` pins here.
# hadolint ignore=DL3013
RUN pip install ".[workloads,gpu]" && pip uninstall -y reasoning-sft-study

# The workloads package (with the recipes beside it, as in the repository): the pods run
# `python -m workloads.programs.<name>`, which needs nothing of the orchestrator's packages; PYTHONPATH
# makes it importable from any working directory. Then check that every workload module imports,
# that vLLM and torchrun are there, and that no orchestrator library slipped in through a dependency.
ENV PYTHONPATH=/app HF_HOME=/opt/hf
RUN python -c "from kernels import get_kernel; get_kernel('kernels-community/flash-attn2')" \
 && python -c "import liger_kernel.transformers" \
 && chmod -R a+rX /opt/hf
COPY workloads ./workloads
COPY recipes ./recipes
RUN python -c "import importlib, pkgutil, vllm, workloads; \
[importlib.import_module(m.name) for m in pkgutil.walk_packages(workloads.__path__, 'workloads.')]" \
 && command -v torchrun \
 && ! python -c "import dagster" 2>/dev/null

# A non-root user with a writable home (Hugging Face, Triton and vLLM caches live under it,
# unless HF_HOME etc. point at a mounted volume).
RUN useradd --create-home --uid 1000 study
USER 1000
ENV HOME=/home/study

# The pod's command replaces this; alone, the image only proves the workloads import.
CMD ["python", "-c", "import workloads.programs.train, workloads.programs.generate, workloads.programs.evaluate; print('workloads image ok')"]
