// cross_entropy(logits [N, K], labels [N]): gradient to the logits only; the
// labels are built inside each case from a fixed pattern ((7 i + 3) mod K,
// every class hit for K = 10) in the logits' dtype and device, so they are
// not perturbed by the gradient check.
//
// Gradient check: K = 1 (loss and gradient 0), K = 10, odd sizes, batch > 1,
// a wide range. Large logits (|z| ~ 1e4) are not gradient-checked: in
// float64 the central difference at 1e4 loses ~1e-12 / 1e-6 of its step to
// rounding, the check's own tolerance; they are parity cases here and a
// PyTorch-valued forward case in tests/test_classifier_ops.cpp. Parity:
// K > the kernel's 128 threads per row, a batch of 64, large logits.
#include <tuple>

#include "autograd/functions.h"
#include "tests/ops/common.h"

namespace ddpm::test {

using namespace cases;

namespace {
Tensor labels_like(const Tensor& logits) {
  const int64_t n = logits.size(0), k = logits.size(1);
  std::vector<double> y(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) y[static_cast<size_t>(i)] = static_cast<double>((7 * i + 3) % k);
  return Tensor::from_host(y.data(), {n}, logits.dtype(), logits.device());
}
}  // namespace

std::vector<OpCases> cross_entropy_op_cases() {
  OpCases c{"cross_entropy", {}, {}, {}};
  for (const auto& [s, lo, hi] : std::vector<std::tuple<Shape, double, double>>{{{1, 1}, -1, 1},
                                                                                {{3, 1}, -1, 1},
                                                                                {{1, 10}, -1, 1},
                                                                                {{4, 10}, -3, 3},
                                                                                {{5, 7}, -1, 1},
                                                                                {{2, 3}, -8, 8}}) {
    GradCase g{
        "cross_entropy", shape_str(s) + " range " + std::to_string(static_cast<int>(hi)), {s}, [](V in) {
          return cross_entropy(in[0], labels_like(in[0]));
        }};
    g.lo = lo;
    g.hi = hi;
    c.grad.push_back(g);
  }
  derive_parity(c.grad, kRounding, kWhyRounding);
  for (const auto& [label, shape, lo, hi, unaligned] :
       std::vector<std::tuple<std::string, Shape, double, double, bool>>{
           {"[64,10] (a classifier batch)", {64, 10}, -4, 4, false},
           {"[3,1000] (K > 128 threads per row)", {3, 1000}, -2, 2, false},
           {"[8,10] logits in (-1e4, 1e4)", {8, 10}, -1e4, 1e4, false},
           {"[5,7] unaligned view", {5, 7}, -1, 1, true}})
    c.parity.push_back(grad_case(
        "cross_entropy", label, {{shape, lo, hi, true, unaligned}},
        [](const Inputs& x) { return cross_entropy(x[0], labels_like(x[0])); }, kRounding, kWhyRounding));
  return {c};
}

}  // namespace ddpm::test
