#!/usr/bin/env bash
# The GPU check of the dense CUDA kernels (conv2d, group_norm, linear, matmul)
# as one command for the device machine: builds the GPU tests and the dense
# benchmark (Release, sm_90), runs every CUDA parity case, then
# compute-sanitizer (memcheck, racecheck, synccheck, initcheck) on the dense
# cases alone at small shapes, then the benchmark against PyTorch/cuDNN.
# Steps run in order of importance, each under its own time limit; a failing
# step does not stop the later ones.
#
# Writes OUT/summary.txt (one line per step with its exit code), OUT/check.log
# (every step's output), OUT/ours.json and OUT/torch.json (the timings).
# The header-only dependencies must be in .deps/include (carry .deps).
# Usage: scripts/gpu-check-dense.sh OUT [BUILD_DIR]   (default build-gpu)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
out=${1:?usage: scripts/gpu-check-dense.sh OUT [BUILD_DIR]}
build=${2:-build-gpu}
mkdir -p "$out"
log="$out/check.log"
: >"$log"
: >"$out/summary.txt"

# step NAME SECONDS COMMAND...: runs it with a time limit, appends its output
# to the log and its exit code to the summary.
step() {
  local name=$1 limit=$2
  shift 2
  echo "==== $name: $*" >>"$log"
  local t0=$SECONDS
  timeout "$limit" "$@" >>"$log" 2>&1
  local rc=$?
  echo "$name rc=$rc ($((SECONDS - t0)) s)" | tee -a "$out/summary.txt"
}

sanitizer=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
tests="$build/tests/gpu/ddpm_gpu_tests"
dense=(--no-intro "--test-case=gpu: dense ops give bitwise*")

step device 20 nvidia-smi
step configure 120 cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DDDPM_WERROR=ON \
  -DCMAKE_CUDA_ARCHITECTURES=90
step build 400 cmake --build "$build" -j "$(nproc)" --target ddpm_gpu_tests bench-dense-cuda
# Every parity case (all ops, all shapes), the guard sentinels, determinism.
step gpu_tests 240 "$tests" --no-intro
# The sanitizers, on the dense kernels only (the determinism case runs just
# them, on the GPU alone) at the small shapes.
export DDPM_PARITY_SMALL=1
step memcheck 240 "$sanitizer" --tool memcheck --error-exitcode 99 "$tests" "${dense[@]}"
step racecheck 300 "$sanitizer" --tool racecheck --racecheck-report all --error-exitcode 99 "$tests" "${dense[@]}"
unset DDPM_PARITY_SMALL
step bench 240 "$build/benchmarks/bench-dense-cuda" --json "$out/ours.json"
step torch 300 python3 benchmarks/bench_dense_torch.py --ours "$out/ours.json" --json "$out/torch.json"
export DDPM_PARITY_SMALL=1
step synccheck 240 "$sanitizer" --tool synccheck --error-exitcode 99 "$tests" "${dense[@]}"
step initcheck 240 "$sanitizer" --tool initcheck --error-exitcode 99 "$tests" "${dense[@]}"
exit 0
