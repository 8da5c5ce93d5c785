// mse_loss(pred, target) = mean((pred - target)^2): gradients to both, or to
// pred alone. Parity: odd sizes, float4, unaligned views, the training loss's
// [4,1,32,32] with a target that needs no gradient.
#include <tuple>

#include "autograd/functions.h"
#include "tests/ops/common.h"

namespace ddpm::test {

using namespace cases;

std::vector<OpCases> mse_loss_op_cases() {
  OpCases c{"mse_loss", {}, {}, {}};
  for (const Shape& s : {Shape{7}, Shape{2, 3, 4, 5}})
    c.grad.push_back({"mse_loss", shape_str(s), {s, s}, [](V in) { return mse_loss(in[0], in[1]); }});
  derive_parity(c.grad, kRounding, kWhyRounding);
  for (const auto& [label, shape, unaligned] :
       std::vector<std::tuple<std::string, Shape, bool>>{{"[3,5,7] (odd)", {3, 5, 7}, false},
                                                         {"[2,8,16,16] (float4)", {2, 8, 16, 16}, false},
                                                         {"[3,5,7] unaligned view", {3, 5, 7}, true}})
    c.parity.push_back(grad_case(
        "mse_loss", label, {{shape, -1, 1, true, unaligned}, {shape, -1, 1, true, unaligned}},
        [](const Inputs& x) { return mse_loss(x[0], x[1]); }, kRounding, kWhyRounding));
  c.parity.push_back(grad_case(
      "mse_loss", "[4,1,32,32], target without gradient", {{{4, 1, 32, 32}}, {{4, 1, 32, 32}, -1, 1, false}},
      [](const Inputs& x) { return mse_loss(x[0], x[1]); }, kRounding, kWhyRounding));
  return {c};
}

}  // namespace ddpm::test
