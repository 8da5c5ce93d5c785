// CUDA-vs-CPU parity cases: every op in kernels/ops.h, forward and backward.
//
// A case builds its inputs on the CPU from the Philox generator (so both runs
// see the same numbers), moves them to the device under test, runs the op
// forward and, for differentiable ops, backward against a fixed upstream
// gradient, and returns every result (output, each input gradient, updated
// state) copied back to the CPU under a name. The runner executes the case on
// Device::cpu and Device::cuda in float32 and compares each named result by
// normalised error ||cuda - cpu|| / ||cpu||, against the case's tolerance
// (each with its reason: summation order, TF32, ...).
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "tensor/tensor.h"

namespace ddpm::test {

using NamedResults = std::vector<std::pair<std::string, Tensor>>;

struct ParityCase {
  std::string op;     // name in kernels/ops.h
  std::string label;  // shapes / options
  std::function<NamedResults(Device)> run;
  double tol;
  std::string why;  // one line: where the difference comes from
};

// The cases live with their op in tests/ops/<op>.cpp (tests/ops/op_cases.h:
// hand-written ones, and gradient-check cases run as parity cases);
// tests/gpu/test_parity.cpp runs them, one doctest case per op.

// Inputs for cases: uniform on (lo, hi), made on the CPU then moved
// (tests/ops/harness.cpp).
Tensor parity_input(const Shape& shape, uint64_t stream, Device device, double lo = -1, double hi = 1,
                    bool requires_grad = false);

}  // namespace ddpm::test
