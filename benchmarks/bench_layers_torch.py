"""PyTorch twin of `ddpm-bench --device cpu --op group_norm_silu` (the
group_norm(8)+silu lines of benchmarks/kernel_bench/cpu.cpp): GroupNorm(8, C) +
SiLU forward and backward, float32, CPU, batch 32, median of iters after 2
warm-ups. Usage: /usr/bin/python3 benchmarks/bench_layers_torch.py [iters] [threads]
(ours, same rules: ddpm-bench --device cpu --op group_norm_silu --repeats 20 --warmup 2)"""
import sys
import time

import torch
import torch.nn.functional as F

iters = int(sys.argv[1]) if len(sys.argv) > 1 else 20
torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 2)
for shape in [(32, 64, 32, 32), (32, 512, 4, 4)]:
    x = torch.randn(shape, requires_grad=True)
    w = torch.randn(shape[1], requires_grad=True)
    b = torch.randn(shape[1], requires_grad=True)
    g = torch.randn(shape)
    fwd, total = [], []
    for i in range(iters + 2):
        x.grad = w.grad = b.grad = None
        t0 = time.perf_counter()
        y = F.silu(F.group_norm(x, 8, w, b))
        t1 = time.perf_counter()
        y.backward(g)
        t2 = time.perf_counter()
        if i >= 2:
            fwd.append((t1 - t0) * 1e3)
            total.append((t2 - t0) * 1e3)
    fwd.sort()
    total.sort()
    print(f"torch {torch.__version__} group_norm(8)+silu f32 {list(shape)} threads {torch.get_num_threads()}"
          f"  fwd {fwd[len(fwd) // 2]:7.2f} ms  fwd+bwd {total[len(total) // 2]:7.2f} ms (median of {iters})")
