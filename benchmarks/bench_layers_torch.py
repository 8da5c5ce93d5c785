"""PyTorch CPU twin of `ddpm-bench --device cpu` for the layer ops
(benchmarks/kernel_bench/cpu.cpp), float32, median of iters after the warm-ups.

  group_norm_silu  (the default --op) GroupNorm(8, C) + SiLU forward and
                   forward + backward at batch 32, 2 warm-ups: the
                   group_norm(8)+silu lines of `ddpm-bench --op group_norm_silu`.
  bmm              torch.bmm at the attention products of tests/ops/bmm.cpp, in
                   the engine's layout (scores q^T k, output v p^T; the
                   transposes are strided views): forward without a graph,
                   backward alone (torch.autograd.grad of a product built once).
  softmax          torch.softmax(x * scale, -1) at the attention weights of
                   tests/ops/softmax.cpp: forward without a graph, backward
                   alone (softmax's backward and the scale's).
  dropout          torch.nn.functional.dropout(x, p, training=True) at the
                   activation shapes of tests/ops/dropout.cpp, forward.

Usage: /usr/bin/python3 benchmarks/bench_layers_torch.py [iters] [threads]
         [--op group_norm_silu,bmm,softmax,dropout] [--batch 32] [--warmup 2] [--json FILE]
ours, same rules:
  bench_layers_torch.py 20                 ddpm-bench --device cpu --op group_norm_silu --repeats 20 --warmup 2
  OMP_NUM_THREADS=2 bench_layers_torch.py 7 2 --warmup 1 --op bmm,softmax,dropout --json torch.json
                                           ddpm-bench --device cpu --op bmm,softmax,dropout --torch torch.json
(--json writes the bmm, softmax and dropout rows, which ddpm-bench's --torch
matches by op, shape label and batch.)

Debian's PyTorch 1.13 runs bmm on the system BLAS, netlib's reference BLAS
unless another is installed (docs/benchmarks.md, "Attention on the CPU")."""
import argparse
import json
import math
import time

import torch
import torch.nn.functional as F

from attention_torch import timed  # the same timing rule as the attention twin

# The bench shapes of tests/ops/, same labels (ddpm-bench --torch matches them).
# bmm: (label, heads, M, K, N, trans_a, trans_b); a [B, M, K] ([B, K, M] when
# trans_a), b [B, K, N] ([B, N, K] when trans_b), B = batch * heads.
BMM = [
    ("q^T k 16x16 4hx32", 4, 256, 32, 256, True, False),
    ("v p^T 16x16 4hx32", 4, 32, 256, 256, False, True),
    ("q^T k 8x8 8hx32", 8, 64, 32, 64, True, False),
    ("v p^T 8x8 8hx32", 8, 32, 64, 64, False, True),
]
# softmax: (label, heads, head dim D, Lq, Lk); x [B, Lq, Lk], scale 1 / sqrt(D).
SOFTMAX = [("self 16x16 4hx32", 4, 32, 256, 256), ("self 8x8 8hx32", 8, 32, 64, 64)]
# dropout: the UNet's activation shapes (C, H = W); p as ddpm-bench's kBenchDropoutP.
DROPOUT = [("64x32x32", 64, 32), ("128x16x16", 128, 16), ("256x8x8", 256, 8), ("512x4x4", 512, 4)]
DROPOUT_P = 0.1


def group_norm_silu(args):
    for shape in [(args.batch, 64, 32, 32), (args.batch, 512, 4, 4)]:
        x = torch.randn(shape, requires_grad=True)
        w = torch.randn(shape[1], requires_grad=True)
        b = torch.randn(shape[1], requires_grad=True)
        g = torch.randn(shape)
        fwd, total = [], []
        for i in range(args.iters + args.warmup):
            x.grad = w.grad = b.grad = None
            t0 = time.perf_counter()
            y = F.silu(F.group_norm(x, 8, w, b))
            t1 = time.perf_counter()
            y.backward(g)
            t2 = time.perf_counter()
            if i >= args.warmup:
                fwd.append((t1 - t0) * 1e3)
                total.append((t2 - t0) * 1e3)
        fwd.sort()
        total.sort()
        print(f"torch {torch.__version__} group_norm(8)+silu f32 {list(shape)} threads {torch.get_num_threads()}"
              f"  fwd {fwd[len(fwd) // 2]:7.2f} ms  fwd+bwd {total[len(total) // 2]:7.2f} ms (median of {args.iters})",
              flush=True)


def report(rows, op, label, batch, t, perf):
    med, best, cpu = t
    rows.append({"op": op, "shape": label, "batch": batch, "ms": med, "best_ms": best, "cpu_ms": cpu})
    print(f"{op:12s} {label:20s} batch {batch:4d}  {med:9.3f} ms (best {best:9.3f}, cpu {cpu:9.3f})  {perf}",
          flush=True)


def bmm(args, rows):
    for label, heads, m, k, n, ta, tb in BMM:
        nb = args.batch * heads
        a = torch.randn((nb, k, m) if ta else (nb, m, k), requires_grad=True)
        b = torch.randn((nb, n, k) if tb else (nb, k, n), requires_grad=True)
        g = torch.randn(nb, m, n)

        def product():
            return torch.bmm(a.transpose(1, 2) if ta else a, b.transpose(1, 2) if tb else b)

        flops = 2.0 * nb * m * n * k  # as ddpm-bench's bmm_flops: fwd x1, bwd x2
        with torch.no_grad():
            t = timed(product, args.warmup, args.iters)
        report(rows, "bmm_fwd", label, args.batch, t, f"{flops / t[0] / 1e6:6.1f} GF/s")
        c = product()
        t = timed(lambda: torch.autograd.grad(c, (a, b), g, retain_graph=True), args.warmup, args.iters)
        report(rows, "bmm_bwd", label, args.batch, t, f"{2 * flops / t[0] / 1e6:6.1f} GF/s")


def softmax(args, rows):
    for label, heads, d, lq, lk in SOFTMAX:
        nb, scale = args.batch * heads, 1.0 / math.sqrt(d)
        x = (torch.randn(nb, lq, lk) * math.sqrt(d)).requires_grad_()  # the spread of q^T k
        g = torch.randn(nb, lq, lk)
        nbytes = x.numel() * 4
        with torch.no_grad():
            t = timed(lambda: torch.softmax(x * scale, -1), args.warmup, args.iters)
        report(rows, "softmax_fwd", label, args.batch, t, f"{2 * nbytes / t[0] / 1e6:6.1f} GB/s")
        y = torch.softmax(x * scale, -1)
        t = timed(lambda: torch.autograd.grad(y, x, g, retain_graph=True), args.warmup, args.iters)
        report(rows, "softmax_bwd", label, args.batch, t, f"{3 * nbytes / t[0] / 1e6:6.1f} GB/s")


def dropout(args, rows):
    for label, c, hw in DROPOUT:
        x = torch.randn(args.batch, c, hw, hw)
        with torch.no_grad():
            t = timed(lambda: F.dropout(x, DROPOUT_P, training=True), args.warmup, args.iters)
        report(rows, "dropout_fwd", label, args.batch, t, f"{2 * x.numel() * 4 / t[0] / 1e6:6.1f} GB/s")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("iters", type=int, nargs="?", default=20, help="timed calls per case (default 20)")
    ap.add_argument("threads", type=int, nargs="?", default=2, help="torch.set_num_threads (default 2)")
    ap.add_argument("--op", default="group_norm_silu",
                    help="comma-separated: group_norm_silu, bmm, softmax, dropout (default group_norm_silu)")
    ap.add_argument("--batch", type=int, default=32, help="images (default 32); bmm and softmax: B = batch * heads")
    ap.add_argument("--warmup", type=int, default=2, help="untimed calls per case (default 2)")
    ap.add_argument("--json", help="write the bmm, softmax and dropout rows here (ddpm-bench --torch)")
    args = ap.parse_args()
    ops = {"group_norm_silu": None, "bmm": bmm, "softmax": softmax, "dropout": dropout}
    wanted = [o for o in args.op.split(",") if o]
    unknown = [o for o in wanted if o not in ops]
    if unknown or not wanted:
        ap.error(f"--op {args.op!r}: unknown op(s) {unknown}; expected some of {', '.join(ops)}")
    if args.iters < 1 or args.threads < 1 or args.warmup < 0 or args.batch < 1:
        ap.error("iters, threads and --batch must be positive, --warmup not negative")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rows = []
    if any(o != "group_norm_silu" for o in wanted):
        print(f"torch {torch.__version__}, float32, {torch.get_num_threads()} threads, median of {args.iters} after "
              f"{args.warmup} warm-up", flush=True)
    for op in wanted:
        if op == "group_norm_silu":
            group_norm_silu(args)
        else:
            ops[op](args, rows)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"op": "layers", "torch": torch.__version__, "threads": torch.get_num_threads(),
                       "dtype": "float32", "batch": args.batch, "repeats": args.iters, "warmup": args.warmup,
                       "statistic": "median", "dropout_p": DROPOUT_P, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
