"""Reference data for tests/test_eval_metrics.cpp: Fréchet distance,
Inception score and improved precision/recall computed with PyTorch and
numpy in float64, by routes independent of eval/:

- FD: mean and covariance with torch.cov (N - 1), and tr((S_a S_b)^{1/2}) as
  the sum of the square roots of the eigenvalues of the non-symmetric S_a S_b
  (torch.linalg.eigvals, complex; they are real and >= 0 in exact arithmetic),
  not eval/'s symmetric S_a^{1/2} S_b S_a^{1/2}.
- IS: the usual split loop (numpy), std with ddof = 0.
- precision/recall (k = 3): brute force, the full distance matrices from
  torch.cdist, the k-th smallest distance to another sample of the same set
  as radius, "inside" meaning distance <= radius.

Run from the repository root with Debian's torch:

    /usr/bin/python3 tests/reference/make_eval_reference.py

which writes tests/data/eval_reference.json.
"""
import json
import os

import numpy as np
import torch

GEN = torch.Generator().manual_seed(20261204)
K_NN = 3


def randn(*shape):
    return torch.randn(*shape, generator=GEN, dtype=torch.float64)


def matrix_json(t):
    return {"shape": list(t.shape), "data": [float(v) for v in t.reshape(-1).tolist()]}


def frechet(a, b):
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = torch.cov(a.T), torch.cov(b.T)
    eig = torch.linalg.eigvals(s_a @ s_b)
    tr_sqrt = torch.sqrt(eig).real.sum()
    return float(((mu_a - mu_b) ** 2).sum() + torch.trace(s_a) + torch.trace(s_b) - 2 * tr_sqrt)


def inception_score(p, splits):
    p = p.numpy()
    n = p.shape[0]
    scores = []
    for s in range(splits):
        part = p[s * n // splits:(s + 1) * n // splits]
        py = part.mean(0, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            kl = np.where(part > 0, part * (np.log(part) - np.log(py)), 0.0)
        scores.append(np.exp(kl.sum(1).mean()))
    return float(np.mean(scores)), float(np.std(scores))


def radii(x, k):
    d = torch.cdist(x, x)
    d.fill_diagonal_(float("inf"))
    return d.sort(1).values[:, k - 1]


def coverage(queries, ref, ref_radii):
    d = torch.cdist(queries, ref)
    return float((d <= ref_radii[None, :]).any(1).double().mean())


def precision_recall(real, gen, k):
    return coverage(gen, real, radii(real, k)), coverage(real, gen, radii(gen, k))


def main():
    out = {}
    # FD: two correlated Gaussian clouds of different means and covariances.
    d = 16
    a = randn(300, d) @ (randn(d, d) * 0.3 + torch.eye(d))
    b = randn(250, d) @ (randn(d, d) * 0.5 + 0.8 * torch.eye(d)) + 0.4 * randn(d)
    out["frechet"] = {"a": matrix_json(a), "b": matrix_json(b), "fd": frechet(a, b), "fd_aa": frechet(a, a)}

    # IS: softmax of scaled logits, N = 120, K = 10.
    probs = torch.softmax(randn(120, 10) * 2.5, dim=1)
    is1, std1 = inception_score(probs, 1)
    is5, std5 = inception_score(probs, 5)
    out["inception"] = {"probs": matrix_json(probs), "splits1": [is1, std1], "splits5": [is5, std5]}

    # precision/recall: overlapping clouds of different spread.
    real = randn(150, 8)
    gen = randn(130, 8) * 1.3 + 0.5
    p, r = precision_recall(real, gen, K_NN)
    out["precision_recall"] = {"k": K_NN, "real": matrix_json(real), "generated": matrix_json(gen),
                               "precision": p, "recall": r}

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "eval_reference.json")
    with open(path, "w") as f:
        json.dump(out, f)
        f.write("\n")
    print(f"wrote {os.path.normpath(path)}: fd {out['frechet']['fd']:.6f}, is {is1:.4f} / {is5:.4f} +- {std5:.4f}, "
          f"precision {p:.4f}, recall {r:.4f}")


if __name__ == "__main__":
    main()
