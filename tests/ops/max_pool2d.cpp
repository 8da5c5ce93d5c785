// max_pool2d(x, k): k x k windows, stride k; odd sizes drop the last
// row/column; the gradient goes to the first maximum of a window.
//
// Gradient check: uniform inputs make ties (and near-ties closer than the
// finite-difference step) vanishingly unlikely. Parity: exact (copies), with
// a case of many ties (integer inputs), where the first-maximum rule decides.
#include <cmath>
#include <tuple>

#include "autograd/functions.h"
#include "autograd/node.h"
#include "tests/ops/common.h"

namespace ddpm::test {

using namespace cases;

namespace {
// Inputs rounded down to integers in [0, 3): many equal values in a window,
// so the first-maximum rule decides.
Tensor tied(const Tensor& x) {
  std::vector<float> v = x.to_vector<float>();
  for (float& f : v) f = std::floor(f);
  return Tensor::from_vector(v, x.shape(), x.device());
}
}  // namespace

std::vector<OpCases> max_pool2d_op_cases() {
  OpCases c{"max_pool2d", {}, {}, {}};
  for (const auto& [s, k] :
       {std::pair<Shape, int64_t>{{2, 3, 4, 6}, 2}, {{2, 2, 5, 7}, 2}, {{1, 2, 7, 6}, 3}})
    c.grad.push_back({"max_pool2d", shape_str(s) + " k=" + std::to_string(k), {s}, [k = k](V in) {
                        return max_pool2d(in[0], k);
                      }});
  derive_parity(c.grad, kExact, kWhyExact);

  for (const auto& [label, shape, k] : std::vector<std::tuple<std::string, Shape, int64_t>>{
           {"[2,3,7,9] k2 (odd: last row/column dropped)", {2, 3, 7, 9}, 2},
           {"[2,4,16,16] k2", {2, 4, 16, 16}, 2},
           {"[1,2,9,9] k3", {1, 2, 9, 9}, 3}})
    c.parity.push_back(grad_case(
        "max_pool2d", label, {{shape}}, [k = k](const Inputs& x) { return max_pool2d(x[0], k); }, kExact,
        kWhyExact));
  c.parity.push_back(ParityCase{"max_pool2d", "[2,3,6,6] k2 with ties (first maximum wins)",
                                [](Device d) {
                                  Tensor x = tied(parity_input({2, 3, 6, 6}, 10, d, 0, 3));
                                  x.set_requires_grad(true);
                                  const Tensor y = max_pool2d(x, 2);
                                  autograd::backward(y, parity_input(y.shape(), 99, d));
                                  return NamedResults{{"y", y}, {"grad x", x.grad()}};
                                },
                                kExact, kWhyExact});
  return {c};
}

}  // namespace ddpm::test
