#!/usr/bin/env bash
# The GPU machine's whole check in one command (docs/gpu.md): build Release
# for sm_90, run the GPU (and CPU) tests, a short GPU training run and
# sampling, compute-sanitizer memcheck over the GPU tests and racecheck over
# the parity test, and the GPU benchmarks when benchmarks/gpu-bench.sh exists
# (in that order: the quick checks first, in case the budget runs out).
#
# For a machine with nvcc, CMake, ninja, compute-sanitizer and PyTorch but no
# network and no apt: the header-only dependencies (and zlib's header, and a
# little Fashion-MNIST) come in .deps/ of the checkout (scripts/pack-deps.sh
# here, carry: [".deps"] there). When .deps/prebuilt/ holds the programs
# built here from the same sources (scripts/pack-binaries.sh; checked by
# scripts/source-hash.sh, and every library they link must be found), the
# check runs those and builds nothing: the build's minutes stay for the GPU
# work. Then the CPU tests (which CI runs anyway) are skipped.
#
# Every step logs to its own file and has a time cap; a failing step does
# not stop the others (a step that needs the build is skipped when the build
# failed). The whole run stays within GPU_CHECK_BUDGET_S seconds (default 560,
# under the device tool's 600 s per command): a step gets at most what is
# left, and is skipped when too little is. The end prints a summary table
# and packs everything into OUTDIR/gpu-check.tar.gz, so that OUTDIR holds
# three files: env.txt, summary.txt and the archive (logs/, run/, bench/).
# Exit status: 0 when every step passed, 1 otherwise.
#
# Usage: scripts/gpu-check.sh OUTDIR
#   GPU_CHECK_BUILD     build directory (default: build-gpu in the checkout)
#   GPU_CHECK_BUDGET_S  total seconds (default 560)
#   GPU_CHECK_TRAIN_STEPS  steps of the smoke run (default 200)
#   GPU_CHECK_SKIP      steps not to run, e.g. "memcheck racecheck" (they are
#                       reported as skipped, not failed)
#   GPU_CHECK_CAP_<step>  a step's cap in seconds instead of its default
#                       (GPU_CHECK_CAP_memcheck=120; '-' in a name is '_')
#   GPU_CHECK_NO_PREBUILT=1  build even when .deps/prebuilt/ matches
set -uo pipefail
if [ $# -ne 1 ]; then
  echo "usage: scripts/gpu-check.sh OUTDIR" >&2
  exit 2
fi
cd "$(dirname "$0")/.."
root=$PWD
mkdir -p "$1"
out=$(cd "$1" && pwd)
logs=$out/logs
mkdir -p "$logs"
build=${GPU_CHECK_BUILD:-$root/build-gpu}
budget=${GPU_CHECK_BUDGET_S:-560}
train_steps=${GPU_CHECK_TRAIN_STEPS:-200}
skip_steps=${GPU_CHECK_SKIP:-}
jobs=$(nproc 2>/dev/null || echo 8)
export PATH="$PATH:/usr/local/cuda/bin"
t0=$(date +%s)

names=()
results=()
seconds=()
failed=0

# step NAME CAP COMMAND: runs COMMAND (a bash string) with its output in
# logs/NAME.log, for at most CAP seconds and what the budget leaves.
step() {
  local name=$1 cap=$2 cmd=$3
  local override="GPU_CHECK_CAP_${name//-/_}"
  [ -n "${!override:-}" ] && cap=${!override}
  if [[ " $skip_steps " == *" $name "* ]]; then
    skip "$name" "GPU_CHECK_SKIP" ok
    return
  fi
  local left=$((budget - ($(date +%s) - t0) - 15))
  local limit=$((cap < left ? cap : left))
  local start status rc
  start=$(date +%s)
  if [ "$limit" -lt 10 ]; then
    status="SKIP (time budget spent)"
    echo "skipped: the time budget is spent" >"$logs/$name.log"
  else
    echo "gpu-check: $name (at most ${limit}s)"
    export STEP_LIMIT=$limit  # for commands with a budget of their own
    timeout --kill-after=10 "$limit" bash -c "$cmd" >"$logs/$name.log" 2>&1
    rc=$?
    case $rc in
      0) status=PASS ;;
      124 | 137) status="TIMEOUT after ${limit}s" ;;
      *) status="FAIL (exit $rc)" ;;
    esac
  fi
  [[ $status == PASS ]] || failed=1
  names+=("$name")
  results+=("$status")
  seconds+=("$(($(date +%s) - start))")
}

skip() {
  names+=("$1")
  results+=("SKIP ($2)")
  seconds+=(0)
  echo "skipped: $2" >"$logs/$1.log"
  [[ $3 == ok ]] || failed=1
}

export root build out logs jobs train_steps

# ---- the machine ----
step env 60 '
  {
    echo "== date"; date -u
    echo "== nvidia-smi"; nvidia-smi
    echo "== GPU and driver"; nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv
    echo "== nvcc"; nvcc --version
    echo "== compute-sanitizer"; compute-sanitizer --version | head -n 3
    echo "== cmake / ninja / compiler"; cmake --version | head -n 1; ninja --version; c++ --version | head -n 1
    echo "== zlib (header from the system or .deps)"; ls -l /usr/include/zlib.h "$root/.deps/include/zlib.h" /usr/lib/x86_64-linux-gnu/libz.so* 2>&1
    echo "== PyTorch"; python3 -c "import torch; print(torch.__version__, \"CUDA\", torch.version.cuda)" 2>&1
    echo "== CPU"; nproc; free -g | head -n 2
  } >"$out/env.txt" 2>&1
  cat "$out/env.txt"
  nvidia-smi -L'

# ---- the libraries the programs load ----
# The CUDA toolkit's first; PyTorch's wheels (cuDNN for ddpm-bench, which the
# machine may have only there; cuBLAS) after it.
wheel_libs=$(python3 -c '
import importlib
for m in ("nvidia.cudnn", "nvidia.cublas", "nvidia.cu13", "nvidia.cuda_runtime"):
    try:
        for p in importlib.import_module(m).__path__: print(p + "/lib")
    except Exception: pass' 2>/dev/null | tr '\n' ':')
export LD_LIBRARY_PATH="/usr/local/cuda/lib64:${wheel_libs}${LD_LIBRARY_PATH:-}"
export LD_LIBRARY_PATH=${LD_LIBRARY_PATH%:}

# ---- prebuilt programs, or the build ----
prebuilt=$root/.deps/prebuilt
use_prebuilt=0
if [ -f "$prebuilt/SOURCES.sha256" ] && [ "${GPU_CHECK_NO_PREBUILT:-0}" != 1 ]; then
  failed_before=$failed
  # Passes when the carried programs were built from these very sources and
  # every library they need is found; otherwise the build below runs.
  step prebuilt 60 '
    want=$(cat "$root/.deps/prebuilt/SOURCES.sha256"); have=$("$root/scripts/source-hash.sh")
    echo "sources: carried binaries $want, checkout $have"
    [ "$want" = "$have" ] || { echo "the binaries were built from other sources: building instead"; exit 1; }
    echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
    missing=0
    for b in tests/gpu/ddpm_gpu_tests tools/ddpm-train tools/ddpm-sample benchmarks/ddpm-bench benchmarks/ddpm-bench-e2e; do
      f="$root/.deps/prebuilt/$b"
      [ -x "$f" ] || { echo "$b: missing"; missing=1; continue; }
      echo "== ldd $b"; ldd "$f"
      ldd "$f" | grep -q "not found" && { echo "$b: a library is not found"; missing=1; }
    done
    exit $missing'
  if [ "${results[-1]}" = PASS ]; then
    use_prebuilt=1
    build=$prebuilt
  else
    # A failed match is not a failed check: the build below decides.
    results[-1]="SKIP (not usable: built instead)"
    failed=$failed_before
  fi
fi

# ---- build ----
if [ $use_prebuilt = 1 ]; then
  skip configure "prebuilt binaries of these sources" ok
  skip build "prebuilt binaries of these sources" ok
elif [ -d "$root/.deps/include" ]; then
  step configure 120 'cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 \
      -DDDPM_DEPS_DIR="$root/.deps" -DDDPM_WERROR=OFF'
else
  skip configure "no .deps/include: run scripts/pack-deps.sh and carry .deps" fail
fi
# Warnings do not stop the build here (another compiler may warn about new
# things); the summary counts them.
[ $use_prebuilt = 1 ] || step build 420 'cmake --build "$build" -j "$jobs"'
built=0
[ -x "$build/tests/gpu/ddpm_gpu_tests" ] && [ -x "$build/tools/ddpm-train" ] && built=1
warnings=$(grep -c "warning:" "$logs/build.log" 2>/dev/null || true)
[ $use_prebuilt = 1 ] && warnings="none here (prebuilt by scripts/pack-binaries.sh with -Werror)"

# ---- tests ----
if [ $built = 1 ]; then
  step gpu-tests 240 '"$build/tests/gpu/ddpm_gpu_tests" --no-intro'
  if [ $use_prebuilt = 1 ]; then
    skip cpu-tests "prebuilt mode builds no CPU tests; CI runs them" ok
  else
    step cpu-tests 180 'ctest --test-dir "$build" -E "^gpu(-allocator|-nccl)?$" -j "$jobs" --output-on-failure'
  fi
else
  for s in gpu-tests cpu-tests; do skip "$s" "the build failed" fail; done
fi

# ---- GPU smoke run: train, then sample ----
if [ $built = 1 ]; then
  step train 180 '
    data="$root/.deps/data/fashion-mnist"
    [ -d "$data" ] || data=fashion-mnist
    rm -rf "$out/run"
    "$build/tools/ddpm-train" --device cuda --data "$data" --out "$out/run" --steps "$train_steps" \
        --batch-size 64 --base-channels 16 --time-embed-dim 32 --sample-every 100 --sample-steps 20 \
        --sample-num 16 --checkpoint-every 100 --seed 1 || exit 1
    # The loss must be finite and fall: mean of the last 20 steps below the first 20.
    awk -F, "NR > 1 { n++; v[n] = \$2 } END {
      if (n < 40) { print \"too few rows in loss.csv: \" n; exit 1 }
      for (i = 1; i <= 20; i++) { a += v[i]; b += v[n - 20 + i] }
      printf \"mean loss, first 20 steps %.4f, last 20 steps %.4f\\n\", a / 20, b / 20
      if (!(b < a)) exit 1 }" "$out/run/loss.csv"'
  if [ -f "$out/run/model.safetensors" ]; then
    step sample 90 '
      "$build/tools/ddpm-sample" --device cuda --model "$out/run/model.safetensors" --num 16 --steps 50 --seed 1 \
          --out "$out/run/sample_grid.png" --progression "$out/run/sample_progression.png" &&
      test -s "$out/run/sample_grid.png"'
  else
    skip sample "the training run wrote no model" fail
  fi
else
  skip train "the build failed" fail
  skip sample "the build failed" fail
fi

# ---- compute-sanitizer (after the smoke run: slow, and the budget may cut it) ----
if [ $built = 1 ]; then
  # Direct allocation: every buffer its own cudaMalloc, so memcheck knows
  # each buffer's exact bounds (the caching allocator would hide overruns).
  # DDPM_PARITY_SMALL=1: the dense parity cases at their small shapes only
  # (small_only() in tests/ops/common.cpp; conv2d, group_norm), which keeps the sanitizers within budget.
  # DDPM_AUTOTUNE=0: conv2d's automatic runs its default variant untimed (the
  # parity cases force every variant anyway), so no timing runs under them.
  step memcheck 300 'DDPM_AUTOTUNE=0 DDPM_PARITY_SMALL=1 DDPM_CUDA_DIRECT_ALLOC=1 compute-sanitizer --tool memcheck --error-exitcode 99 --print-limit 100 \
      "$build/tests/gpu/ddpm_gpu_tests" --no-intro --test-case-exclude="gpu-nccl:*"'
  # (NCCL is left out of memcheck: its own kernels and proxy threads are not
  # ours to check, and the smoke run above already ran its one-rank case.)
  # Shared-memory kernels (conv2d, group_norm, the reductions) are what
  # racecheck is for; the parity test runs every one of them.
  step racecheck 240 'DDPM_AUTOTUNE=0 DDPM_PARITY_SMALL=1 compute-sanitizer --tool racecheck --error-exitcode 99 --print-limit 100 \
      "$build/tests/gpu/ddpm_gpu_tests" --no-intro "--test-case=gpu: CUDA results match*"'
else
  for s in memcheck racecheck; do skip "$s" "the build failed" fail; done
fi

# ---- benchmarks ----
if [ -f "$root/benchmarks/gpu-bench.sh" ]; then
  if [ $built = 1 ]; then
    # gpu-bench.sh keeps to its own budget (BUDGET_S): a little under ours.
    step bench 600 'BUILD_DIR="$build" BUDGET_S=$((STEP_LIMIT - 20)) bash "$root/benchmarks/gpu-bench.sh" "$out/bench"'
  else
    skip bench "the build failed" fail
  fi
else
  skip bench "no benchmarks/gpu-bench.sh" ok
fi

# ---- summary and archive ----
{
  printf "gpu-check: %s, %s s of a %s s budget\n" "$(date -u +%Y-%m-%dT%H:%MZ)" "$(($(date +%s) - t0))" "$budget"
  printf "GPU: %s\n" "$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -n 1)"
  printf "build warnings: %s\n\n" "${warnings:-?}"
  printf "%-12s %-40s %s\n" step status seconds
  printf "%-12s %-40s %s\n" ------------ ---------------------------------------- -------
  for i in "${!names[@]}"; do printf "%-12s %-40s %s\n" "${names[$i]}" "${results[$i]}" "${seconds[$i]}"; done
  # The tail of the GPU test log: doctest's totals and any failure.
  if [ -f "$logs/gpu-tests.log" ]; then
    echo
    echo "== gpu-tests (last lines)"
    tail -n 8 "$logs/gpu-tests.log"
  fi
} >"$out/summary.txt"
cp "$out/summary.txt" "$logs/summary.txt"

# Logs beyond 4 MB (a sanitizer gone wild) keep their first and last MB.
for f in "$logs"/*.log; do
  if [ -f "$f" ] && [ "$(stat -c %s "$f")" -gt 4194304 ]; then
    { head -c 1048576 "$f"; printf "\n... [cut by gpu-check.sh] ...\n"; tail -c 1048576 "$f"; } >"$f.cut" && mv "$f.cut" "$f"
  fi
done
parts=(logs)
[ -d "$out/run" ] && parts+=(run)
[ -d "$out/bench" ] && parts+=(bench)
cp "$out/env.txt" "$logs/env.txt" 2>/dev/null
tar -czf "$out/gpu-check.tar.gz" -C "$out" --exclude='*.safetensors' "${parts[@]}" && rm -rf "${parts[@]/#/$out/}"

cat "$out/summary.txt"
exit $failed
