#!/usr/bin/env bash
# The CPU end-to-end suite: training and sampling images/s of the seed UNet,
# ours (ddpm-bench-e2e) against the PyTorch twin (torch_e2e.py, Debian's
# /usr/bin/python3), same shapes, same thread count, same precision (FP32 unless
# PRECISION says bf16). torch.compile is
# attempted and recorded as skipped where it does not exist (torch 1.13).
#
#   benchmarks/cpu-bench.sh [BUILD_DIR [OUTDIR]]
#     BUILD_DIR defaults to build, OUTDIR to BUILD_DIR/bench-cpu.
#   Environment: THREADS (2), ROUNDS (2: every measurement is repeated and
#   report.py takes the median over rounds), TRAIN_ITERS (3), TRAIN_BATCH
#   (128), SAMPLE_BATCH (16), DDIM_STEPS (50), DDPM_STEPS (100), PYTHON
#   (/usr/bin/python3), BASE (64: UNet base channels), TIME_EMBED (256: time
#   embedding width; ddpm-train's default model is BASE=32 TIME_EMBED=128),
#   PRECISION (fp32, or bf16: ours with BF16 convolutions, the twin under
#   torch.autocast(bfloat16); both keep FP32 weights and optimizer).
#
# Sampling is scaled down from the GPU suite's batch 256 x (DDPM 1000, DDIM
# 50) steps, which would take hours on 2 cores: batch 16, DDIM 50 and DDPM
# 100 steps (strided ancestral chain: every step costs the same as in the
# 1000-step chain). The JSON says so in each run's "note".
#
# Output: OUTDIR/e2e_cpu.json ({"runs": [...]} plus uptime before and after);
# then: /usr/bin/python3 benchmarks/report.py OUTDIR/e2e_cpu.json
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="${1:-$here/../build}"
out="${2:-$build/bench-cpu}"
threads="${THREADS:-2}"
rounds="${ROUNDS:-2}"
train_iters="${TRAIN_ITERS:-3}"
train_batch="${TRAIN_BATCH:-128}"
sample_batch="${SAMPLE_BATCH:-16}"
ddim_steps="${DDIM_STEPS:-50}"
ddpm_steps="${DDPM_STEPS:-100}"
py="${PYTHON:-/usr/bin/python3}"
base="${BASE:-64}"
embed="${TIME_EMBED:-256}"
precision="${PRECISION:-fp32}"
ours="$build/benchmarks/ddpm-bench-e2e"
[[ -x "$ours" ]] || { echo "cpu-bench.sh: $ours not built (ninja -C $build ddpm-bench-e2e)" >&2; exit 1; }
mkdir -p "$out"
runs="$(mktemp -d)"
trap 'rm -rf "$runs"' EXIT
uptime_before="$(uptime)"
echo "cpu-bench: $(nproc) cpus, $threads threads, $rounds rounds, $precision; $uptime_before"

n=0
run() {  # run NAME COMMAND...: one measurement into its own JSON
  local name="$1"; shift
  n=$((n + 1))
  local f="$runs/$(printf %03d $n)-$name.json"
  echo "== $name (load $(cut -d' ' -f1-3 /proc/loadavg))"
  "$@" --json "$f" || echo "cpu-bench: $name failed (recorded in its JSON)"
}

scaled="scaled down for the CPU: batch $sample_batch instead of 256"
for r in $(seq "$rounds"); do
  echo "=== round $r"
  common=(--device cpu --threads "$threads" --base "$base" --time-embed "$embed" --precision "$precision")
  run "train-ours" "$ours" "${common[@]}" --what train --batch "$train_batch" --iters "$train_iters" --warmup 1
  run "train-torch" "$py" "$here/torch_e2e.py" "${common[@]}" --what train --batch "$train_batch" \
    --iters "$train_iters" --warmup 1
  for s in "ddim:$ddim_steps:50" "ddpm:$ddpm_steps:1000"; do
    IFS=: read -r sampler steps full <<<"$s"
    note="$scaled"
    [[ "$steps" != "$full" ]] && note="$note, $steps steps instead of $full"
    run "$sampler-ours" "$ours" "${common[@]}" --what sample --sampler "$sampler" --steps "$steps" \
      --batch "$sample_batch" --note "$note"
    run "$sampler-torch" "$py" "$here/torch_e2e.py" "${common[@]}" --what sample --sampler "$sampler" \
      --steps "$steps" --batch "$sample_batch" --note "$note"
  done
done
run "train-torch-compile" "$py" "$here/torch_e2e.py" --device cpu --threads "$threads" --base "$base" \
  --time-embed "$embed" --what train --precision "$precision" \
  --batch "$train_batch" --mode compile

uptime_after="$(uptime)"
"$py" - "$out/e2e_cpu.json" "$uptime_before" "$uptime_after" "$threads" "$rounds" "$runs"/*.json <<'PY'
import json, sys
path, before, after, threads, rounds, *files = sys.argv[1:]
runs = [json.load(open(f)) for f in files]
json.dump({"benchmark": "e2e-suite", "device": "cpu", "threads": int(threads), "rounds": int(rounds),
           "uptime_before": before.strip(), "uptime_after": after.strip(), "runs": runs},
          open(path, "w"), indent=1)
PY
echo "cpu-bench: $uptime_after"
echo "wrote $out/e2e_cpu.json"
