// concat(inputs, dim): the UNet's skip connections (dim 1).
//
// Gradient check: dim 1 with two and three inputs of different channel
// counts, dim 0, and a negative dim. Parity: exact (copies); odd and float4
// sizes, ten inputs (two launches), an input without gradient.
#include "autograd/functions.h"
#include "tests/ops/common.h"

namespace ddpm::test {

using namespace cases;

std::vector<OpCases> concat_op_cases() {
  OpCases c{"concat", {}, {}, {}};
  c.grad.push_back({"concat", "dim 1, [2,3,2,3] + [2,5,2,3]", {{2, 3, 2, 3}, {2, 5, 2, 3}}, [](V in) {
                      return concat({in[0], in[1]}, 1);
                    }});
  c.grad.push_back({"concat", "dim 1, three inputs", {{2, 1, 3, 2}, {2, 2, 3, 2}, {2, 3, 3, 2}}, [](V in) {
                      return concat({in[0], in[1], in[2]}, 1);
                    }});
  c.grad.push_back({"concat", "dim 0", {{2, 3, 4}, {1, 3, 4}}, [](V in) {
                      return concat({in[0], in[1]}, 0);
                    }});
  c.grad.push_back({"concat", "dim -1", {{2, 3, 2}, {2, 3, 3}}, [](V in) {
                      return concat({in[0], in[1]}, -1);
                    }});
  derive_parity(c.grad, kExact, kWhyExact);

  struct Cat {
    std::string label;
    std::vector<Shape> shapes;
    int64_t dim;
  };
  for (const Cat& k :
       std::vector<Cat>{{"[2,3,5,7] + [2,4,5,7] dim 1 (odd)", {{2, 3, 5, 7}, {2, 4, 5, 7}}, 1},
                        {"[2,8,8,8] + [2,8,8,8] dim 1 (float4)", {{2, 8, 8, 8}, {2, 8, 8, 8}}, 1},
                        {"three inputs along dim 3", {{2, 3, 4, 5}, {2, 3, 4, 2}, {2, 3, 4, 1}}, 3},
                        {"[3,5] + [1,5] dim 0", {{3, 5}, {1, 5}}, 0},
                        {"ten inputs (two launches)", std::vector<Shape>(10, Shape{2, 2, 4}), 1}}) {
    std::vector<In> ins;
    for (const Shape& s : k.shapes) ins.push_back({s});
    c.parity.push_back(grad_case(
        "concat", k.label, ins, [dim = k.dim](const Inputs& x) { return concat(x, dim); }, kExact,
        kWhyExact));
  }
  c.parity.push_back(grad_case(
      "concat", "[2,3,4,4] + [2,5,4,4], second without gradient",
      {{{2, 3, 4, 4}}, {{2, 5, 4, 4}, -1, 1, false}}, [](const Inputs& x) { return concat(x, 1); }, kExact,
      kWhyExact));
  return {c};
}

}  // namespace ddpm::test
