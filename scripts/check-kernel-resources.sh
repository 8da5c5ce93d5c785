#!/usr/bin/env bash
# The compiled conv2d kernels, checked without a GPU (issue #20; docs/gpu.md,
# "conv2d: variants, the autotuner, and the checks without a GPU"). nvcc
# compiles kernels/cuda/conv2d.cu (and, for ptxas, conv2d_winograd.cu) for
# sm_90 as the build does, then:
#   ptxas: from -Xptxas -v, every kernel's registers, spills and static
#          shared memory; fails on any spill or more than 48 KB of static
#          shared memory;
#   sass:  from cuobjdump --dump-sass (pip's nvidia-cuda-cuobjdump wheel,
#          installed by scripts/install-deps.sh --sass), fails unless every
#          TF32 kernel issues TF32 tensor-core HMMA and every BF16 kernel BF16
#          ones (and not the other kind), no FP32 (SIMT, direct) kernel
#          does (FP32 math promises plain FP32 multiply-adds), every pipelined
#          kernel copies with LDGSTS (cp.async) and no register-staged one does,
#          and the wide tensor-core kernels (and no others) load fragments
#          with LDSM (ldmatrix).
# Either step exits 77 (CTest: skipped) when its tool cannot be had.
# Usage: scripts/check-kernel-resources.sh ptxas|sass [WORK_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
mode=${1:?usage: check-kernel-resources.sh ptxas|sass [WORK_DIR]}
work=${2:-$(mktemp -d)}
mkdir -p "$work"
nvcc=$(command -v nvcc || true)
[ -n "$nvcc" ] || { [ -x /usr/local/cuda/bin/nvcc ] && nvcc=/usr/local/cuda/bin/nvcc; }
if [ -z "$nvcc" ]; then
  echo "check-kernel-resources: skipped: no nvcc (the CUDA toolkit) on this machine"
  exit 77
fi
src=kernels/cuda/conv2d.cu
obj="$work/conv2d.o"
# compile SOURCE OBJECT [nvcc flags...]: as the build compiles it for sm_90.
compile() {
  "$nvcc" -std=c++17 -O3 -arch=sm_90 --expt-relaxed-constexpr -lineinfo -I "$root" -c "$root/$1" -o "$2" "${@:3}"
}
case "$mode" in
  ptxas)
    # The implicit GEMMs and the Winograd path's transform kernels.
    rc=0
    for s in "$src" kernels/cuda/conv2d_winograd.cu; do
      compile "$s" "$work/ptxas.o" -Xptxas -v > "$work/ptxas.txt" 2>&1 || { cat "$work/ptxas.txt"; exit 1; }
      python3 "$root/scripts/kernel_resources.py" ptxas "$s" < "$work/ptxas.txt" || rc=1
    done
    exit $rc
    ;;
  sass)
    cuobjdump=$(command -v cuobjdump || true)
    for d in "${DDPM_CUDA_TOOLS:-}" /opt/ddpm-cuda-tools "$HOME/.cache/ddpm-cuda-tools" /usr/local/cuda; do
      [ -z "$cuobjdump" ] && [ -n "$d" ] || continue
      for c in "$d/nvidia/cu13/bin/cuobjdump" "$d/bin/cuobjdump"; do
        [ -x "$c" ] && { cuobjdump=$c; break; }
      done
    done
    if [ -z "$cuobjdump" ]; then
      echo "check-kernel-resources: sass: skipped: no cuobjdump (scripts/install-deps.sh --sass installs pip's nvidia-cuda-cuobjdump wheel)"
      exit 77
    fi
    compile "$src" "$obj" > "$work/nvcc.txt" 2>&1 || { cat "$work/nvcc.txt"; exit 1; }
    "$cuobjdump" --dump-sass "$obj" > "$work/sass.txt"
    python3 "$root/scripts/kernel_resources.py" sass "$src" < "$work/sass.txt"
    ;;
  *)
    echo "check-kernel-resources: unknown step '$mode' (expected ptxas or sass)" >&2
    exit 2
    ;;
esac
