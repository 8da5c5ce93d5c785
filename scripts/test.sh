#!/usr/bin/env bash
# Builds the project and runs the test suite. Installs missing Debian packages
# first. The CUDA backend is compiled whenever nvcc is found (at
# /usr/local/cuda or on PATH), so a broken kernel fails here even on a machine
# without a GPU; the GPU tests then report skipped.
# Usage: scripts/test.sh [BUILD_DIR]   (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --mpi  # Open MPI: the distributed tests

build=${1:-build}
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DDDPM_WERROR=ON
cmake --build "$build" -j "$jobs"
ctest --test-dir "$build" --output-on-failure -j "$jobs"
