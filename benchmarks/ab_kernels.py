"""Before / after table of two ddpm-bench JSON files (benchmarks/gpu-ab.sh).

    python3 benchmarks/ab_kernels.py kernels-before.json kernels-after.json [--changed 0.05]

Pairs rows by (op, shape, batch, precision) and prints a markdown table:
our time before and after, after/before speed-up (before ms / after ms), and
cuDNN's time over ours after (the bar). With --changed F only rows whose
speed-up is off 1.0 by more than F, plus a summary line over all rows
(geometric means per op and precision).
"""
import argparse
import collections
import json
import math


def rows(path):
    return {(r["op"], r["shape"], r.get("batch"), r.get("precision")): r for r in json.load(open(path))["rows"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("before")
    ap.add_argument("after")
    ap.add_argument("--changed", type=float, default=0.0)
    a = ap.parse_args()
    b, f = rows(a.before), rows(a.after)
    print("| op | shape | batch | prec | before ms | after ms | speed-up | cuDNN / ours after |")
    print("| --- | --- | ---: | --- | ---: | ---: | ---: | ---: |")
    logs = collections.defaultdict(list)
    for key in b:
        if key not in f or not b[key].get("ours_ms") or not f[key].get("ours_ms"):
            continue
        op, shape, batch, prec = key
        up = b[key]["ours_ms"] / f[key]["ours_ms"]
        logs[(op, prec)].append(math.log(up))
        if abs(up - 1) <= a.changed:
            continue
        ref = f[key].get("ratio_ref_over_ours")
        print(f"| {op} | {shape} | {batch} | {prec} | {b[key]['ours_ms']:.4f} | {f[key]['ours_ms']:.4f} | "
              f"{up:.2f}x | {'%.2f' % ref if ref else '-'} |")
    print()
    for (op, prec), v in sorted(logs.items()):
        print(f"- {op} {prec}: geometric-mean speed-up {math.exp(sum(v) / len(v)):.2f}x over {len(v)} cases, "
              f"min {math.exp(min(v)):.2f}x, max {math.exp(max(v)):.2f}x")


if __name__ == "__main__":
    main()
