// softmax / log_softmax over rows (kernels::softmax_fwd), forward only: no
// gradient-check case (not differentiable); parity cases for both modes,
// K = 1, K = 10, K > the kernel's 128 threads per row, large logits.
#include "kernels/softmax.h"

#include <tuple>

#include "tests/ops/common.h"

namespace ddpm::test {

using namespace cases;

std::vector<OpCases> softmax_op_cases() {
  OpCases c{"softmax", {}, {}, {}};
  for (const auto& [label, shape, lo, hi] : std::vector<std::tuple<std::string, Shape, double, double>>{
           {"[3,1] (K = 1)", {3, 1}, -1, 1},
           {"[64,10]", {64, 10}, -4, 4},
           {"[5,7] (odd)", {5, 7}, -1, 1},
           {"[3,1000] (K > 128 threads per row)", {3, 1000}, -2, 2},
           {"[8,10] in (-1e4, 1e4)", {8, 10}, -1e4, 1e4}})
    for (bool log : {false, true})
      c.parity.push_back(ParityCase{"softmax", label + (log ? " log_softmax" : " softmax"),
                                    [shape = shape, lo = lo, hi = hi, log](Device d) {
                                      const Tensor x = parity_input(shape, 10, d, lo, hi);
                                      return NamedResults{{"y", kernels::softmax_fwd(x, log)}};
                                    },
                                    kRounding, kWhyRounding});
  return {c};
}

}  // namespace ddpm::test
