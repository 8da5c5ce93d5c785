#!/usr/bin/env bash
# Builds the programs the GPU check runs (ddpm_gpu_tests, ddpm-train,
# ddpm-sample, ddpm-bench, ddpm-bench-e2e) on this machine and copies them
# into .deps/prebuilt/, which travels to the GPU machine with carry: [".deps"]
# (docs/gpu.md). There scripts/gpu-check.sh runs them instead of building,
# which saves the build's minutes of scarce device time, but only when
# .deps/prebuilt/SOURCES.sha256 equals scripts/source-hash.sh of the sources
# that travelled and every library they need is found; otherwise it builds.
#
# The build: Release, sm_90 (+PTX), warnings as errors, and no -march=native
# (DDPM_NATIVE=OFF: the GPU machine's processor may lack this one's
# extensions), no MPI (the GPU machine has no MPI library; one GPU needs
# none). cuBLAS and the CUDA runtime come from the toolkit; cuDNN (for
# ddpm-bench only) from the toolkit here, from PyTorch's wheel there.
# Usage: scripts/pack-binaries.sh [BUILD_DIR]   (default build-carry)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-carry}
dst=.deps/prebuilt
export PATH="$PATH:/usr/local/cuda/bin"
if ! command -v nvcc >/dev/null; then
  echo "pack-binaries.sh: no nvcc on this machine: the GPU programs cannot be built here" >&2
  exit 1
fi
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 \
  -DDDPM_WITH_CUDA=ON -DDDPM_NATIVE=OFF -DDDPM_WITH_MPI=OFF -DDDPM_WERROR=ON >/dev/null
cmake --build "$build" -j "$(nproc)" --target ddpm_gpu_tests ddpm-train ddpm-sample ddpm-bench ddpm-bench-e2e
rm -rf "$dst"
mkdir -p "$dst/tests/gpu" "$dst/tools" "$dst/benchmarks"
cp "$build/tests/gpu/ddpm_gpu_tests" "$dst/tests/gpu/"
cp "$build/tools/ddpm-train" "$build/tools/ddpm-sample" "$dst/tools/"
cp "$build/benchmarks/ddpm-bench" "$build/benchmarks/ddpm-bench-e2e" "$dst/benchmarks/"
strip --strip-debug "$dst"/*/ddpm* "$dst"/tests/gpu/ddpm_gpu_tests 2>/dev/null || true
scripts/source-hash.sh >"$dst/SOURCES.sha256"
echo "pack-binaries.sh: $(du -sh "$dst" | cut -f1) in $dst, sources $(cat "$dst/SOURCES.sha256")"
