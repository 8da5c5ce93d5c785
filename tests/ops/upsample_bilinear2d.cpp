// upsample_bilinear2d(x, s): scale s, align_corners = false.
//
// Gradient check: 3x4 -> 6x8, a 1x1 input (the scale-0 branch), scale 3.
// Parity (1e-6: multiply-adds fused differently): odd sizes, scale 3, one
// input row.
#include <tuple>

#include "autograd/functions.h"
#include "tests/ops/common.h"

namespace ddpm::test {

using namespace cases;

std::vector<OpCases> upsample_op_cases() {
  OpCases c{"upsample_bilinear2d", {}, {}, {}};
  for (const auto& [s, f] :
       {std::pair<Shape, int64_t>{{2, 3, 3, 4}, 2}, {{2, 2, 1, 1}, 2}, {{1, 2, 2, 3}, 3}})
    c.grad.push_back({"upsample_bilinear2d", shape_str(s) + " x" + std::to_string(f), {s}, [f = f](V in) {
                        return upsample_bilinear2d(in[0], f);
                      }});
  derive_parity(c.grad, kRounding, kWhyRounding);
  for (const auto& [label, shape, s] : std::vector<std::tuple<std::string, Shape, int64_t>>{
           {"[2,3,5,7] x2 (odd)", {2, 3, 5, 7}, 2},
           {"[1,4,8,8] x2", {1, 4, 8, 8}, 2},
           {"[1,2,3,4] x3", {1, 2, 3, 4}, 3},
           {"[2,2,1,4] x2 (one input row)", {2, 2, 1, 4}, 2}})
    c.parity.push_back(grad_case(
        "upsample_bilinear2d", label, {{shape}},
        [s = s](const Inputs& x) { return upsample_bilinear2d(x[0], s); }, kRounding, kWhyRounding));
  return {c};
}

}  // namespace ddpm::test
