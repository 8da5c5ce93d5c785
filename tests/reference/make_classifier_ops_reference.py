"""Reference values for tests/test_classifier_ops.cpp, made with PyTorch.

Run with Debian's python3-torch:
  /usr/bin/python3 tests/reference/make_classifier_ops_reference.py
Writes tests/data/classifier_ops_reference.json. Everything is float64. Each
case stores its seeded inputs (labels as whole numbers in float64, as the
engine takes them), an upstream gradient, the output and the gradient of the
first input as PyTorch computes them (cross_entropy: F.cross_entropy with
mean reduction; global_avg_pool2d: mean over H, W; softmax / log_softmax
over dim 1, forward only).
"""
import json
import os

import torch
import torch.nn.functional as F

torch.manual_seed(20260301)
DT = torch.float64


def tensor_json(t):
    return {"shape": list(t.shape), "data": t.detach().reshape(-1).tolist()}


def case(op, label, inputs, fn, differentiable=True):
    x = inputs[0].clone().requires_grad_(differentiable)
    y = fn(x, *inputs[1:])
    out = {"op": op, "label": label, "inputs": [tensor_json(t) for t in inputs], "output": tensor_json(y)}
    if differentiable:
        g = torch.randn(y.shape, dtype=DT)
        y.backward(g)
        out["grad_out"] = tensor_json(g)
        out["grad"] = tensor_json(x.grad)
    return out


def ce(z, y):
    return F.cross_entropy(z, y.long())


def labels(n, k):
    return torch.randint(0, k, (n,)).to(DT)


cases = []
for label, (n, k), scale, shift in [
    ("[4,10]", (4, 10), 3.0, 0.0),
    ("[5,7] odd", (5, 7), 1.0, 0.0),
    ("[3,1] K=1", (3, 1), 1.0, 0.0),
    ("[6,10] logits ~ 1e4 spread", (6, 10), 1e4, 0.0),
    ("[4,5] logits 1e4 + small", (4, 5), 1.0, 1e4),
]:
    z = torch.randn(n, k, dtype=DT) * scale + shift
    cases.append(case("cross_entropy", label, [z, labels(n, k)], ce))
for label, shape in [("[2,3,5,7]", (2, 3, 5, 7)), ("[1,4,1,1]", (1, 4, 1, 1)), ("[3,2,4,4]", (3, 2, 4, 4))]:
    cases.append(case("global_avg_pool2d", label, [torch.randn(*shape, dtype=DT)], lambda x: x.mean(dim=(2, 3))))
for label, (n, k), scale in [("[4,10]", (4, 10), 3.0), ("[3,1] K=1", (3, 1), 1.0), ("[5,10] ~ 1e4", (5, 10), 1e4)]:
    z = torch.randn(n, k, dtype=DT) * scale
    cases.append(case("softmax", label, [z], lambda x: F.softmax(x, dim=1), differentiable=False))
    cases.append(case("log_softmax", label, [z], lambda x: F.log_softmax(x, dim=1), differentiable=False))

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "classifier_ops_reference.json")
with open(path, "w") as f:
    json.dump({"cases": cases}, f, indent=None)
    f.write("\n")
print("wrote", os.path.normpath(path), len(cases), "cases")
