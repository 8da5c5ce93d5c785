#!/usr/bin/env bash
# Runs ddpm-bench-cpu and its PyTorch twin on the same shapes and thread
# count, prints both figures and the ratio (our speed / torch's speed =
# torch ms / our ms; > 1 means we are faster), and writes them as JSON.
#
# usage: benchmarks/run_cpu_bench.sh [BUILD_DIR [JSON_OUT]] [-- extra flags for both programs]
#   BUILD_DIR defaults to build, JSON_OUT to BUILD_DIR/bench/unet_cpu_step.json;
#   THREADS (default 2) and ITERS (default 5) come from the environment.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
pos=()
while [[ $# -gt 0 && "$1" != "--" ]]; do pos+=("$1"); shift; done
[[ $# -gt 0 ]] && shift  # the "--"
build="${pos[0]:-$here/../build}"
json="${pos[1]:-$build/bench/unet_cpu_step.json}"
threads="${THREADS:-2}"
iters="${ITERS:-5}"
bench="$build/benchmarks/ddpm-bench-cpu"
[[ -x "$bench" ]] || { echo "run_cpu_bench.sh: $bench not built (ninja -C $build ddpm-bench-cpu)" >&2; exit 1; }

ours_log="$(mktemp)"; torch_log="$(mktemp)"
trap 'rm -f "$ours_log" "$torch_log"' EXIT
echo "== ours (ddpm-bench-cpu)"
"$bench" --threads "$threads" --iters "$iters" "$@" | tee "$ours_log"
echo "== PyTorch twin (benchmarks/unet_torch_cpu.py)"
/usr/bin/python3 "$here/unet_torch_cpu.py" --threads "$threads" --iters "$iters" "$@" | tee "$torch_log"

field() { sed -n "s/^RESULT .*$2=\([0-9.]*\).*/\1/p" "$1"; }
ours_ms="$(field "$ours_log" ms_per_step)"; ours_ips="$(field "$ours_log" images_per_s)"
torch_ms="$(field "$torch_log" ms_per_step)"; torch_ips="$(field "$torch_log" images_per_s)"
ratio="$(awk -v a="$torch_ms" -v b="$ours_ms" 'BEGIN { printf "%.3f", a / b }')"
machine="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(nproc) cpus"
torch_version="$(/usr/bin/python3 -c 'import torch; print(torch.__version__)')"
shapes="$(sed -n 's/^shapes: //p' "$ours_log")"

echo "== UNet train step, CPU, f32, $threads threads ($shapes)"
printf "ours : %10.1f ms/step  %8.1f images/s\n" "$ours_ms" "$ours_ips"
printf "torch: %10.1f ms/step  %8.1f images/s\n" "$torch_ms" "$torch_ips"
echo "ratio (our speed / torch speed): $ratio"

mkdir -p "$(dirname "$json")"
cat > "$json" <<JSON
{
  "benchmark": "unet_train_step_cpu",
  "machine": "$machine",
  "threads": $threads,
  "precision": "f32",
  "shapes": "$shapes",
  "iters": $iters,
  "ours_ms_per_step": $ours_ms,
  "ours_images_per_s": $ours_ips,
  "torch_ms_per_step": $torch_ms,
  "torch_images_per_s": $torch_ips,
  "torch_version": "$torch_version",
  "ratio_ours_speed_over_torch": $ratio
}
JSON
echo "wrote $json"
