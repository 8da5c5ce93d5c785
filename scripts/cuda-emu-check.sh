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
#
# One check file per op: tests/cuda_emu/ops/<op>.cpp, named after the kernel
# file it covers (ops/binary.cpp is the twin of kernels/cuda/binary.cu). The
# kernel files to compile come from one line in each op file,
#   // emu-kernels: kernels/cuda/binary.cu kernels/cpu/binary.cpp
# (.cu files go through tests/cuda_emu/transform.py, .cpp files compile as
# they are); nothing else lists them. Before building, every
# kernels/cuda/*.cu and tensor/cuda/*.cu must be named by some op file or be
# in `exempt` below with its reason; after linking, every op file must be in
# all_emu_ops() (tests/cuda_emu/main.cpp).
#
# Usage: [SANITIZER=thread] [JOBS=n] scripts/cuda-emu-check.sh [BUILD_DIR [OP...]]
#        scripts/cuda-emu-check.sh --list     the ops and their kernel files
#   BUILD_DIR default build-emu; OPs (binary, softmax, ...: the file names
#   under tests/cuda_emu/ops/) limit the run (ThreadSanitizer is slow: a
#   launch is 256 real threads). Everything is built either way.
set -euo pipefail
shopt -s nullglob
cd "$(dirname "$0")/.."
me=cuda-emu-check

# CUDA files without an emulation twin here, each with its reason.
declare -A exempt=(
  [kernels/cuda/conv2d.cu]="emulated by scripts/cuda-emu-check-dense.sh (tests/cuda_emu_dense)"
  [kernels/cuda/conv2d_winograd.cu]="emulated by scripts/cuda-emu-check-dense.sh (tests/cuda_emu_dense)"
  [kernels/cuda/group_norm.cu]="emulated by scripts/cuda-emu-check-dense.sh (tests/cuda_emu_dense)"
  [kernels/cuda/linear.cu]="cuBLAS GEMMs (the emulation has no cuBLAS); GPU parity tests only"
  [kernels/cuda/matmul.cu]="cuBLAS GEMMs only; GPU parity tests only"
  [kernels/cuda/bmm.cu]="one cuBLAS strided-batched GEMM per product, no kernels of ours; GPU parity tests only"
  [kernels/cuda/cublas_gemm.cu]="the cuBLAS handle and GEMM wrapper: no kernels of ours"
  [tensor/cuda/caching_allocator.cu]="the device allocator and the stream: no kernels"
  [tensor/cuda/device_query.cu]="the device query: no kernels"
)
# Built with every op: the runner, the helpers, the emulated runtime and what
# the kernels and checks share.
common=(kernels/broadcast.cpp tensor/shape.cpp tests/cuda_emu/emu_runtime.cpp tests/cuda_emu/emu_check.cpp
        tests/cuda_emu/main.cpp)

# ---- the ops and their kernel files, from tests/cuda_emu/ops/*.cpp ----
ops=()
declare -A kernels_of
bad=0
for f in tests/cuda_emu/ops/*.cpp; do
  op=$(basename "$f" .cpp)
  n=$(grep -c '^// emu-kernels:' "$f" || true)
  if [ "$n" != 1 ]; then
    echo "$me: $f: needs exactly one '// emu-kernels: FILE...' line, has $n" >&2
    bad=1
    continue
  fi
  files=$(sed -n 's|^// emu-kernels:||p' "$f" | xargs)
  for k in $files; do
    case "$k" in
      *.cu | *.cpp) [ -f "$k" ] || { echo "$me: $f: emu-kernels names $k, which does not exist" >&2; bad=1; } ;;
      *) echo "$me: $f: emu-kernels names $k: only .cu and .cpp files" >&2; bad=1 ;;
    esac
  done
  [ -n "$files" ] || { echo "$me: $f: its emu-kernels line names no file" >&2; bad=1; }
  ops+=("$op")
  kernels_of[$op]=$files
done
[ ${#ops[@]} -gt 0 ] || { echo "$me: no op files under tests/cuda_emu/ops/" >&2; exit 2; }
[ $bad -eq 0 ] || exit 2

for a in "$@"; do
  if [ "$a" = --list ]; then
    for op in "${ops[@]}"; do printf '%-20s %s\n' "$op" "${kernels_of[$op]}"; done
    exit 0
  fi
done

out=${1:-build-emu}
shift || true
selected=("$@")
for name in "${selected[@]}"; do
  known=0
  for op in "${ops[@]}"; do [ "$op" = "$name" ] && known=1; done
  if [ $known -eq 0 ]; then
    echo "$me: unknown op '$name'; known: ${ops[*]}" >&2
    exit 2
  fi
done

# ---- completeness: every CUDA file is some op's twin, or exempt ----
declare -A covered
for op in "${ops[@]}"; do
  for k in ${kernels_of[$op]}; do covered[$k]=$op; done
done
for f in kernels/cuda/*.cu tensor/cuda/*.cu; do
  if [ -n "${covered[$f]:-}" ]; then
    if [ -n "${exempt[$f]:-}" ]; then
      echo "$me: $f is covered by tests/cuda_emu/ops/${covered[$f]}.cpp and also exempt: drop its exemption" >&2
      bad=1
    fi
  elif [ -z "${exempt[$f]:-}" ]; then
    echo "$me: $f has no emulation twin: name it on the '// emu-kernels:' line of" \
      "tests/cuda_emu/ops/<op>.cpp (docs/adding-an-op.md), or exempt it with a reason in scripts/cuda-emu-check.sh" >&2
    bad=1
  fi
done
for f in "${!exempt[@]}"; do
  [ -f "$f" ] || { echo "$me: $f is exempt but does not exist: drop its exemption in scripts/cuda-emu-check.sh" >&2; bad=1; }
done
[ $bad -eq 0 ] || { echo "$me: FAILED: a CUDA file is neither covered by an op file nor exempt, or both (see above)" >&2; exit 1; }

# ---- build: every op (all_emu_ops() references each) ----
mkdir -p "$out/src" "$out/obj"
CXX=${CXX:-g++}
if [ "${SANITIZER:-address}" = thread ]; then
  sanitize=(-fsanitize=thread)
  # The CPU reference kernels use OpenMP, whose runtime ThreadSanitizer does
  # not see into (false reports); one thread keeps them out of the picture.
  export OMP_NUM_THREADS=1
else
  sanitize=("-fsanitize=address,undefined" -fno-sanitize-recover=undefined)
fi
flags=(-std=c++20 -O1 -g1 "${sanitize[@]}" -fopenmp -pthread
       -DDDPM_CUDA=1 -I tests/cuda_emu/include -I . -isystem /usr/include/eigen3)  # Eigen: CPU twins' GEMMs
declare -A seen
srcs=() objs=()  # what to compile, and its object
add() {
  local f=$1 flat
  [ -n "${seen[$f]:-}" ] && return
  seen[$f]=1
  flat=$(echo "$f" | tr / _)
  if [[ "$f" == *.cu ]]; then
    python3 tests/cuda_emu/transform.py "$f" "$out/src/$flat.cpp"
    srcs+=("$out/src/$flat.cpp")
  else
    srcs+=("$f")
  fi
  objs+=("$out/obj/$flat.o")
}
for op in "${ops[@]}"; do
  for k in ${kernels_of[$op]}; do add "$k"; done
  add "tests/cuda_emu/ops/$op.cpp"
done
for f in "${common[@]}"; do add "$f"; done
pids=()
failed=0
jobs=${JOBS:-2}
for i in "${!srcs[@]}"; do
  "$CXX" "${flags[@]}" -c "${srcs[$i]}" -o "${objs[$i]}" &
  pids+=($!)
  if [ ${#pids[@]} -ge "$jobs" ]; then
    wait "${pids[0]}" || failed=1
    pids=("${pids[@]:1}")
  fi
done
for p in "${pids[@]}"; do wait "$p" || failed=1; done
[ $failed -eq 0 ] || { echo "$me: compilation failed (see above)" >&2; exit 1; }
"$CXX" "${flags[@]}" "${objs[@]}" -o "$out/cuda_emu_check"

# ---- every op file is registered ----
registered=$("$out/cuda_emu_check" --list | sort)
on_disk=$(printf '%s\n' "${ops[@]}" | sort)
if [ "$registered" != "$on_disk" ]; then
  comm -13 <(echo "$registered") <(echo "$on_disk") | while read -r op; do
    echo "$me: tests/cuda_emu/ops/$op.cpp: emu_$op is not in all_emu_ops() (tests/cuda_emu/main.cpp)" >&2
  done
  comm -23 <(echo "$registered") <(echo "$on_disk") | while read -r op; do
    echo "$me: all_emu_ops() lists '$op', but there is no tests/cuda_emu/ops/$op.cpp" >&2
  done
  exit 1
fi

"$out/cuda_emu_check" "${selected[@]}"
