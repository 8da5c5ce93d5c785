#!/usr/bin/env bash
# Before / after on one GPU in one run: the same benchmarks with two builds'
# programs, for a change's "before and after measured in the same run".
#
#   benchmarks/gpu-ab.sh BEFORE_DIR AFTER_DIR OUTDIR
#
# BEFORE_DIR and AFTER_DIR each hold benchmarks/ddpm-bench and
# benchmarks/ddpm-bench-e2e (a build folder, or .deps/prebuilt-style copies).
# Runs, alternating before and after so that drift hits both alike:
#   kernels  ddpm-bench --op $AB_OPS (default conv2d) --tf32, each build once
#   train    ddpm-bench-e2e --what train (batch 128), before, after, before, after
#   ddim     DDIM 50 steps, batch 256, before, after
#   ddpm     DDPM 1000 steps, batch 256, before, after (skipped when AB_DDPM=0)
# FP32 (TF32 off) except the kernels' tf32 rows. Leaves OUTDIR/ab.log (all
# output), kernels-before.json, kernels-after.json, and ab.txt: one line per
# e2e run (which build, what, images/s) and each after/before ratio.
set -uo pipefail
[[ $# -eq 3 ]] || { echo "usage: $0 BEFORE_DIR AFTER_DIR OUTDIR" >&2; exit 2; }
before=$1
after=$2
mkdir -p "$3"
out="$(cd "$3" && pwd)"
ops=${AB_OPS:-conv2d}
for d in "$before" "$after"; do
  for b in ddpm-bench ddpm-bench-e2e; do
    [[ -x "$d/benchmarks/$b" ]] || { echo "gpu-ab: $d/benchmarks/$b is missing" >&2; exit 1; }
  done
done
exec > >(tee -a "$out/ab.log") 2>&1
echo "== gpu-ab $(date -u +%FT%TZ): before $before, after $after"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,temperature.gpu --format=csv,noheader
rc=0
"$before/benchmarks/ddpm-bench" --op "$ops" --tf32 --json "$out/kernels-before.json" || rc=1
"$after/benchmarks/ddpm-bench" --op "$ops" --tf32 --json "$out/kernels-after.json" || rc=1
: >"$out/ab.txt"
# e2e NAME WHICH ARGS...: one run; its images/s into ab.txt.
e2e() {
  local name=$1 which=$2 dir
  shift 2
  dir=$before
  [[ $which == after ]] && dir=$after
  echo "== $name ($which)"
  local line
  line=$("$dir/benchmarks/ddpm-bench-e2e" --device cuda "$@" | tee /dev/stderr | grep '^RESULT images_per_s=')
  [[ -n $line ]] || { rc=1; line="RESULT images_per_s=nan"; }
  printf "%-6s %-6s %s\n" "$name" "$which" "${line#RESULT images_per_s=}" >>"$out/ab.txt"
}
for which in before after before after; do e2e train "$which" --what train --iters 20; done
for which in before after; do e2e ddim "$which" --what sample --sampler ddim --steps 50 --batch 256; done
if [[ ${AB_DDPM:-1} == 1 ]]; then
  for which in before after; do e2e ddpm "$which" --what sample --sampler ddpm --steps 1000 --batch 256; done
fi
python3 - "$out/ab.txt" <<'PY' | tee -a "$out/ab.txt"
import collections, statistics, sys
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    name, which, v = line.split()
    runs[(name, which)].append(float(v))
print("after / before (images/s; median of each build's runs):")
for name in dict.fromkeys(n for n, _ in runs):
    b, a = runs[(name, "before")], runs[(name, "after")]
    if b and a:
        print(f"  {name}: before {statistics.median(b):.2f} {b}, after {statistics.median(a):.2f} {a}: "
              f"{statistics.median(a) / statistics.median(b):.3f}x")
PY
exit $rc
