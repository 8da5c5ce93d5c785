"""Reference data for tests/test_unet_ddpm_parity.cpp (run with /usr/bin/python3).

Builds tests/reference/unet_ddpm_twin.py's UNetDdpmTwin in three tiny
configurations (base 8, GroupNorm(4, .), time embedding 32, channel_mult 1,2,
attention at the second level (attention_resolutions 16: 8x8 maps at the
16x16 input), 4 channels per head):
  unet_ddpm_ref.safetensors        unconditional, num_res_blocks 2
  unet_ddpm_class_ref.safetensors  class-conditional (3 classes; labels
                                   [2, 3]: class 2 and "no class"),
                                   num_res_blocks 1
  unet_ddpm_xattn_ref.safetensors  the class one with cross-attention to 2
                                   class tokens (labels [1, 3])
with torch's default init under a fixed seed, draws x [2, 1, 16, 16],
t = [10, 900] and an MSE target, and runs forward + backward of
mse_loss(model(x, t, labels), target) in float64 (weights and inputs cast up
exactly from float32). Each file (safetensors, written with struct + json)
holds, in this order:
  every weight by state_dict name (F32: the float32 model; the float64 run
  used these values exactly), input.x, input.t, input.target (F32),
  output.f64, loss.f64 and grad.<name> for every parameter (F64);
  metadata: the UNetConfig keys (UNetConfig::to_map's form), labels ("2,3"
  or absent), seed, torch version.
The float32 parity test compares the engine's float32 run with these float64
results; the script prints how far torch's own float32 run is from them
(the scale of float32 rounding at this depth). Only float64 results are
stored, which keeps the three files at about 2 MB together.

Usage: make_unet_ddpm_reference.py [FILE ...] writes only the named files
(all three without arguments); the others stay as they are.
"""
import copy
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_unet_reference import write_safetensors  # noqa: E402
from unet_ddpm_twin import UNetDdpmTwin  # noqa: E402

BASE = dict(in_channels=1, base_channels=8, time_embed_dim=32, groups=4, num_classes=0, cond_channels=0,
            channel_mult=(1, 2), num_res_blocks=2, attention_resolutions=(16,), head_channels=4)
VARIANTS = [
    ("unet_ddpm_ref.safetensors", dict(BASE), None, 20240801),
    ("unet_ddpm_class_ref.safetensors", dict(BASE, num_classes=3, num_res_blocks=1), [2, 3], 20240802),
    ("unet_ddpm_xattn_ref.safetensors", dict(BASE, num_classes=3, num_res_blocks=1, cross_attention_tokens=2),
     [1, 3], 20240803),
]
DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data")


def config_map(c):
    """UNetConfig::to_map() of this configuration."""
    m = {k: str(c[k]) for k in ("in_channels", "base_channels", "time_embed_dim", "groups")}
    m["time_embedding"] = "sinusoidal"
    if c["num_classes"]:
        m["num_classes"] = str(c["num_classes"])
    if c["cond_channels"]:
        m["cond_channels"] = str(c["cond_channels"])
    m["arch"] = "ddpm"
    m["channel_mult"] = ",".join(str(v) for v in c["channel_mult"])
    m["num_res_blocks"] = str(c["num_res_blocks"])
    m["attention_resolutions"] = ",".join(str(v) for v in c["attention_resolutions"])
    m["head_channels"] = str(c["head_channels"])
    m["dropout"] = "0"
    if c.get("cross_attention_tokens", 0):
        m["cross_attention_tokens"] = str(c["cross_attention_tokens"])
    return m


def run(model, x, t, labels, target):
    model.zero_grad()
    out = model(x, t, labels)
    loss = F.mse_loss(out, target)
    loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters()}
    return out.detach(), loss.detach().reshape([]), grads


def main():
    wanted = sys.argv[1:]
    unknown = set(wanted) - {v[0] for v in VARIANTS}
    if unknown:
        sys.exit(f"unknown file(s): {', '.join(sorted(unknown))}")
    for file, cfg, labels, seed in VARIANTS:
        if wanted and file not in wanted:
            continue
        torch.manual_seed(seed)
        model32 = UNetDdpmTwin(**cfg)
        x = torch.randn(2, cfg["in_channels"], 16, 16)
        t = torch.tensor([10.0, 900.0])
        target = torch.randn(2, cfg["in_channels"], 16, 16)
        lab = torch.tensor(labels) if labels is not None else None

        model64 = copy.deepcopy(model32).double()
        out64, loss64, grads64 = run(model64, x.double(), t.double(), lab, target.double())
        out32, loss32, grads32 = run(model32, x, t, lab, target)

        tensors = {n: p for n, p in model32.state_dict().items()}
        tensors.update({"input.x": x, "input.t": t, "input.target": target, "output.f64": out64,
                        "loss.f64": loss64})
        tensors.update({f"grad.{n}": g for n, g in grads64.items()})
        meta = config_map(cfg)
        if labels is not None:
            meta["labels"] = ",".join(str(v) for v in labels)
        meta.update(seed=seed, torch=torch.__version__, script="tests/reference/make_unet_ddpm_reference.py")
        write_safetensors(os.path.join(DATA, file), tensors, meta)

        def err(a, b):
            return ((a.double() - b).norm() / b.norm()).item()

        worst = max((err(grads32[n], g), n) for n, g in grads64.items() if not n.endswith("to_k.bias"))
        print(f"{file}: {sum(p.numel() for p in model32.parameters())} parameters, loss f64 "
              f"{loss64.item():.17g}; torch f32 vs f64: output {err(out32, out64):.2e}, worst gradient "
              f"{worst[0]:.2e} ({worst[1]})")


if __name__ == "__main__":
    main()
