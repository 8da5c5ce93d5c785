// global_avg_pool2d(x): [N, C, H, W] -> [N, C], the plane means; the
// backward spreads g / (H W). Gradient check: odd planes, 1x1 planes, batch
// > 1. Parity: planes longer than the kernel's 128 threads, a classifier's
// [32,128,8,8], an unaligned view; the forward sums in another order on the
// two devices (kRounding), the backward is the same double division.
#include <tuple>

#include "autograd/functions.h"
#include "tests/ops/common.h"

namespace ddpm::test {

using namespace cases;

std::vector<OpCases> global_avg_pool2d_op_cases() {
  OpCases c{"global_avg_pool2d", {}, {}, {}};
  for (const Shape& s : {Shape{2, 3, 4, 5}, Shape{1, 1, 1, 1}, Shape{3, 2, 7, 3}, Shape{2, 4, 1, 6}})
    c.grad.push_back({"global_avg_pool2d", shape_str(s), {s}, [](V in) { return global_avg_pool2d(in[0]); }});
  derive_parity(c.grad, kRounding, kWhyRounding);
  for (const auto& [label, shape, unaligned] : std::vector<std::tuple<std::string, Shape, bool>>{
           {"[2,3,17,19] (plane > 128 threads)", {2, 3, 17, 19}, false},
           {"[32,128,8,8] (a classifier head)", {32, 128, 8, 8}, false},
           {"[3,5,7,3] unaligned view", {3, 5, 7, 3}, true}})
    c.parity.push_back(grad_case(
        "global_avg_pool2d", label, {{shape, -1, 1, true, unaligned}},
        [](const Inputs& x) { return global_avg_pool2d(x[0]); }, kRounding, kWhyRounding));
  return {c};
}

}  // namespace ddpm::test
