"""PyTorch CPU twin of `ddpm-bench --device cpu --op conv2d`
(benchmarks/kernel_bench/cpu.cpp): conv2d forward, backward-data and
backward-weight (+bias) at the seed UNet's shapes (base 64, batch 32, 1x32x32
input), float32, torch.set_num_threads(2). Same timing rules as ddpm-bench's
CPU defaults (--warmup 1 --repeats 7): one warm-up, then the best wall time and
the best process CPU time of 7 runs. Prints one line per shape and writes
JSON to argv[1] when given (`ddpm-bench --device cpu --op conv2d --torch FILE`
reads it to print ratios).

    OMP_NUM_THREADS=2 OMP_WAIT_POLICY=passive /usr/bin/python3 benchmarks/conv2d_torch.py [torch.json]

(Debian's python3-torch: PyTorch's CPU convolutions run on oneDNN here.)
"""
import json
import sys
import time

import torch

torch.set_num_threads(2)
torch.manual_seed(0)

# (label, Cin, Cout, H, K, pad, count in the UNet); the bench shapes of
# tests/ops/conv2d.cpp, same order and names (ddpm-bench --torch checks the names).
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
REPS = 7
PASSES = ("fwd", "bwd_data", "bwd_weight")


def best_of(fn):
    fn()
    wall, cpu = 1e30, 1e30
    for _ in range(REPS):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        wall = min(wall, time.perf_counter() - t0)
        cpu = min(cpu, time.process_time() - c0)
    return 1e3 * wall, 1e3 * cpu


def main():
    rows = []
    tot_wall = dict.fromkeys(PASSES, 0.0)
    tot_cpu = dict.fromkeys(PASSES, 0.0)
    cb = torch.ops.aten.convolution_backward
    for label, cin, cout, h, k, pad, count in SHAPES:
        x = torch.randn(N, cin, h, h)
        w = torch.randn(cout, cin, k, k) * 0.05
        b = torch.randn(cout)
        y = torch.nn.functional.conv2d(x, w, b, 1, pad)
        gy = torch.randn_like(y)
        flops = 2.0 * N * cout * y.shape[2] * y.shape[3] * cin * k * k
        common = ([cout], [1, 1], [pad, pad], [1, 1], False, [0, 0], 1)
        with torch.no_grad():
            t = {
                "fwd": best_of(lambda: torch.nn.functional.conv2d(x, w, b, 1, pad)),
                "bwd_data": best_of(lambda: cb(gy, x, w, *common, [True, False, False])),
                "bwd_weight": best_of(lambda: cb(gy, x, w, *common, [False, True, True])),
            }
        row = {"shape": label, "count": count, "gflop": flops / 1e9}
        line = f"{label:20s} x{count}"
        for p in PASSES:
            wall, cpu = t[p]
            tot_wall[p] += count * wall
            tot_cpu[p] += count * cpu
            row[p + "_ms"] = wall
            row[p + "_cpu_ms"] = cpu
            line += f"  {p} {wall:6.2f} ms {flops / wall / 1e6:5.1f} GF/s cpu {cpu:6.2f}"
        rows.append(row)
        print(line, flush=True)
    wall, cpu = sum(tot_wall.values()), sum(tot_cpu.values())
    print(f"torch, UNet total (weighted by count): fwd {tot_wall['fwd']:.1f}  bwd-data {tot_wall['bwd_data']:.1f}  "
          f"bwd-weight {tot_wall['bwd_weight']:.1f}  all {wall:.1f} ms wall ({cpu:.1f} ms CPU)")
    if len(sys.argv) > 1:
        with open(sys.argv[1], "w") as f:
            json.dump({"torch": torch.__version__, "threads": 2, "dtype": "float32", "batch": N, "rows": rows,
                       "total_ms": wall, "total_cpu_ms": cpu}, f, indent=1)


if __name__ == "__main__":
    main()
