#!/usr/bin/env bash
# One proxy trial of the quick-start tuning (docs/evaluation.md, "Tuning the
# quick start"): trains a fresh run for a fixed number of steps with the given
# ddpm-train flags, then scores 1000 DDIM-50 eta-0 samples of it with ddpm-eval
# (seed 0) and prints one line: name, steps, training seconds, FD, IS,
# precision, recall, flags. Pick STEPS so the config trains for the budget you
# compare at (the tuning used ~210 s of a quiet 2-core CPU: measure the
# config's images/s with a short run first). Needs the classifier
# (ddpm-classify train).
# Usage: benchmarks/quickstart-trial.sh NAME STEPS [ddpm-train flags...]
#   BIN (default build/tools) and OUT (default runs/tuning) override the paths.
set -euo pipefail
[ $# -ge 2 ] || { sed -n '2,11p' "$0"; exit 2; }
name=$1
steps=$2
shift 2
bin=${BIN:-build/tools}
root=${OUT:-runs/tuning}
out=$root/$name
mkdir -p "$root"
rm -rf "$out"
t0=$(date +%s)
"$bin/ddpm-train" --out "$out" --steps "$steps" --sample-every 100000000 --checkpoint-every 100000000 "$@" \
  >"$out.train.log" 2>&1
t1=$(date +%s)
"$bin/ddpm-eval" --model "$out/model.safetensors" --num 1000 --json "$out.json" >"$out.eval.log" 2>&1
python3 - "$name" "$out.json" "$*" "$((t1 - t0))" <<'PY'
import json, sys
j = json.load(open(sys.argv[2]))
print(f"{sys.argv[1]:14s} step {j['source']['model_step']:>5s} train {sys.argv[4]:>4s}s  FD {j['fd']:.3f}  "
      f"IS {j['is']:.2f}  P {j['precision']:.3f}  R {j['recall']:.3f}  flags: {sys.argv[3]}", flush=True)
PY
