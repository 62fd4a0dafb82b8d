#!/usr/bin/env bash
# Wheels the GPU proxy needs on a device machine, which has JAX with CUDA on Python 3.12 but not
# Keras (BENCHMARKS.md, "Results: GPU proxy"). Saved to .whl/ (git-ignored); the device run
# carries that folder and installs it with pip --no-index. Needs PyPI here, nothing there.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf .whl
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
  keras==3.15.1 namex==0.1.0 optree==0.20.0
ls .whl
