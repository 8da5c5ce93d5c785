"""PyTorch CPU twin of `ddpm-bench --device cpu --op attention`
(benchmarks/kernel_bench/cpu.cpp): scaled dot-product attention at the bench
shapes of tests/ops/attention.cpp, float32, torch.set_num_threads(2).

torch 1.13 (Debian's python3-torch) has no
torch.nn.functional.scaled_dot_product_attention, so this times the math it
would do, as diffusers' Attention runs it on the CPU: s = baddbmm(q^T k,
alpha=scale, beta=0), p = softmax(s, -1), o = bmm(v, p^T), in the engine's
layout (q [B, D, Lq], k [B, D, Lk], v [B, D, Lk] -> o [B, D, Lq]; the
transposes are strided views that MKL's GEMM takes without a copy):
  fwd      the three ops (no autograd graph)
  bwd      torch.autograd.grad of o from a forward built once (retain_graph):
           PyTorch's own backward kernels alone
  fwd_bwd  forward with the graph, then the backward
Same timing rules as ddpm-bench's CPU defaults: one warm-up, then 7 calls;
the median and best wall time, the best process CPU time.

    OMP_NUM_THREADS=2 OMP_WAIT_POLICY=passive /usr/bin/python3 benchmarks/attention_torch.py [--batch 32] [torch.json]
    ddpm-bench --device cpu --op attention --torch torch.json

(benchmarks/attention-cpu.sh interleaves the two over several rounds.)
"""
import argparse
import json
import math
import statistics
import time

import torch

# (label, heads, head dim D = E, Lq, Lk): the bench shapes of
# tests/ops/attention.cpp, same labels (ddpm-bench --torch matches them).
SHAPES = [
    ("self 16x16 4hx32", 4, 32, 256, 256),
    ("self 16x16 2hx64", 2, 64, 256, 256),
    ("self 8x8 8hx32", 8, 32, 64, 64),
    ("self 8x8 4hx64", 4, 64, 64, 64),
    ("cross 16x16>8 4hx32", 4, 32, 256, 8),
    ("cross 8x8>4 4hx64", 4, 64, 64, 4),
]


def timed(fn, warmup, reps):
    for _ in range(warmup):
        fn()
    wall, cpu = [], 1e30
    for _ in range(reps):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu = min(cpu, time.process_time() - c0)
    return 1e3 * statistics.median(wall), 1e3 * min(wall), 1e3 * cpu


def attention(q, k, v, scale):
    s = torch.baddbmm(torch.empty(q.shape[0], q.shape[2], k.shape[2]), q.transpose(1, 2), k, beta=0, alpha=scale)
    p = torch.softmax(s, dim=-1)
    return torch.bmm(v, p.transpose(1, 2))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("json", nargs="?", help="write the results here")
    ap.add_argument("--batch", type=int, default=32, help="images; B = batch * heads (default 32)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--warmup", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rows = []
    for label, heads, d, lq, lk in SHAPES:
        b, scale = args.batch * heads, 1.0 / math.sqrt(d)
        q = torch.randn(b, d, lq, requires_grad=True)
        k = torch.randn(b, d, lk, requires_grad=True)
        v = torch.randn(b, d, lk, requires_grad=True)
        go = torch.randn(b, d, lq)
        with torch.no_grad():
            fwd = timed(lambda: attention(q, k, v, scale), args.warmup, args.repeats)
        o = attention(q, k, v, scale)
        bwd = timed(lambda: torch.autograd.grad(o, (q, k, v), go, retain_graph=True), args.warmup, args.repeats)
        del o
        fwd_bwd = timed(lambda: torch.autograd.grad(attention(q, k, v, scale), (q, k, v), go), args.warmup,
                        args.repeats)
        flops = 2.0 * b * lq * lk * 2 * d  # as ddpm-bench's attention_flops: fwd x1, bwd x2
        row = {"shape": label, "batch": args.batch, "B": b, "D": d, "Lq": lq, "Lk": lk}
        line = f"{label:20s} B {b:4d}"
        for name, (med, best, cpu), f in (("fwd", fwd, flops), ("bwd", bwd, 2 * flops),
                                          ("fwd_bwd", fwd_bwd, 3 * flops)):
            row.update({name + "_ms": med, name + "_best_ms": best, name + "_cpu_ms": cpu})
            line += f"  {name} {med:8.3f} ms {f / med / 1e6:6.1f} GF/s"
        rows.append(row)
        print(line, flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"op": "attention", "torch": torch.__version__, "threads": args.threads, "dtype": "float32",
                       "batch": args.batch, "repeats": args.repeats, "warmup": args.warmup,
                       "statistic": "median", "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
