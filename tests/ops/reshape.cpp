// reshape: the differentiable view (autograd/); its backward reshapes the
// gradient back. Gradient check and parity through a product, so the view's
// gradient is not the identity's.
#include "autograd/functions.h"
#include "tests/ops/common.h"

namespace ddpm::test {

using namespace cases;

std::vector<OpCases> reshape_op_cases() {
  OpCases c{"reshape", {}, {}, {}};
  c.grad.push_back({"reshape", "[2,3,4] -> [6,-1] then square", {{2, 3, 4}}, [](V in) {
                      Tensor r = reshape(in[0], {6, -1});
                      return r * r;
                    }});
  derive_parity(c.grad, kExact, kWhyExact);
  c.parity.push_back(grad_case(
      "reshape", "[3,5,7] as [5,21] times [5,21]", {{{3, 5, 7}}, {{5, 21}}},
      [](const Inputs& x) {
        return mul(reshape(x[0], {5, 21}), x[1]);
      },
      kExact, kWhyExact));
  return {c};
}

}  // namespace ddpm::test
