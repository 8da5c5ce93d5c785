// Numerical gradient checks: central differences in float64.
//
// For a case f(inputs) -> y, draw a random upstream gradient R of y's shape and
// compare, for every input element, the autograd gradient of L = sum(y * R)
// with (L(x + h) - L(x - h)) / 2h. The metric is the normalised error
// ||analytic - numeric|| / max(||numeric||, tiny). With h = 1e-6 in double the
// truncation error is O(h^2 f''') ~ 1e-12 and the rounding error
// O(eps |L| / h) ~ 1e-10 relative, so 1e-6 catches any wrong formula while
// never failing on noise.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace ddpm::test {

struct GradCase {
  std::string op;     // name in kernels/ops.h
  std::string label;  // what this case covers (shapes, options)
  std::vector<Shape> inputs;
  std::function<Tensor(const std::vector<Tensor>&)> fn;
  // Inputs are uniform in (lo, hi); log and sqrt want positive values.
  double lo = -1.0, hi = 1.0;
  double tol = 1e-6;
  // The same case as a CUDA-vs-CPU parity case in float32 (tests/ops/op_cases.h,
  // parity_from_grad): the tolerance of its normalised error and why; < 0: not run as one.
  double parity_tol = -1;
  std::string parity_why = {};
};

struct GradResult {
  double max_error = 0;  // worst normalised error over the inputs
  std::string detail;    // per-input errors, for the failure message
};

GradResult run_gradcheck(const GradCase& c, uint64_t seed);

// The cases live with their op in tests/ops/<op>.cpp (tests/ops/op_cases.h);
// tests/test_gradcheck.cpp runs them, one doctest case per op
// ("gradcheck: <op>"), and checks that every differentiable op in
// kernels/ops.h has at least one. run_gradcheck and normalised_error are in
// tests/ops/harness.cpp (the ddpm_op_cases library).

// Normalised error ||a - b|| / max(||b||, 1e-30) between two tensors of equal shape.
double normalised_error(const Tensor& a, const Tensor& b);

}  // namespace ddpm::test
