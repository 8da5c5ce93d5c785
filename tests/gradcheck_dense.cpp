// Gradient-check cases for the dense ops: matmul, linear, conv2d.
//
// Shapes are small (the harness runs two forward passes per input element)
// but cover what the kernels branch on: odd sizes, batch > 1, bias or none,
// conv2d's im2col path (padding, stride 2, kernels 1, 2, 3, 5), its 1x1
// direct path, and batches where several images share one GEMM.
#include <sstream>

#include "autograd/functions.h"
#include "tests/gradcheck.h"

namespace ddpm::test {

std::vector<GradCase> gradcheck_cases_dense() {
  using V = const std::vector<Tensor>&;
  std::vector<GradCase> cases;

  cases.push_back({"matmul", "[3,4] x [4,5]", {{3, 4}, {4, 5}}, [](V in) { return matmul(in[0], in[1]); }});
  cases.push_back({"matmul", "[1,7] x [7,2]", {{1, 7}, {7, 2}}, [](V in) { return matmul(in[0], in[1]); }});

  cases.push_back({"linear", "x[3,5] W[4,5] b[4]", {{3, 5}, {4, 5}, {4}},
                   [](V in) { return linear(in[0], in[1], in[2]); }});
  cases.push_back({"linear", "x[2,3] W[6,3] no bias", {{2, 3}, {6, 3}},
                   [](V in) { return linear(in[0], in[1], Tensor()); }});
  cases.push_back({"linear", "x[4,1] W[5,1] b[5] (time-embedding input)", {{4, 1}, {5, 1}, {5}},
                   [](V in) { return linear(in[0], in[1], in[2]); }});

  struct Conv {
    Shape x;
    int64_t cout, k, stride, pad;
    bool bias;
  };
  const std::vector<Conv> convs = {
      {{2, 3, 5, 7}, 4, 3, 1, 1, true},   // the UNet's 3x3 pad 1, odd H/W
      {{2, 3, 5, 7}, 4, 3, 1, 1, false},  // same, no bias
      {{2, 3, 5, 6}, 2, 1, 1, 0, true},   // 1x1: the direct (no im2col) path
      {{2, 3, 7, 5}, 4, 3, 2, 1, true},   // stride 2
      {{2, 2, 6, 7}, 3, 3, 2, 1, false},  // stride 2, even H: the same Hout as H = 5
      {{2, 3, 6, 7}, 2, 5, 1, 0, true},   // 5x5, no padding
      {{1, 2, 5, 4}, 3, 2, 1, 0, false},  // 2x2, no padding, batch 1
      {{3, 2, 3, 3}, 3, 3, 1, 1, true},   // 3x3 spatial: several images per GEMM
      {{2, 2, 4, 5}, 3, 3, 1, 2, true},   // padding wider than needed (zero border rows)
      {{2, 2, 3, 4}, 3, 1, 1, 1, false},  // 1x1 padded: bwd-data cannot be a flipped forward conv
      {{1, 2, 4, 4}, 16, 3, 1, 1, true},  // 16 output channels: bwd-weight's packed GEMM path
  };
  for (const Conv& c : convs) {
    const Shape w{c.cout, c.x[1], c.k, c.k};
    std::ostringstream label;
    label << "x" << shape_str(c.x) << " w" << shape_str(w) << " stride " << c.stride << " pad " << c.pad
          << (c.bias ? " bias" : " no bias");
    std::vector<Shape> inputs = {c.x, w};
    if (c.bias) inputs.push_back({c.cout});
    cases.push_back({"conv2d", label.str(), inputs, [c](V in) {
                       return conv2d(in[0], in[1], c.bias ? in[2] : Tensor(), c.stride, c.pad);
                     }});
  }
  return cases;
}

}  // namespace ddpm::test
