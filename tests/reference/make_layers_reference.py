"""Reference values for tests/test_forward_layers.cpp, made with PyTorch.

Run with Debian's python3-torch:  /usr/bin/python3 tests/reference/make_layers_reference.py
Writes tests/data/layers_reference.json. Everything is float64. Each case
stores its seeded inputs, the op's parameters, an upstream gradient, the
output and the gradient of every input (as PyTorch computes them), so the C++
test needs no random generator of its own.
"""
import json
import os

import torch
import torch.nn.functional as F

torch.manual_seed(20240607)
DT = torch.float64


def randn(*shape, scale=1.0, shift=0.0):
    return torch.randn(*shape, dtype=DT) * scale + shift


def tensor_json(t):
    return {"shape": list(t.shape), "data": t.detach().reshape(-1).tolist()}


def make_case(op, label, inputs, fn, params):
    leaves = [x.clone().requires_grad_(True) for x in inputs]
    y = fn(*leaves)
    g = torch.randn(y.shape, dtype=DT)
    y.backward(g)
    return {
        "op": op,
        "label": label,
        "params": params,
        "inputs": [tensor_json(x) for x in inputs],
        "grad_out": tensor_json(g),
        "output": tensor_json(y),
        "grads": [tensor_json(x.grad) for x in leaves],
    }


cases = []

# silu: a spread of values plus the tails, where a naive sigmoid overflows.
x = randn(2, 3, 4, 5, scale=4.0)
x.view(-1)[:8] = torch.tensor([-100.0, -50.0, -20.0, -1e-3, 0.0, 20.0, 50.0, 100.0], dtype=DT)
cases.append(make_case("silu", "[2,3,4,5] with tails", [x], F.silu, {}))

# group_norm: non-zero means (the variance must be centred), affine and not,
# G = 1, the UNet's G = 8, an [N, C] input. (Not groups of 2 elements: there
# xhat is always +-1, so the true gx is ~0 and any relative error is noise.)
for label, shape, groups, affine in [
    ("[2,6,3,5] G=3 affine", (2, 6, 3, 5), 3, True),
    ("[2,4,3,5] G=1 no affine", (2, 4, 3, 5), 1, False),
    ("[3,12] G=3 affine", (3, 12), 3, True),
    ("[2,16,4,4] G=8 affine", (2, 16, 4, 4), 8, True),
]:
    c = shape[1]
    ins = [randn(*shape, scale=2.0, shift=3.0)]
    if affine:
        ins += [randn(c, scale=0.5, shift=1.0), randn(c)]
        fn = lambda x, w, b, G=groups: F.group_norm(x, G, w, b, eps=1e-5)
    else:
        fn = lambda x, G=groups: F.group_norm(x, G, None, None, eps=1e-5)
    cases.append(make_case("group_norm", label, ins, fn, {"groups": groups, "eps": 1e-5}))

for label, shape, k in [("[2,3,5,7] k=2", (2, 3, 5, 7), 2), ("[1,2,6,6] k=3", (1, 2, 6, 6), 3)]:
    cases.append(make_case("max_pool2d", label, [randn(*shape)],
                           lambda x, k=k: F.max_pool2d(x, k), {"kernel": k}))

for label, shape, s in [("[2,3,3,4] x2", (2, 3, 3, 4), 2), ("[1,2,1,1] x2", (1, 2, 1, 1), 2),
                        ("[1,1,4,5] x3", (1, 1, 4, 5), 3)]:
    fn = lambda x, s=s: F.interpolate(x, scale_factor=s, mode="bilinear", align_corners=True)
    cases.append(make_case("upsample_bilinear2d", label, [randn(*shape)], fn, {"scale": s}))

for label, shapes, dim in [
    ("dim 1, three inputs", [(2, 2, 3, 3), (2, 3, 3, 3), (2, 1, 3, 3)], 1),
    ("dim 0", [(1, 3, 4), (2, 3, 4)], 0),
    ("dim -1", [(2, 3, 2), (2, 3, 4)], -1),
]:
    cases.append(make_case("concat", label, [randn(*s) for s in shapes],
                           lambda *xs, d=dim: torch.cat(xs, dim=d), {"dim": dim}))

cases.append(make_case("mse_loss", "[2,3,4,5]", [randn(2, 3, 4, 5), randn(2, 3, 4, 5)],
                       F.mse_loss, {}))

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "layers_reference.json")
with open(out, "w") as f:
    json.dump({"generator": "tests/reference/make_layers_reference.py",
               "torch": torch.__version__, "cases": cases}, f)
print(f"wrote {len(cases)} cases to {os.path.normpath(out)}")
