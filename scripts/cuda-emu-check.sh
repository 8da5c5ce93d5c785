#!/usr/bin/env bash
# Runs the elementwise CUDA kernels on the CPU through the emulation in
# tests/cuda_emu (no GPU, no CUDA toolkit needed) and compares them with the
# CPU kernels, under AddressSanitizer and UBSan. Checks index arithmetic,
# float4/scalar variants, tails and bounds before a GPU is available; it says
# nothing about timing, warps or the real compiler's code.
# With SANITIZER=thread, ThreadSanitizer instead: the emulated block's
# threads are real threads and __syncthreads a real barrier, so a missing
# barrier around shared memory shows up as a data race (what
# compute-sanitizer's racecheck finds on a GPU).
# Usage: [SANITIZER=thread] scripts/cuda-emu-check.sh [BUILD_DIR [GROUP...]]
#   BUILD_DIR default build-emu; GROUPs (binary, sum_to, reductions, ...)
#   limit the run (ThreadSanitizer is slow: a launch is 256 real threads).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-build-emu}
shift || true
mkdir -p "$out/src" "$out/obj"

# The kernel files under test (the dense ops use cuBLAS and are not emulated).
cu_files=(kernels/cuda/binary.cu kernels/cuda/unary.cu kernels/cuda/sum.cu kernels/cuda/silu.cu
          kernels/cuda/mse_loss.cu kernels/cuda/concat.cu kernels/cuda/max_pool2d.cu
          kernels/cuda/upsample_bilinear2d.cu kernels/cuda/q_sample.cu kernels/cuda/ddpm_step.cu
          kernels/cuda/ddim_step.cu kernels/cuda/adam_update.cu kernels/cuda/ema_update.cu
          kernels/cuda/cross_entropy.cu kernels/cuda/softmax.cu kernels/cuda/global_avg_pool2d.cu
          tensor/cuda/fill.cu tensor/cuda/rng.cu)
cpu_files=(kernels/cpu/binary.cpp kernels/cpu/unary.cpp kernels/cpu/sum.cpp kernels/cpu/silu.cpp
           kernels/cpu/mse_loss.cpp kernels/cpu/concat.cpp kernels/cpu/max_pool2d.cpp
           kernels/cpu/upsample_bilinear2d.cpp kernels/cpu/q_sample.cpp kernels/cpu/ddpm_step.cpp
           kernels/cpu/ddim_step.cpp kernels/cpu/adam_update.cpp kernels/cpu/ema_update.cpp
           kernels/cpu/cross_entropy.cpp kernels/cpu/softmax.cpp kernels/cpu/global_avg_pool2d.cpp
           kernels/broadcast.cpp tensor/shape.cpp tests/cuda_emu/emu_runtime.cpp tests/cuda_emu/check.cpp)

CXX=${CXX:-g++}
if [ "${SANITIZER:-address}" = thread ]; then
  sanitize=(-fsanitize=thread)
  # The CPU reference kernels use OpenMP, whose runtime ThreadSanitizer does
  # not see into (false reports); one thread keeps them out of the picture.
  export OMP_NUM_THREADS=1
else
  sanitize=(-fsanitize=address,undefined -fno-sanitize-recover=undefined)
fi
flags=(-std=c++20 -O1 -g "${sanitize[@]}" -fopenmp -pthread
       -DDDPM_CUDA=1 -I tests/cuda_emu/include -I .)
srcs=()
for f in "${cu_files[@]}"; do
  dst="$out/src/$(echo "$f" | tr / _).cpp"
  python3 tests/cuda_emu/transform.py "$f" "$dst"
  srcs+=("$dst")
done
srcs+=("${cpu_files[@]}")
objs=()
pids=()
jobs=${JOBS:-2}
for s in "${srcs[@]}"; do
  o="$out/obj/$(basename "$s").o"
  objs+=("$o")
  "$CXX" "${flags[@]}" -c "$s" -o "$o" &
  pids+=($!)
  if [ ${#pids[@]} -ge "$jobs" ]; then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
done
for p in "${pids[@]}"; do wait "$p"; done
"$CXX" "${flags[@]}" "${objs[@]}" -o "$out/cuda_emu_check"
"$out/cuda_emu_check" "$@"
