"""PyTorch twin of ddpm-bench-cpu: one UNet training step on the CPU.

Times forward + MSE loss + backward of tests/reference/unet_twin.py's UNetTwin
at the same shapes (base 64, 1x32x32, batch 32, time_embed 256, float32) with
torch.set_num_threads(--threads, default 2): one warm-up step, then the
median of --iters steps. Run with /usr/bin/python3 (Debian's python3-torch).
The last line is machine-readable: "RESULT ms_per_step=<ms> images_per_s=<n>".
"""
import argparse
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "reference"))
from unet_twin import UNetTwin  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--base", type=int, default=64)
    ap.add_argument("--channels", type=int, default=1)
    ap.add_argument("--time-embed", type=int, default=256)
    ap.add_argument("--time-embedding", default="linear", choices=["linear", "sinusoidal"])
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = UNetTwin(a.channels, a.base, a.time_embed, a.time_embedding)
    x = torch.randn(a.batch, a.channels, a.size, a.size)
    target = torch.randn(a.batch, a.channels, a.size, a.size)
    t = torch.randint(0, 1000, (a.batch,)).float()
    nparams = sum(p.numel() for p in model.parameters())
    print(f"unet_torch_cpu: UNet train step (fwd + bwd, MSE), f32, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    print(f"shapes: batch {a.batch}, {a.channels}x{a.size}x{a.size}, base {a.base}, "
          f"time_embed {a.time_embed} ({a.time_embedding}), {nparams} parameters")

    def step():
        model.zero_grad(set_to_none=True)
        loss = F.mse_loss(model(x, t), target)
        loss.backward()
        return loss.item()

    s = time.perf_counter()
    loss = step()
    print(f"warm-up: {(time.perf_counter() - s) * 1e3:.1f} ms (loss {loss:.6f})")
    ms = []
    for i in range(a.iters):
        s = time.perf_counter()
        step()
        ms.append((time.perf_counter() - s) * 1e3)
        print(f"step {i + 1}: {ms[-1]:.1f} ms")
    med = statistics.median(ms)
    ips = a.batch * 1000.0 / med
    print(f"median of {a.iters}: {med:.1f} ms/step, {ips:.1f} images/s")
    print(f"RESULT ms_per_step={med:.3f} images_per_s={ips:.3f}")


if __name__ == "__main__":
    main()
