#!/usr/bin/env python3
"""Reference data for the scheduler and Adam tests, made once with PyTorch.

Run with Debian's interpreter (python3-torch 1.13):
    /usr/bin/python3 tests/reference/make_diffusion_reference.py
Writes tests/data/diffusion_reference.json:
  schedules: the seed document's three beta schedules (its exact torch code,
             in float64) plus the sigmoid schedule, T = 1000: betas and
             alphas_cumprod at a fixed set of indices;
  adam:      torch.optim.Adam / AdamW over 5 steps on fixed parameters and
             gradients, in float64 and float32 (final params and moments).
"""
import json
import math
import os

import torch

OUT = os.path.join(os.path.dirname(__file__), "..", "data", "diffusion_reference.json")
T = 1000
IDX = [0, 1, 2, 10, 99, 250, 500, 750, 998, 999]


def seed_schedules():
    torch.set_default_dtype(torch.float64)
    out = {}
    out["linear"] = torch.linspace(0.0001, 0.02, T)
    steps = T + 1
    t = torch.linspace(0, T, steps)
    ac = torch.cos((t / T + 0.008) / (1 + 0.008) * math.pi / 2) ** 2
    ac = ac / ac[0]
    out["cosine"] = torch.clamp(1 - (ac[1:] / ac[:-1]), 0.0001, 0.9999)
    out["quadratic"] = torch.linspace(0.0001 ** 0.5, 0.02 ** 0.5, T) ** 2
    out["sigmoid"] = torch.sigmoid(torch.linspace(-6, 6, T)) * (0.02 - 0.0001) + 0.0001
    res = {}
    for k, b in out.items():
        acp = torch.cumprod(1.0 - b, dim=0)
        res[k] = {"index": IDX, "betas": [b[i].item() for i in IDX],
                  "alphas_cumprod": [acp[i].item() for i in IDX]}
    torch.set_default_dtype(torch.float32)
    return res


def adam_case(dtype, decoupled):
    g = torch.Generator().manual_seed(1234)
    p0 = torch.randn(37, generator=g, dtype=torch.float64)
    grads = [torch.randn(37, generator=g, dtype=torch.float64) * 0.1 for _ in range(5)]
    p = p0.clone().to(dtype).requires_grad_(True)
    cls = torch.optim.AdamW if decoupled else torch.optim.Adam
    opt = cls([p], lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.05)
    for gr in grads:
        opt.zero_grad()
        p.grad = gr.to(dtype).clone()
        opt.step()
    st = opt.state[p]
    return {"dtype": str(dtype).replace("torch.", ""), "decoupled": decoupled, "lr": 1e-2, "beta1": 0.9,
            "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.05, "param0": p0.tolist(),
            "grads": [x.tolist() for x in grads], "param": p.detach().double().tolist(),
            "exp_avg": st["exp_avg"].double().tolist(), "exp_avg_sq": st["exp_avg_sq"].double().tolist()}


def main():
    data = {"T": T, "schedules": seed_schedules(),
            "adam": [adam_case(dt, dec) for dt in (torch.float64, torch.float32) for dec in (False, True)]}
    with open(OUT, "w") as f:
        json.dump(data, f, indent=1)
    print("wrote", os.path.normpath(OUT))


if __name__ == "__main__":
    main()
