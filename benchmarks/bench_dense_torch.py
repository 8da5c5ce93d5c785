#!/usr/bin/env python3
"""PyTorch (cuDNN) twin of bench_dense_cuda.cpp: the same conv2d and GroupNorm
shapes and passes, timed the same way (2 untimed calls, then the median of 5
runs of `iters` queued calls each, one synchronize per run), with
cudnn.benchmark on so cuDNN picks its best algorithm. FP32 runs disable TF32
in cuDNN and cuBLAS; TF32 runs allow it.

With --ours FILE (bench-dense-cuda's --json output) it prints, per entry, the
ratio torch_ms / ours_ms (> 1: ours is faster).

Usage: bench_dense_torch.py [--batch N] [--iters N] [--ours FILE] [--json FILE]
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F


def time_ms(fn, iters):
    for _ in range(2):
        fn()
    torch.cuda.synchronize()
    runs = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(iters):
            fn()
        torch.cuda.synchronize()
        runs.append((time.perf_counter() - t0) * 1e3 / iters)
    return statistics.median(runs)


def shape_str(s):
    return "[" + ", ".join(str(v) for v in s) + "]"


def uniform(*shape):
    return torch.rand(*shape, device="cuda") * 2 - 1


def bench_conv(n, cin, cout, hw, k, iters, out):
    pad = k // 2
    x, w, b = uniform(n, cin, hw, hw), uniform(cout, cin, k, k), uniform(cout)
    gy = uniform(n, cout, hw, hw)
    flops = 2.0 * n * cout * hw * hw * cin * k * k
    shape = f"x {shape_str(x.shape)} w {shape_str(w.shape)}"
    bwd = torch.ops.aten.convolution_backward
    for prec in ("fp32", "tf32"):
        torch.backends.cudnn.allow_tf32 = prec == "tf32"
        torch.backends.cuda.matmul.allow_tf32 = prec == "tf32"
        fwd = time_ms(lambda: F.conv2d(x, w, b, padding=pad), iters)
        data = time_ms(lambda: bwd(gy, x, w, [cout], [1, 1], [pad, pad], [1, 1], False, [0, 0], 1,
                                   [True, False, False]), iters)
        weight = time_ms(lambda: bwd(gy, x, w, [cout], [1, 1], [pad, pad], [1, 1], False, [0, 0], 1,
                                     [False, True, True]), iters)
        for name, ms in (("fwd", fwd), ("bwd_data", data), ("bwd_weight", weight)):
            out.append(dict(op="conv2d", pass_=name, shape=shape, precision=prec, ms=ms, rate=flops / ms * 1e-9))


def bench_group_norm(s, iters, out):
    n, c = s[0], s[1]
    hw = s[2] * s[3]
    x, gamma, beta, gy = uniform(*s), uniform(c), uniform(c), uniform(*s)
    _, mean, rstd = torch.ops.aten.native_group_norm(x, gamma, beta, n, c, hw, 8, 1e-5)
    nbytes = x.numel() * 4
    fwd = time_ms(lambda: F.group_norm(x, 8, gamma, beta, 1e-5), iters)
    bwd = time_ms(lambda: torch.ops.aten.native_group_norm_backward(gy, x, mean, rstd, gamma, n, c, hw, 8,
                                                                    [True, True, True]), iters)
    shape = f"x {shape_str(s)}"
    out.append(dict(op="group_norm", pass_="fwd", shape=shape, precision="fp32", ms=fwd, rate=3 * nbytes / fwd * 1e-6))
    out.append(dict(op="group_norm", pass_="bwd", shape=shape, precision="fp32", ms=bwd, rate=5 * nbytes / bwd * 1e-6))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--ours")
    ap.add_argument("--json")
    args = ap.parse_args()
    torch.backends.cudnn.benchmark = True
    n = args.batch
    print(f"bench_dense_torch: {torch.cuda.get_device_name()}, torch {torch.__version__}, "
          f"cuDNN {torch.backends.cudnn.version()}, batch {n}")
    recs = []
    convs = [(1, 64, 32, 3), (64, 64, 32, 3), (64, 128, 16, 3), (128, 128, 16, 3), (128, 256, 8, 3),
             (256, 256, 8, 3), (256, 512, 4, 3), (512, 512, 4, 3), (768, 256, 8, 3), (384, 128, 16, 3),
             (192, 64, 32, 3), (64, 1, 32, 1)]
    for cin, cout, hw, k in convs:
        bench_conv(n, cin, cout, hw, k, args.iters, recs)
    for s in ((n, 64, 32, 32), (n, 128, 16, 16), (n, 256, 8, 8), (n, 512, 4, 4)):
        bench_group_norm(s, args.iters, recs)
    ours = {}
    if args.ours:
        with open(args.ours) as f:
            for r in json.load(f)["results"]:
                ours[(r["op"], r["pass"], r["shape"], r["precision"])] = r["ms"]
    for r in recs:
        unit = "TFLOP/s" if r["op"] == "conv2d" else "GB/s"
        line = f"{r['op']:<10} {r['pass_']:<10} {r['shape']:<42} {r['precision']} {r['ms']:9.4f} ms {r['rate']:9.2f} {unit}"
        key = (r["op"], r["pass_"], r["shape"], r["precision"])
        if key in ours:
            line += f"   ours {ours[key]:9.4f} ms   ratio torch/ours {r['ms'] / ours[key]:5.2f}"
        print(line)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(device=torch.cuda.get_device_name(), batch=n,
                           results=[{("pass" if k == "pass_" else k): v for k, v in r.items()} for r in recs]),
                      f, indent=1)


if __name__ == "__main__":
    main()
