// linear(x, W, b) = x W^T + b on cuBLAS (CUDA) or Eigen (CPU).
//
// Gradient check: with and without bias, a one-feature input (the time
// embedding). Parity: the seed's time-MLP layers, odd sizes, rows past 128;
// FP32 (fp32_tol of the longest dimension) and TF32 (tests/ops/gemm.h).
#include <algorithm>

#include "autograd/functions.h"
#include "kernels/math_mode.h"
#include "tests/ops/common.h"
#include "tests/ops/gemm.h"

namespace ddpm::test {

using namespace cases;

namespace {
struct LinearSpec {
  int64_t n, in, out;
  bool bias;
};

ParityCase linear_case(const LinearSpec& s, bool tf32) {
  ParityCase c;
  c.op = "linear";
  c.label = "x " + shape_str({s.n, s.in}) + " -> " + std::to_string(s.out) + (s.bias ? " bias" : " no-bias") +
            (tf32 ? " tf32" : " fp32");
  const int64_t longest = std::max({s.n, s.in, s.out});
  c.tol = tf32 ? kCublasTf32Tol : fp32_tol(longest);
  c.why = tf32 ? kCublasTf32Why : fp32_why(longest);
  c.run = [s, tf32](Device dev) {
    kernels::MathModeScope mode(tf32 ? kernels::MathMode::tf32 : kernels::MathMode::fp32);
    Tensor x = parity_input({s.n, s.in}, 21, dev, -1, 1, true);
    Tensor w = parity_input({s.out, s.in}, 22, dev, -1, 1, true);
    Tensor b = s.bias ? parity_input({s.out}, 23, dev, -1, 1, true) : Tensor();
    Tensor y = linear(x, w, b);
    autograd::backward(y, parity_input({s.n, s.out}, 24, dev));
    NamedResults r{{"y", out(y)}, {"grad x", x.grad()}, {"grad w", w.grad()}};
    if (s.bias) r.emplace_back("grad b", b.grad());
    return r;
  };
  return c;
}
}  // namespace

std::vector<OpCases> linear_op_cases() {
  OpCases c{"linear", {}, {}, {}};
  c.grad.push_back({"linear", "x[3,5] W[4,5] b[4]", {{3, 5}, {4, 5}, {4}}, [](V in) {
                      return linear(in[0], in[1], in[2]);
                    }});
  c.grad.push_back({"linear", "x[2,3] W[6,3] no bias", {{2, 3}, {6, 3}}, [](V in) {
                      return linear(in[0], in[1], Tensor());
                    }});
  c.grad.push_back({"linear", "x[4,1] W[5,1] b[5] (time-embedding input)", {{4, 1}, {5, 1}, {5}}, [](V in) {
                      return linear(in[0], in[1], in[2]);
                    }});
  for (GradCase& g : c.grad) {
    int64_t longest = 0;
    for (const Shape& s : g.inputs)
      for (int64_t d : s) longest = std::max(longest, d);
    g.parity_tol = fp32_tol(longest);
    g.parity_why = fp32_why(longest);
  }
  const LinearSpec lin[] = {
      {2, 1, 256, true},    // the seed's time MLP, first layer
      {2, 256, 256, true},  // and second
      {3, 7, 5, true},      // odd
      {3, 7, 5, false},     // without bias
      {130, 67, 33, true},  // rows past 128, odd features
  };
  for (const LinearSpec& s : lin) c.parity.push_back(linear_case(s, false));
  c.parity.push_back(linear_case(lin[1], true));
  c.parity.push_back(linear_case(lin[4], true));
  return {c};
}

}  // namespace ddpm::test
