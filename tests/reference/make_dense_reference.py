"""Reference data for tests/test_forward_dense.cpp: conv2d, matmul and linear
forward and backward values computed by PyTorch in float64.

Inputs and an upstream gradient gy come from a seeded torch generator; the
file stores them with y = f(inputs) and the gradients of sum(y * gy) with
respect to every input. Run from the repository root with Debian's torch:

    /usr/bin/python3 tests/reference/make_dense_reference.py

which writes tests/data/dense_reference.json.
"""
import json
import os

import torch
import torch.nn.functional as F

GEN = torch.Generator().manual_seed(20240611)


def randn(*shape):
    return torch.randn(*shape, generator=GEN, dtype=torch.float64)


def tensor_json(t):
    return {"shape": list(t.shape), "data": [float(v) for v in t.detach().reshape(-1).tolist()]}


def run_case(inputs, fn):
    """inputs: dict name -> tensor. Returns the inputs, gy, y and the gradients."""
    leaves = {k: v.clone().requires_grad_(True) for k, v in inputs.items()}
    y = fn(**leaves)
    gy = randn(*y.shape)
    names = list(leaves)
    grads = torch.autograd.grad(y, [leaves[k] for k in names], gy)
    out = {k: tensor_json(v) for k, v in inputs.items()}
    out["gy"] = tensor_json(gy)
    out["y"] = tensor_json(y)
    for k, g in zip(names, grads):
        out["g" + k] = tensor_json(g)
    return out


def conv_case(label, n, cin, cout, h, w, k, stride, pad, bias):
    inputs = {"x": randn(n, cin, h, w), "w": randn(cout, cin, k, k) * 0.3}
    if bias:
        inputs["b"] = randn(cout)
    case = run_case(inputs, lambda x, w, b=None: F.conv2d(x, w, b, stride, pad))
    case.update({"label": label, "stride": stride, "pad": pad})
    return case


def main():
    conv = [
        conv_case("3x3 pad 1, odd H/W, bias", 2, 3, 4, 5, 7, 3, 1, 1, True),
        conv_case("1x1, bias", 2, 4, 3, 6, 5, 1, 1, 0, True),
        conv_case("3x3 stride 2 pad 1, no bias", 2, 3, 4, 7, 6, 3, 2, 1, False),
        conv_case("5x5 pad 0, bias", 1, 2, 3, 6, 7, 5, 1, 0, True),
        conv_case("2x2 stride 2 pad 0, no bias", 3, 2, 5, 4, 5, 2, 2, 0, False),
        conv_case("3x3 pad 1 at 3x3 (several images per GEMM), bias", 4, 3, 2, 3, 3, 3, 1, 1, True),
    ]
    matmul = [run_case({"a": randn(3, 5), "b": randn(5, 4)}, lambda a, b: a @ b)]
    matmul[0]["label"] = "[3,5] x [5,4]"
    linear = [
        run_case({"x": randn(4, 6), "w": randn(3, 6), "b": randn(3)}, lambda x, w, b: F.linear(x, w, b)),
        run_case({"x": randn(2, 5), "w": randn(4, 5)}, lambda x, w: F.linear(x, w)),
    ]
    linear[0]["label"] = "x[4,6] W[3,6] b[3]"
    linear[1]["label"] = "x[2,5] W[4,5] no bias"
    out = {"torch_version": torch.__version__, "conv2d": conv, "matmul": matmul, "linear": linear}
    path = os.path.join(os.path.dirname(__file__), "..", "data", "dense_reference.json")
    with open(path, "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")
    print("wrote", os.path.normpath(path), os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
