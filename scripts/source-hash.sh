#!/usr/bin/env bash
# Prints one SHA-256 over every file the build reads: the CMake files and
# the C++/CUDA sources and headers of the top level and of the engine,
# tools, tests and benchmarks folders, each file's path and contents, in a
# fixed order (scripts, Python and data do not go into the programs). scripts/pack-binaries.sh
# stores it next to the binaries it builds; scripts/gpu-check.sh recomputes
# it on the GPU machine and uses the carried binaries only when the two
# agree, so stale binaries are never tested.
# Usage: scripts/source-hash.sh
set -euo pipefail
cd "$(dirname "$0")/.."
find CMakeLists.txt tensor autograd kernels nn io dist diffusion tools tests benchmarks -type f \
    \( -name CMakeLists.txt -o -name '*.cmake' -o -name '*.cpp' -o -name '*.h' -o -name '*.hpp' \
    -o -name '*.cu' -o -name '*.cuh' -o -name '*.in' \) -print0 |
  LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1
