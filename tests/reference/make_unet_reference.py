"""Reference data for tests/test_unet_parity.cpp (run with /usr/bin/python3).

Builds tests/reference/unet_twin.py's UNetTwin (in_channels 1, base 8,
time_embed_dim 32, linear time embedding, GroupNorm(8, .)) with torch's
default init under a fixed seed, draws x [4, 1, 32, 32], t = [0, 250, 500, 999]
and an MSE target, and runs forward + backward of mse_loss(model(x, t), target)
twice: in float64 (weights and inputs cast up exactly from float32) and in
float32. Writes four safetensors files (8-byte little-endian header length,
JSON header, raw little-endian data; written here with struct + json only):

  tests/data/unet_ref_inputs.safetensors     F32: every weight by state_dict name,
                                             input.x, input.t, input.target;
                                             metadata: the UNetConfig keys
  tests/data/unet_ref_outputs.safetensors    output.f64, loss.f64 (F64),
                                             output.f32, loss.f32 (F32)
  tests/data/unet_ref_grads_f64.safetensors  grad.<name> for every parameter, F64
  tests/data/unet_ref_grads_f32.safetensors  grad.<name> for every parameter, F32

The split keeps each file under 1 MiB (129,601 parameters; 2.1 MB in all).
"""
import copy
import json
import os
import struct
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from unet_twin import UNetTwin  # noqa: E402

CONFIG = dict(in_channels=1, base_channels=8, time_embed_dim=32, time_embedding="linear", groups=8)
SEED = 20240607
DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data")


def write_safetensors(path, tensors, metadata=None):
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    for name, t in tensors.items():
        t = t.detach().contiguous().cpu()
        dtype = {torch.float32: "F32", torch.float64: "F64"}[t.dtype]
        raw = t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def run(model, x, t, target):
    model.zero_grad()
    out = model(x, t)
    loss = F.mse_loss(out, target)
    loss.backward()
    grads = {f"grad.{n}": p.grad.detach().clone() for n, p in model.named_parameters()}
    return out.detach(), loss.detach().reshape([]), grads


def main():
    torch.manual_seed(SEED)
    model32 = UNetTwin(**CONFIG)
    x = torch.randn(4, CONFIG["in_channels"], 32, 32)
    t = torch.tensor([0.0, 250.0, 500.0, 999.0])
    target = torch.randn(4, CONFIG["in_channels"], 32, 32)

    model64 = copy.deepcopy(model32).double()
    out64, loss64, grads64 = run(model64, x.double(), t.double(), target.double())
    out32, loss32, grads32 = run(model32, x, t, target)

    inputs = {n: p for n, p in model32.state_dict().items()}
    inputs.update({"input.x": x, "input.t": t, "input.target": target})
    meta = dict(CONFIG, seed=SEED, torch=torch.__version__, script="tests/reference/make_unet_reference.py")
    write_safetensors(os.path.join(DATA, "unet_ref_inputs.safetensors"), inputs, meta)
    write_safetensors(os.path.join(DATA, "unet_ref_outputs.safetensors"),
                      {"output.f64": out64, "loss.f64": loss64, "output.f32": out32, "loss.f32": loss32})
    write_safetensors(os.path.join(DATA, "unet_ref_grads_f64.safetensors"), grads64)
    write_safetensors(os.path.join(DATA, "unet_ref_grads_f32.safetensors"), grads32)

    worst = max(((g32.double() - grads64[n]).norm() / grads64[n].norm()).item()
                for n, g32 in grads32.items())
    print(f"loss f64 {loss64.item():.17g} f32 {loss32.item():.9g}; "
          f"torch f32 vs f64 worst normalised gradient error {worst:.3g}")
    for n, g in grads64.items():
        print(f"  {n:28s} |g| {g.norm().item():.3e}  f32-vs-f64 {((grads32[n].double() - g).norm() / g.norm()).item():.2e}")


if __name__ == "__main__":
    main()
