#!/usr/bin/env bash
# Runs kernels/cuda/conv2d.cu (with conv2d_winograd.cu, its cuBLAS GEMMs by a
# plain-loop stand-in) and kernels/cuda/group_norm.cu on the CPU through
# the CUDA stand-in of tests/cuda_emu (real threads per block, a real barrier
# for __syncthreads) and compares them with the float64 CPU kernels, under
# AddressSanitizer + UBSan, or with SANITIZER=thread under ThreadSanitizer
# (a data race there is what compute-sanitizer's racecheck would report).
# Says nothing about timing, warps or the real compiler's code; the TF32
# core's mma.sync is covered by tests/test_conv2d_igemm_emulation.cpp instead.
# Usage: [SANITIZER=thread] scripts/cuda-emu-check-dense.sh [BUILD_DIR]   (default: build-emu-dense)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f tests/cuda_emu/include/cuda_runtime.h ] || [ ! -f tests/cuda_emu/transform.py ]; then
  echo "cuda-emu-check-dense: skipped: tests/cuda_emu (the CUDA stand-in) is not in this tree"
  exit 77
fi
out=${1:-build-emu-dense}
mkdir -p "$out/src"
CXX=${CXX:-g++}
if [ "${SANITIZER:-address}" = thread ]; then
  sanitize=(-fsanitize=thread)
else
  sanitize=("-fsanitize=address,undefined" -fno-sanitize-recover=undefined)
fi
flags=(-std=c++20 -O1 -g1 "${sanitize[@]}" -fopenmp -pthread -DDDPM_CUDA=1 -I tests/cuda_emu/include -I .
       -isystem /usr/include/eigen3 -include tests/cuda_emu_dense/dense_extras.h)
# conv2d.cpp reaches the BF16 GEMM through Winograd (--precision bf16).
# conv2d.cu's automatic algorithm reads the math mode and times through the autotuner;
# conv2d_cuda_algo.cpp names the algorithms.
srcs=(tests/cuda_emu_dense/check_dense.cpp tests/cuda_emu/emu_runtime.cpp kernels/cpu/conv2d.cpp kernels/cpu/group_norm.cpp
      kernels/cpu/bf16_gemm.cpp kernels/math_mode.cpp kernels/autotune.cpp kernels/conv2d_cuda_algo.cpp)
for f in kernels/cuda/conv2d.cu kernels/cuda/conv2d_winograd.cu kernels/cuda/group_norm.cu; do
  dst="$out/src/$(basename "$f" .cu).cpp"
  python3 tests/cuda_emu/transform.py "$f" "$dst"
  srcs+=("$dst")
done
# One object per source, JOBS at a time (conv2d's transformed kernels take
# most of the time), then one link.
mkdir -p "$out/obj"
objs=()
pids=()
for s in "${srcs[@]}"; do
  o="$out/obj/$(echo "$s" | tr / _).o"
  objs+=("$o")
  "$CXX" "${flags[@]}" -c "$s" -o "$o" &
  pids+=($!)
  if [ ${#pids[@]} -ge "${JOBS:-2}" ]; then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
done
for p in "${pids[@]}"; do wait "$p"; done
"$CXX" "${flags[@]}" "${objs[@]}" -o "$out/cuda_emu_check_dense"
# One OpenMP thread: the CPU references then start no threads TSan cannot see into.
OMP_NUM_THREADS=1 "$out/cuda_emu_check_dense"
