#!/usr/bin/env bash
# Sample quality against sampling steps for the samplers: ddpm-eval scores
# NUM samples (default 1000, seed 0) of MODEL with ddim and dpm++2m at
# 5/10/20/50/100/250/1000 steps (each at its default spacing: leading for
# ddim, trailing for dpm++2m) and ddpm at its 1000 steps with NUM/4 samples
# (it costs as much as all the others together), and writes one CSV row per
# run: sampler,steps,spacing,n,fd,is,precision,recall,seconds (seconds: the
# whole ddpm-eval run, sampling and scoring). Steps above the model's
# training timesteps are skipped. Needs the classifier (ddpm-classify train).
# Usage: benchmarks/quality-vs-steps.sh MODEL [NUM]
#   BIN (default build/tools), OUT (default runs/quality-vs-steps.csv) and
#   STEPS (default "5 10 20 50 100 250 1000") override; extra ddpm-eval
#   flags go in EVAL_FLAGS (e.g. "--device cpu" or "--guidance 3").
# With matplotlib (scripts/install-deps.sh --bench) it also plots the CSV
# beside it (OUT with .png): benchmarks/plot_quality_vs_steps.py.
set -euo pipefail
[ $# -ge 1 ] || { sed -n '2,15p' "$0"; exit 2; }
model=$1
num=${2:-1000}
bin=${BIN:-build/tools}
out=${OUT:-runs/quality-vs-steps.csv}
steps_list=${STEPS:-5 10 20 50 100 250 1000}
[ -f "$model" ] || { echo "quality-vs-steps: no model file $model" >&2; exit 1; }
mkdir -p "$(dirname "$out")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
timesteps=$(python3 - "$model" <<'PY'
import json, struct, sys
with open(sys.argv[1], "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    meta = json.loads(f.read(n)).get("__metadata__", {})
print(int(meta.get("timesteps", 1000)))  # docs/formats.md: the model's metadata
PY
)
echo "sampler,steps,spacing,n,fd,is,precision,recall,seconds" >"$out"
run() {  # sampler steps num
  local json="$work/$1-$2.json"
  echo "quality-vs-steps: $1 $2 steps, $3 images" >&2
  # shellcheck disable=SC2086
  "$bin/ddpm-eval" --model "$model" --sampler "$1" --steps "$2" --num "$3" --json "$json" ${EVAL_FLAGS:-} \
    >"$work/$1-$2.log" 2>&1 || { cat "$work/$1-$2.log" >&2; exit 1; }
  python3 - "$json" >>"$out" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
s = j["source"]
print(f"{s['sampler']},{s['steps']},{s['spacing']},{j['n']},{j['fd']:.4f},{j['is']:.4f},"
      f"{j['precision']:.4f},{j['recall']:.4f},{j['seconds']:.1f}")
PY
  tail -n 1 "$out" >&2
}
for sampler in ddim dpm++2m; do
  for s in $steps_list; do
    [ "$s" -le "$timesteps" ] && run "$sampler" "$s" "$num"
  done
done
run ddpm "$timesteps" $(( num / 4 > 2 ? num / 4 : 2 ))
echo "wrote $out" >&2
if /usr/bin/python3 -c "import matplotlib" 2>/dev/null; then
  /usr/bin/python3 "$(dirname "$0")/plot_quality_vs_steps.py" "$out" "${out%.csv}.png" "$model, $num samples per point"
fi
