#!/usr/bin/env bash
# CPU attention: ours (`ddpm-bench --device cpu --op attention`: the fused
# kernels and the unfused sequence of our own ops) against the PyTorch twin
# (attention_torch.py, Debian's /usr/bin/python3), interleaved: each round
# runs PyTorch, then ours (the next round the other way round), so both sides
# of a shape are measured within a minute or so of each other; the table
# shows the median over rounds of each side's median-of-7.
#
#   benchmarks/attention-cpu.sh [BUILD_DIR [OUTDIR]]
#     BUILD_DIR defaults to build, OUTDIR to BUILD_DIR/bench-attention.
#   Environment: ROUNDS (3), THREADS (2), BATCH (32), PYTHON
#   (/usr/bin/python3); TORCH_BLAS_DIR: a folder with another libblas.so.3
#   for a second PyTorch column (Debian's torch does its bmm through the
#   system BLAS, netlib's reference BLAS unless another is installed), e.g.
#   OpenBLAS unpacked without installing it:
#     apt-get download libopenblas0-pthread && dpkg -x libopenblas0-pthread_*.deb ob
#     TORCH_BLAS_DIR=$PWD/ob/usr/lib/x86_64-linux-gnu/openblas-pthread benchmarks/attention-cpu.sh build
#   (run with OPENBLAS_NUM_THREADS=1: torch already splits the batch over
#   its threads).
#
# Output: OUTDIR/{ours,torch,torch-blas}-ROUND.json and a markdown table on
# stdout (also OUTDIR/attention_cpu.md).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="${1:-$here/../build}"
out="${2:-$build/bench-attention}"
rounds="${ROUNDS:-3}"
threads="${THREADS:-2}"
batch="${BATCH:-32}"
py="${PYTHON:-/usr/bin/python3}"
blas_dir="${TORCH_BLAS_DIR:-}"
ours="$build/benchmarks/ddpm-bench"
[[ -x "$ours" ]] || { echo "attention-cpu.sh: $ours not built (ninja -C $build ddpm-bench)" >&2; exit 1; }
mkdir -p "$out"
export OMP_NUM_THREADS="$threads" OMP_WAIT_POLICY=passive
echo "attention-cpu: $(nproc) cpus, $threads threads, batch $batch, $rounds rounds; $(uptime)"

torch_runs() {
  echo "== torch, round $1 (load $(cut -d' ' -f1-3 /proc/loadavg))"
  "$py" "$here/attention_torch.py" --batch "$batch" --threads "$threads" "$out/torch-$1.json"
  if [[ -n "$blas_dir" ]]; then
    echo "== torch with $blas_dir/libblas.so.3, round $1"
    LD_LIBRARY_PATH="$blas_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" OPENBLAS_NUM_THREADS=1 \
      "$py" "$here/attention_torch.py" --batch "$batch" --threads "$threads" "$out/torch-blas-$1.json"
  fi
}
ours_run() {
  echo "== ours, round $1 (load $(cut -d' ' -f1-3 /proc/loadavg))"
  local torch=()
  [[ -f "$out/torch-$1.json" ]] && torch=(--torch "$out/torch-$1.json")
  "$ours" --device cpu --op attention --batch "$batch" "${torch[@]}" --json "$out/ours-$1.json"
}
for r in $(seq "$rounds"); do
  rm -f "$out/torch-$r.json" "$out/torch-blas-$r.json" "$out/ours-$r.json"
  if (( r % 2 )); then
    torch_runs "$r"
    ours_run "$r"
  else
    ours_run "$r"
    torch_runs "$r"
  fi
done
echo "attention-cpu: $(uptime)"

"$py" - "$out" "$rounds" "$blas_dir" <<'PY' | tee "$out/attention_cpu.md"
import json, os, statistics, sys
out, rounds, blas_dir = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def load(name, r):
    p = os.path.join(out, f"{name}-{r}.json")
    return json.load(open(p)) if os.path.exists(p) else None
ours = [load("ours", r) for r in range(1, rounds + 1)]
torch = [load("torch", r) for r in range(1, rounds + 1)]
tblas = [load("torch-blas", r) for r in range(1, rounds + 1)] if blas_dir else []
key = {"attention_fwd": "fwd", "attention_bwd": "bwd", "attention_fwd_bwd": "fwd_bwd"}
def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None
def torch_ms(runs, op, shape, batch):
    vals = []
    for t in runs:
        for row in (t or {}).get("rows", []):
            if row["shape"] == shape and row["batch"] == batch:
                vals.append(row[key[op] + "_ms"])
    return med(vals)
m = ours[0]["machine"]
tv = next((t["torch"] for t in torch if t), "?")
print(f"{m['cpu']}, {m['threads']} threads, float32; PyTorch {tv}; median over {rounds} rounds of each "
      f"side's median of 7 (after 1 warm-up); ratios are the other side's time / ours (above 1: we are faster).")
print()
hdr = "| op | shape | B | ours ms | ours GFLOP/s | our unfused ops ms | x | torch ms | x |"
sep = "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
if tblas:
    hdr += " torch + OpenBLAS ms | x |"
    sep += " ---: | ---: |"
print(hdr)
print(sep)
r0 = ours[0]["attention"]
for i, c in enumerate(r0):
    runs = [o["attention"][i] for o in ours if o]
    o = med([x["ours_ms"] for x in runs])
    u = med([x["unfused_ms"] for x in runs])
    t = torch_ms(torch, c["op"], c["shape"], c["batch"])
    f = lambda v: "–" if v is None else f"{v:.2f}"
    x = lambda v: "–" if v is None else f"{v / o:.2f}"
    line = (f"| {c['op'].replace('attention_', '')} | {c['shape']} | {c['B']} | {f(o)} | "
            f"{c['flops'] / (o * 1e6):.1f} | {f(u)} | {x(u)} | {f(t)} | {x(t)} |")
    if tblas:
        tb = torch_ms(tblas, c["op"], c["shape"], c["batch"])
        line += f" {f(tb)} | {x(tb)} |"
    print(line)
PY
