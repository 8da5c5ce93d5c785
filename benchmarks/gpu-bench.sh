#!/usr/bin/env bash
# The GPU benchmark suite, for one short run on the lent H100/H200:
#   kernels  ddpm-bench --precision fp32,tf32,bf16: every CUDA kernel at the UNet's shapes against
#            cuDNN / the unfused sequence / the copy-bandwidth roofline
#   train    training images/s (batch 128): ours, PyTorch eager, torch.compile
#   sample   sampling images/s (batch 256): DDIM 50 and DDPM 1000 steps,
#            ours, PyTorch eager, torch.compile (DDIM and DDPM in one torch
#            process, so the model compiles once)
# all FP32 with TF32 off (the kernels part adds TF32 rows when ours has a
# TF32 mode), on the same GPU in the same run.
#
#   benchmarks/gpu-bench.sh OUTDIR
#
# Leaves three files in OUTDIR: kernels.json, e2e_gpu.json, gpu-bench.log
# (everything printed, with nvidia-smi, versions and the build). Then, on any
# machine: python3 benchmarks/report.py OUTDIR/kernels.json OUTDIR/e2e_gpu.json
#
# Builds ddpm-bench and ddpm-bench-e2e into BUILD_DIR (configuring it if
# needed: Release, sm_90, header-only deps from .deps/). cuDNN is looked for
# in the system and the CUDA toolkit, then in PyTorch's nvidia-cudnn wheel.
#
# Environment (defaults): BUILD_DIR (build-gpu), PYTHON (python3),
# PARTS ("kernels train sample"), BUDGET_S (570: seconds for the whole
# script, build included; each part gets at most what is left and a part cut
# short is recorded as such), REPEATS (20), BATCHES (1,16,128), TF32 (1),
# BF16 (1: the convolutions' BF16 rows too),
# TRAIN_ITERS (20), SAMPLE_BATCH (256), DDIM_STEPS (50), DDPM_STEPS (1000),
# MODES ("ours eager compile"), E2E_PRECISION (fp32: the end-to-end runs'
# precisions, e.g. fp32,tf32,bf16; ours and the twin at each, the twin with
# TF32 allowed or under bf16 autocast).
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
[[ $# -ge 1 ]] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
out="$1"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
build="${BUILD_DIR:-$root/build-gpu}"
py="${PYTHON:-python3}"
parts="${PARTS:-kernels train sample}"
budget="${BUDGET_S:-570}"
repeats="${REPEATS:-20}"
batches="${BATCHES:-1,16,128}"
tf32="${TF32:-1}"
bf16="${BF16:-1}"
train_iters="${TRAIN_ITERS:-20}"
sample_batch="${SAMPLE_BATCH:-256}"
ddim_steps="${DDIM_STEPS:-50}"
ddpm_steps="${DDPM_STEPS:-1000}"
modes="${MODES:-ours eager compile}"
e2e_precisions="${E2E_PRECISION:-fp32}"
start=$SECONDS
exec > >(tee -a "$out/gpu-bench.log") 2>&1

left() { echo $((budget - (SECONDS - start))); }
# limited SECONDS COMMAND...: runs COMMAND for at most SECONDS and what is
# left of the budget; 124 when it was cut short or not started.
limited() {
  local lim="$1" rem
  shift
  rem="$(left)"
  if ((rem < 15)); then
    echo "gpu-bench: budget spent, skipping: $*"
    return 124
  fi
  ((lim > rem)) && lim="$rem"
  timeout --signal=TERM --kill-after=15 "$lim" "$@"
}
has() { [[ " $parts " == *" $1 "* ]]; }
mode_on() { [[ " $modes " == *" $1 "* ]]; }

echo "== gpu-bench $(date -u +%FT%TZ) in $root"
nvidia-smi || echo "gpu-bench: nvidia-smi failed"
smi_note="$(nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,clocks.mem,clocks.max.mem,power.limit,temperature.gpu --format=csv 2>/dev/null | tr '\n' ';')"
echo "nvidia-smi: $smi_note"
"$py" -c 'import torch, sys; print("python", sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version(), "gpu", torch.cuda.is_available())' \
  || echo "gpu-bench: PyTorch not importable with $py: the torch runs will fail"
command -v nvcc >/dev/null && nvcc --version | tail -2

# Build.
cudnn_args=()
system_cudnn=""
for h in /usr/include/cudnn.h /usr/include/x86_64-linux-gnu/cudnn.h /usr/local/cuda/include/cudnn.h \
  /usr/local/include/cudnn.h; do
  [[ -f "$h" ]] && system_cudnn="$h"
done
if [[ -n "$system_cudnn" ]]; then
  echo "gpu-bench: cuDNN headers $system_cudnn"
else
  cudnn_root="$("$py" -c 'import nvidia.cudnn as m; print(list(m.__path__)[0])' 2>/dev/null || true)"
  if [[ -n "$cudnn_root" && -f "$cudnn_root/include/cudnn.h" ]]; then
    echo "gpu-bench: cuDNN from PyTorch's wheel: $cudnn_root"
    cudnn_args=(-DDDPM_CUDNN_ROOT="$cudnn_root")
    export LD_LIBRARY_PATH="$cudnn_root/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  else
    echo "gpu-bench: no cuDNN headers found; ddpm-bench builds without the cuDNN references"
  fi
fi
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
if [[ -f "$build/SOURCES.sha256" && ! -f "$build/CMakeCache.txt" ]]; then
  # Programs built elsewhere (scripts/pack-binaries.sh), which
  # scripts/gpu-check.sh has matched against these sources: nothing to build.
  echo "gpu-bench: prebuilt programs in $build (sources $(cat "$build/SOURCES.sha256"))"
  for b in ddpm-bench ddpm-bench-e2e; do
    [[ -x "$build/benchmarks/$b" ]] || { echo "gpu-bench: $build/benchmarks/$b is missing"; exit 1; }
  done
else
  if [[ ! -f "$build/CMakeCache.txt" ]]; then
    cmake -S "$root" -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 \
      -DDDPM_WITH_CUDA=ON -DBUILD_TESTING=OFF "${cudnn_args[@]}" || { echo "gpu-bench: configure failed"; exit 1; }
  elif [[ ${#cudnn_args[@]} -gt 0 ]]; then
    cmake "$build" "${cudnn_args[@]}" >/dev/null
  fi
  cmake --build "$build" --target ddpm-bench ddpm-bench-e2e -j "$(nproc)" || { echo "gpu-bench: build failed"; exit 1; }
  echo "gpu-bench: built in $((SECONDS - start)) s; $(left) s of the budget left"
fi

# Kernels.
if has kernels; then
  echo "== kernels"
  precision=fp32
  [[ "$tf32" == 1 ]] && precision+=,tf32
  [[ "$bf16" == 1 ]] && precision+=,bf16
  limited 330 "$build/benchmarks/ddpm-bench" --json "$out/kernels.json" --repeats "$repeats" --batch "$batches" \
    --precision "$precision" --note "$smi_note"
  rc=$?
  ((rc == 124 || rc == 137)) && echo "gpu-bench: ddpm-bench cut short (kernels.json holds the groups it finished)"
fi

# End to end.
runs="$(mktemp -d)"
n=0
# e2e NAME IMPL WHAT LIMIT COMMAND...: one run into its own JSON; a run that
# leaves no JSON (killed, crashed) is recorded as an error.
e2e() {
  local name="$1" impl="$2" what="$3" lim="$4"
  shift 4
  n=$((n + 1))
  local f="$runs/$(printf %02d $n)-$name.json"
  echo "== $name ($(left) s left)"
  limited "$lim" "$@" --json "$f"
  local rc=$?
  if [[ ! -s "$f" ]]; then
    printf '{"benchmark": "e2e", "impl": "%s", "device": "cuda", "what": "%s", "batch": 0, "error": "%s"}\n' \
      "$impl" "$what" "$name: no result, exit status $rc (124/137: cut short by the time budget)" >"$f"
  fi
}
ours="$build/benchmarks/ddpm-bench-e2e"
torch_py="$here/torch_e2e.py"
for prec in ${e2e_precisions//,/ }; do
  # fp32 runs keep their names and pass no flag (a build of older sources
  # may predate --precision); the others are named and run at their precision.
  sfx="" pf=()
  [[ "$prec" != fp32 ]] && sfx="-$prec" pf=(--precision "$prec")
  if has train; then
    mode_on ours && e2e "train-ours$sfx" ours train 120 "$ours" --device cuda --what train --iters "$train_iters" \
      "${pf[@]}"
    mode_on eager && e2e "train-eager$sfx" torch_eager train 150 "$py" "$torch_py" --device cuda --what train \
      --iters "$train_iters" "${pf[@]}"
    mode_on compile && e2e "train-compile$sfx" torch_compile train 300 "$py" "$torch_py" --device cuda \
      --what train --mode compile --iters "$train_iters" --warmup 8 "${pf[@]}"
  fi
  if has sample; then
    mode_on ours && e2e "ddim-ours$sfx" ours sample 120 "$ours" --device cuda --what sample --sampler ddim \
      --steps "$ddim_steps" --batch "$sample_batch" "${pf[@]}"
    mode_on ours && e2e "ddpm-ours$sfx" ours sample 240 "$ours" --device cuda --what sample --sampler ddpm \
      --steps "$ddpm_steps" --batch "$sample_batch" "${pf[@]}"
    mode_on eager && e2e "sample-eager$sfx" torch_eager sample 300 "$py" "$torch_py" --device cuda --what sample \
      --sampler ddim,ddpm --steps "$ddim_steps,$ddpm_steps" --batch "$sample_batch" "${pf[@]}"
    mode_on compile && e2e "sample-compile$sfx" torch_compile sample 360 "$py" "$torch_py" --device cuda \
      --what sample --mode compile --sampler ddim,ddpm --steps "$ddim_steps,$ddpm_steps" --batch "$sample_batch" \
      "${pf[@]}"
  fi
done
if ((n > 0)); then
  "$py" - "$out/e2e_gpu.json" "$smi_note" "$runs"/*.json <<'PY'
import json, sys
path, note, *files = sys.argv[1:]
runs = []
for f in files:
    j = json.load(open(f))
    runs += j["runs"] if j.get("benchmark") == "e2e-suite" else [j]
json.dump({"benchmark": "e2e-suite", "device": "cuda", "nvidia_smi": note, "runs": runs}, open(path, "w"), indent=1)
PY
  echo "wrote $out/e2e_gpu.json"
fi
rm -rf "$runs"
echo "gpu-bench: done in $((SECONDS - start)) s; files in $out:"
ls -la "$out"
