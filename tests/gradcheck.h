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
};

struct GradResult {
  double max_error = 0;  // worst normalised error over the inputs
  std::string detail;    // per-input errors, for the failure message
};

GradResult run_gradcheck(const GradCase& c, uint64_t seed);

// Each file of cases contributes one list; test_gradcheck.cpp joins them and
// checks that every differentiable op in kernels/ops.h has at least one case.
std::vector<GradCase> gradcheck_cases_elementwise();  // tests/gradcheck_elementwise.cpp
std::vector<GradCase> gradcheck_cases_dense();        // tests/gradcheck_dense.cpp
std::vector<GradCase> gradcheck_cases_layers();       // tests/gradcheck_layers.cpp

// Normalised error ||a - b|| / max(||b||, 1e-30) between two tensors of equal shape.
double normalised_error(const Tensor& a, const Tensor& b);

}  // namespace ddpm::test
