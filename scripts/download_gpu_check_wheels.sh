#!/usr/bin/env bash
# Downloads, beforehand, the wheels benchmarks/gpu_check.py needs on a GPU machine that has torch (with
# CUDA, so Triton too) and transformers but can fetch nothing (docs/gpu-check.md): TRL, datasets,
# liger-kernel, the pipes protocol the training module imports, and what they need beyond a CUDA-torch
# image with transformers. For CPython 3.11 and 3.12 on manylinux x86_64; at most 60 MiB in all.
#
#   bash scripts/download_gpu_check_wheels.sh [FOLDER]     # default build/gpu-check-wheels (git ignores build/)
#
# Then, on the GPU machine, from the repository root:
#   python3 -m pip install --no-index --find-links build/gpu-check-wheels -r build/gpu-check-wheels/requirements.txt
#
# Each wheel is fetched with --no-deps from the explicit list below: resolving TRL's or liger-kernel's
# requirements would pull torch and CUDA. pyarrow (>= 21) and pandas are required too but not fetched:
# their two wheels alone are about 58 MiB for one Python; the lent GPU image has both.
set -euo pipefail
cd "$(dirname "$0")/.."

FOLDER="${1:-build/gpu-check-wheels}"
LIMIT_MIB=60
PYTHON_VERSIONS="${PYTHON_VERSIONS:-3.11 3.12}"
if [ -x .venv/bin/python ]; then PYTHON="${PYTHON:-.venv/bin/python}"; else PYTHON="${PYTHON:-python3}"; fi

# What the check imports beyond torch and transformers, as the install line asks for it. datasets 5.2
# needs pyarrow >= 24; pip falls back to 4.8 (pyarrow >= 21) on a machine with an older one.
REQUIREMENTS=(
  "trl==1.16.0"
  "datasets>=4.8.4,<=5.2.0"
  "liger-kernel==0.8.5"
  "accelerate>=1.10,<2"
  "dagster-pipes>=1.13,<1.14"
)
WHEELS=(
  trl==1.16.0 datasets==5.2.0 datasets==4.8.4 liger-kernel==0.8.5 accelerate==1.16.0 dagster-pipes==1.13.29
  dill==0.4.1 multiprocess==0.70.19 xxhash==4.1.0 psutil==7.2.2
  fsspec==2026.2.0 # the newest both datasets versions accept: pip downgrades a newer one to it
)

rm -rf "$FOLDER"
mkdir -p "$FOLDER"
for version in $PYTHON_VERSIONS; do
  for wheel in "${WHEELS[@]}"; do # one at a time: pip refuses two versions of datasets in one call
    "$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: --dest "$FOLDER" \
      --python-version "$version" --implementation cp --abi "cp${version/./}" --abi abi3 --abi none \
      --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
      "$wheel"
  done
done
printf '%s\n' "${REQUIREMENTS[@]}" >"$FOLDER/requirements.txt"

ls -1 "$FOLDER"
bytes=$(du -cb "$FOLDER"/*.whl | tail -1 | cut -f1)
mib=$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1048576 }')
echo "total: $mib MiB in $(ls "$FOLDER"/*.whl | wc -l) wheels (limit $LIMIT_MIB MiB), in $FOLDER"
if [ "$bytes" -gt $((LIMIT_MIB * 1048576)) ]; then
  echo "over the $LIMIT_MIB MiB limit: a GPU machine's working tree cannot carry these" >&2
  exit 1
fi
