#!/usr/bin/env bash
# Where the GPU time of our training step and sampling goes, kernel by kernel:
# Nsight Compute (ncu) times every kernel launch of
#   train   ddpm-bench-e2e --what train, batch 128: one warm-up and one timed step
#   sample  ddpm-bench-e2e --what sample, DDIM 5 steps, batch 256 (a 2-step
#           warm-up chain and one 5-step chain)
# with one metric (gpu__time_duration.sum) and the clocks left as they are
# (--clock-control none), then sums the times by kernel name.
#
#   benchmarks/gpu-profile.sh OUTDIR
#
# Leaves OUTDIR/profile-train.csv, profile-sample.csv (ncu's raw rows),
# profile-detail.txt (ncu's sections for two conv2d forward launches) and
# profile.txt (per kernel: launches, total ms, share of the run's kernel
# time; the largest first). ncu serialises the launches and adds its own
# time between them, so the sums say where the kernel time goes, not how
# long a step takes (ddpm-bench-e2e says that).
# Environment: BUILD_DIR (build-gpu; programs under benchmarks/), NCU (ncu).
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
[[ $# -ge 1 ]] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
mkdir -p "$1"
out="$(cd "$1" && pwd)"
build="${BUILD_DIR:-$root/build-gpu}"
ncu="${NCU:-ncu}"
command -v "$ncu" >/dev/null || ncu=$(ls /usr/local/cuda/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -n 1)
[[ -n "$ncu" ]] || { echo "gpu-profile: no ncu found" >&2; exit 1; }
bench="$build/benchmarks/ddpm-bench-e2e"
[[ -x "$bench" ]] || { echo "gpu-profile: no $bench" >&2; exit 1; }

rc=0
profile() {
  local name=$1
  shift
  echo "== $name: $*"
  "$ncu" --csv --print-units base --clock-control none --metrics gpu__time_duration.sum \
    --log-file "$out/profile-$name.csv" "$bench" "$@" || rc=1
}
profile train --device cuda --what train --iters 1 --warmup 1
profile sample --device cuda --what sample --sampler ddim --steps 5 --repeats 1
# The why of the largest kernel: ncu's speed-of-light, occupancy, warp-state
# and workload sections for the 2nd and 3rd conv2d forward launches of a
# training step (64->64 at 32x32 and 64->128 at 16x16, batch 128).
echo "== detail: conv2d_fwd_kernel launches 2 and 3 of a training step"
"$ncu" --clock-control none --kernel-name regex:conv2d_fwd_kernel --launch-skip 1 --launch-count 2 \
  --section SpeedOfLight --section Occupancy --section LaunchStats --section WarpStateStats \
  --section ComputeWorkloadAnalysis --section MemoryWorkloadAnalysis \
  "$bench" --device cuda --what train --iters 1 --warmup 0 >"$out/profile-detail.txt" 2>&1 || rc=1

python3 - "$out" <<'PY' | tee "$out/profile.txt"
import csv, collections, sys, os
out = sys.argv[1]
for name in ("train", "sample"):
    path = os.path.join(out, f"profile-{name}.csv")
    if not os.path.exists(path):
        print(f"{name}: no profile"); continue
    lines = [l for l in open(path) if l.startswith('"')]
    rows = list(csv.DictReader(lines))
    t = collections.defaultdict(float); n = collections.Counter()
    for r in rows:
        if r.get("Metric Name") != "gpu__time_duration.sum": continue
        v = float(r["Metric Value"].replace(",", ""))
        scale = {"nsecond": 1e-6, "ns": 1e-6, "usecond": 1e-3, "us": 1e-3, "msecond": 1.0, "ms": 1.0}.get(r.get("Metric Unit", "nsecond"), 1e-6)
        k = r["Kernel Name"]
        t[k] += v * scale; n[k] += 1
    total = sum(t.values())
    print(f"== {name}: {sum(n.values())} launches, {total:.3f} ms of kernel time")
    print(f"{'ms':>9} {'share':>6} {'launches':>8}  kernel")
    for k, v in sorted(t.items(), key=lambda kv: -kv[1])[:30]:
        print(f"{v:9.3f} {100 * v / total if total else 0:5.1f}% {n[k]:8d}  {k[:150]}")
PY
exit $rc
