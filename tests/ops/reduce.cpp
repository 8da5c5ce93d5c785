// sum and mean over all elements (to a scalar).
//
// Parity: small enough for one thread per output ([3,5,7]), several blocks
// (float4 and odd), and an unaligned view; 1e-6 (sums in another order).
#include <tuple>

#include "autograd/functions.h"
#include "tests/ops/common.h"

namespace ddpm::test {

using namespace cases;

namespace {
OpCases reduction(const std::string& name, Tensor (*f)(const Tensor&)) {
  OpCases c{name, {}, {}, {}};
  for (const Shape& s : {Shape{1}, Shape{3, 7}, Shape{2, 3, 4, 5}})
    c.grad.push_back({name, shape_str(s), {s}, [f](V in) { return f(in[0]); }});
  derive_parity(c.grad, kRounding, kWhyRounding);
  for (const auto& [label, shape, unaligned] : std::vector<std::tuple<std::string, Shape, bool>>{
           {"[3,5,7] (one block)", {3, 5, 7}, false},
           {"[2,8,32,32] (several blocks, float4)", {2, 8, 32, 32}, false},
           {"[100003] (odd, several blocks)", {100003}, false},
           {"[3,5,7] unaligned view", {3, 5, 7}, true}})
    c.parity.push_back(grad_case(
        name, label, {{shape, -1, 1, true, unaligned}}, [f](const Inputs& x) { return f(x[0]); }, kRounding,
        kWhyRounding));
  return c;
}
}  // namespace

std::vector<OpCases> reduce_op_cases() { return {reduction("sum", sum), reduction("mean", mean)}; }

}  // namespace ddpm::test
