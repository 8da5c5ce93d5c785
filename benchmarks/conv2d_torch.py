"""PyTorch CPU twin of benchmarks/conv2d_cpu.cpp: conv2d forward, backward-data
and backward-weight (+bias) at the seed UNet's shapes (base 64, batch 32,
1x32x32 input), float32, torch.set_num_threads(2). Prints one line per shape
(ms per pass and GFLOP/s) and writes JSON to argv[1] when given.

Run with Debian's python3-torch: /usr/bin/python3 benchmarks/conv2d_torch.py
"""
import json
import sys
import time

import torch

torch.set_num_threads(2)
torch.manual_seed(0)

# (label, Cin, Cout, H, K, pad, count in the UNet)
SHAPES = [
    ("enc1a 1->64 @32", 1, 64, 32, 3, 1, 1),
    ("64->64 @32", 64, 64, 32, 3, 1, 2),
    ("enc2a 64->128 @16", 64, 128, 16, 3, 1, 1),
    ("128->128 @16", 128, 128, 16, 3, 1, 2),
    ("enc3a 128->256 @8", 128, 256, 8, 3, 1, 1),
    ("256->256 @8", 256, 256, 8, 3, 1, 2),
    ("bota 256->512 @4", 256, 512, 4, 3, 1, 1),
    ("botb 512->512 @4", 512, 512, 4, 3, 1, 1),
    ("dec3a 768->256 @8", 768, 256, 8, 3, 1, 1),
    ("dec2a 384->128 @16", 384, 128, 16, 3, 1, 1),
    ("dec1a 192->64 @32", 192, 64, 32, 3, 1, 1),
    ("final 64->1 1x1 @32", 64, 1, 32, 1, 0, 1),
]
N = 32


def best_ms(fn, reps):
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * min(times)


def main():
    rows = []
    tot = {"fwd": 0.0, "bwd_data": 0.0, "bwd_weight": 0.0}
    for label, cin, cout, h, k, pad, count in SHAPES:
        x = torch.randn(N, cin, h, h)
        w = torch.randn(cout, cin, k, k) * 0.05
        b = torch.randn(cout)
        y = torch.nn.functional.conv2d(x, w, b, 1, pad)
        gy = torch.randn_like(y)
        flops = 2.0 * N * cout * y.shape[2] * y.shape[3] * cin * k * k
        reps = 5
        with torch.no_grad():
            t_f = best_ms(lambda: torch.nn.functional.conv2d(x, w, b, 1, pad), reps)
            cb = torch.ops.aten.convolution_backward
            t_d = best_ms(lambda: cb(gy, x, w, [cout], [1, 1], [pad, pad], [1, 1], False, [0, 0], 1,
                                     [True, False, False]), reps)
            t_w = best_ms(lambda: cb(gy, x, w, [cout], [1, 1], [pad, pad], [1, 1], False, [0, 0], 1,
                                     [False, True, True]), reps)
        for key, t in (("fwd", t_f), ("bwd_data", t_d), ("bwd_weight", t_w)):
            tot[key] += count * t
        rows.append({"shape": label, "count": count, "fwd_ms": t_f, "bwd_data_ms": t_d,
                     "bwd_weight_ms": t_w, "gflop": flops / 1e9})
        print(f"{label:22s} x{count}  fwd {t_f:8.2f} ms ({flops / t_f / 1e6:6.1f} GF/s)  "
              f"bwd-data {t_d:8.2f} ms ({flops / t_d / 1e6:6.1f})  "
              f"bwd-weight {t_w:8.2f} ms ({flops / t_w / 1e6:6.1f})", flush=True)
    total = sum(tot.values())
    print(f"UNet total (weighted by count): fwd {tot['fwd']:.1f} ms, bwd-data {tot['bwd_data']:.1f} ms, "
          f"bwd-weight {tot['bwd_weight']:.1f} ms, all {total:.1f} ms")
    if len(sys.argv) > 1:
        with open(sys.argv[1], "w") as f:
            json.dump({"threads": 2, "dtype": "float32", "batch": N, "rows": rows, "total_ms": total}, f,
                      indent=1)


if __name__ == "__main__":
    main()
