// matmul(a, b): [M, K] x [K, N] on cuBLAS (CUDA) or Eigen (CPU).
//
// Parity in FP32 (fp32_tol of the longest dimension) and, for one shape, TF32
// (tests/ops/gemm.h).
#include <algorithm>

#include "autograd/functions.h"
#include "kernels/math_mode.h"
#include "tests/ops/common.h"
#include "tests/ops/gemm.h"

namespace ddpm::test {

using namespace cases;

namespace {
struct MatmulSpec {
  int64_t m, k, n;
};

ParityCase matmul_case(const MatmulSpec& s, bool tf32) {
  ParityCase c;
  c.op = "matmul";
  c.label = shape_str({s.m, s.k}) + " x " + shape_str({s.k, s.n}) + (tf32 ? " tf32" : " fp32");
  const int64_t longest = std::max({s.m, s.k, s.n});
  c.tol = tf32 ? kCublasTf32Tol : fp32_tol(longest);
  c.why = tf32 ? kCublasTf32Why : fp32_why(longest);
  c.run = [s, tf32](Device dev) {
    kernels::MathModeScope mode(tf32 ? kernels::MathMode::tf32 : kernels::MathMode::fp32);
    Tensor a = parity_input({s.m, s.k}, 31, dev, -1, 1, true);
    Tensor b = parity_input({s.k, s.n}, 32, dev, -1, 1, true);
    Tensor y = matmul(a, b);
    autograd::backward(y, parity_input({s.m, s.n}, 33, dev));
    return NamedResults{{"y", out(y)}, {"grad a", a.grad()}, {"grad b", b.grad()}};
  };
  return c;
}
}  // namespace

std::vector<OpCases> matmul_op_cases() {
  OpCases c{"matmul", {}, {}, {}};
  c.grad.push_back({"matmul", "[3,4] x [4,5]", {{3, 4}, {4, 5}}, [](V in) { return matmul(in[0], in[1]); }});
  c.grad.push_back({"matmul", "[1,7] x [7,2]", {{1, 7}, {7, 2}}, [](V in) { return matmul(in[0], in[1]); }});
  for (GradCase& g : c.grad) {
    const int64_t longest = std::max({g.inputs[0][0], g.inputs[0][1], g.inputs[1][1]});
    g.parity_tol = fp32_tol(longest);
    g.parity_why = fp32_why(longest);
  }
  const MatmulSpec mm[] = {{3, 7, 5}, {1, 1, 1}, {65, 129, 33}, {128, 256, 64}};
  for (const MatmulSpec& s : mm) c.parity.push_back(matmul_case(s, false));
  c.parity.push_back(matmul_case(mm[2], true));
  return {c};
}

}  // namespace ddpm::test
