// silu(x) = x * sigmoid(x).
//
// Gradient check on (-4, 4): both tails of the sigmoid and both branches of
// the stable evaluation (x >= 0 and x < 0). Parity on (-6, 6): odd sizes,
// the float4 path, an unaligned view. Bench: the UNet's four activation
// shapes (after each level's convs), against cuDNN's SWISH on the GPU.
#include <tuple>

#include "autograd/functions.h"
#include "tests/ops/common.h"

namespace ddpm::test {

using namespace cases;

std::vector<OpCases> silu_op_cases() {
  OpCases c{"silu", {}, {}, {}};
  for (const Shape& s : {Shape{7}, Shape{2, 3, 5}}) {
    GradCase g{"silu", shape_str(s), {s}, [](V in) { return silu(in[0]); }};
    g.lo = -4;
    g.hi = 4;
    c.grad.push_back(g);
  }
  derive_parity(c.grad, kRounding, kWhyRounding);
  for (const auto& [label, shape, unaligned] :
       std::vector<std::tuple<std::string, Shape, bool>>{{"[3,5,7] (odd)", {3, 5, 7}, false},
                                                         {"[2,8,16,16] (float4)", {2, 8, 16, 16}, false},
                                                         {"[3,5,7] unaligned view", {3, 5, 7}, true}})
    c.parity.push_back(grad_case(
        "silu", label, {{shape, -6, 6, true, unaligned}}, [](const Inputs& x) { return silu(x[0]); },
        kRounding, kWhyRounding));
  c.bench = unet_activation_shapes(0);
  return {c};
}

}  // namespace ddpm::test
