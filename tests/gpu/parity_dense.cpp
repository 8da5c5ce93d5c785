// CUDA parity cases for the dense ops: conv2d, group_norm, linear, matmul.
//
// Every case runs the op through autograd (inputs with requires_grad, y =
// op(...), autograd::backward(y, upstream)) and returns y and every input gradient, so
// forward and backward kernels are all compared with the CPU. Shapes: small
// odd ones (sizes that are not multiples of any tile: 64 x 128 block tiles,
// k-tiles of 8) and the seed UNet's real layers at batch 2.
//
// conv2d runs in three CUDA variants: the FP32 SIMT implicit GEMM (the
// default), the TF32 tensor-core GEMM (math mode tf32) and the direct
// reference kernels. linear/matmul run on cuBLAS in FP32 and TF32.
//
// Tolerances (normalised error ||cuda - cpu|| / ||cpu||):
//   FP32: both devices sum the same terms in FP32 in different orders. For k
//     random-sign terms the rounding error of a sum is ~ sqrt(k/2) * 2^-24
//     relative (a random walk of per-add roundings of partial sums growing
//     like sqrt(i)); fp32_tol(k) allows 4x that for the longest sum of the
//     case, floored at 1e-6.
//   TF32 (conv2d): each operand is rounded (cvt.rna) to 11 significant bits,
//     a relative error uniform in +-2^-11, so a product is off by
//     ~2^-11 sqrt(2/3) ~ 4e-4 rms, and a sum of random-sign products by the
//     same relative amount: 2e-3.
//   TF32 (cuBLAS): its kernels may instead truncate the operands (toward
//     zero), which biases every product by up to 2^-10 in the same direction
//     relative to it: ~1e-3 coherent plus the random part: 4e-3.
//   GroupNorm: statistics and coefficients in double on both devices, rounded
//     to float once; the float results then differ by the rounding of
//     x*scale + shift (one FMA on the GPU, a multiply and an add on the CPU):
//     half an ulp of |x*scale|, at most ~6 |y| here (input mean 5 std), so
//     rms ~1.5e-7 relative: 1e-6.
//
// DDPM_PARITY_SMALL=1 in the environment keeps only the small shapes (for
// compute-sanitizer runs, which are orders of magnitude slower).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>

#include "autograd/functions.h"
#include "kernels/conv2d.h"
#include "kernels/group_norm.h"
#include "kernels/math_mode.h"
#include "tests/gpu/parity.h"

namespace ddpm::test {

namespace {

using kernels::Conv2dCudaAlgo;
using kernels::MathMode;

bool small_only() {
  const char* v = std::getenv("DDPM_PARITY_SMALL");
  return v && *v && std::string(v) != "0";
}

double fp32_tol(int64_t k) {
  return std::max(1e-6, 4.0 * std::sqrt(static_cast<double>(k) / 2.0) * std::ldexp(1.0, -24));
}
constexpr double kTf32Tol = 2e-3;
constexpr double kCublasTf32Tol = 4e-3;
constexpr double kGroupNormTol = 1e-6;

std::string fp32_why(int64_t k) {
  return "FP32 sums of up to " + std::to_string(k) + " terms in another order: 4 sqrt(k/2) 2^-24";
}
const char* kTf32Why = "TF32 operands (11 significant bits): ~4e-4 rms relative per product and per sum";
const char* kCublasTf32Why = "cuBLAS TF32 may truncate operands: up to 2^-10 coherent bias per product, ~1e-3";

// A result tensor cut from the graph, for the runner.
Tensor out(const Tensor& t) { return t.detach(); }

// ---------------------------------------------------------------- conv2d ----

struct ConvSpec {
  int64_t n, cin, cout, h, w, k, stride, pad;
  bool bias;
};

std::string conv_label(const ConvSpec& s, const char* variant) {
  return "x [" + std::to_string(s.n) + ", " + std::to_string(s.cin) + ", " + std::to_string(s.h) + ", " +
         std::to_string(s.w) + "] -> " + std::to_string(s.cout) + " k" + std::to_string(s.k) + " s" +
         std::to_string(s.stride) + " p" + std::to_string(s.pad) + (s.bias ? " bias " : " no-bias ") + variant;
}

// variant: "fp32" (automatic, FP32 math: the SIMT GEMM), "tf32" (automatic,
// TF32 math: the tensor-core GEMM), "direct" (the reference kernels).
ParityCase conv_case(const ConvSpec& s, const std::string& variant) {
  const int64_t hout = (s.h + 2 * s.pad - s.k) / s.stride + 1, wout = (s.w + 2 * s.pad - s.k) / s.stride + 1;
  const int64_t longest = std::max({s.cin * s.k * s.k, s.cout * s.k * s.k, s.n * hout * wout});
  const bool tf32 = variant == "tf32";
  const Conv2dCudaAlgo algo = variant == "direct" ? Conv2dCudaAlgo::direct : Conv2dCudaAlgo::automatic;
  ParityCase c;
  c.op = "conv2d";
  c.label = conv_label(s, variant.c_str());
  c.tol = tf32 ? kTf32Tol : fp32_tol(longest);
  c.why = tf32 ? kTf32Why : fp32_why(longest);
  c.run = [s, hout, wout, tf32, algo](Device dev) {
    kernels::MathModeScope mode(tf32 ? MathMode::tf32 : MathMode::fp32);
    kernels::Conv2dCudaAlgoScope use(algo);
    Tensor x = parity_input({s.n, s.cin, s.h, s.w}, 1, dev, -1, 1, true);
    Tensor w = parity_input({s.cout, s.cin, s.k, s.k}, 2, dev, -1, 1, true);
    Tensor b = s.bias ? parity_input({s.cout}, 3, dev, -1, 1, true) : Tensor();
    Tensor y = conv2d(x, w, b, s.stride, s.pad);
    autograd::backward(y, parity_input({s.n, s.cout, hout, wout}, 4, dev));
    NamedResults r{{"y", out(y)}, {"grad x", x.grad()}, {"grad w", w.grad()}};
    if (s.bias) r.emplace_back("grad b", b.grad());
    return r;
  };
  return c;
}

void add_conv_cases(std::vector<ParityCase>& cases) {
  const ConvSpec small[] = {
      {2, 3, 5, 7, 9, 3, 1, 1, true},    // odd everything, 3x3 same padding
      {2, 3, 5, 7, 9, 3, 1, 1, false},   // without bias
      {2, 3, 5, 7, 9, 1, 1, 0, true},    // 1x1
      {2, 3, 5, 7, 9, 3, 2, 1, true},    // stride 2: 4 x 5 out
      {2, 3, 5, 8, 9, 3, 2, 0, false},   // stride 2, no padding: 3 x 4 out
      {2, 3, 4, 7, 9, 5, 1, 2, true},    // 5x5: K*K = 25 walks the (kh, kw) wrap
      {1, 2, 3, 6, 6, 2, 2, 0, true},    // even kernel, stride = kernel
      {3, 67, 70, 11, 13, 3, 1, 1, true} // two row tiles (70 > 64), 429 pixels, Cin*K*K = 603
  };
  const ConvSpec unet[] = {
      {2, 1, 64, 32, 32, 3, 1, 1, true},    // enc1 conv1 (Cin*K*K = 9)
      {2, 64, 64, 32, 32, 3, 1, 1, true},   // enc1 conv2
      {2, 128, 256, 8, 8, 3, 1, 1, true},   // enc3 conv1
      {2, 768, 256, 8, 8, 3, 1, 1, true},   // dec3 conv1 (512 + 256 in)
      {2, 192, 64, 32, 32, 3, 1, 1, true},  // dec1 conv1 (128 + 64 in)
      {2, 64, 1, 32, 32, 1, 1, 0, true},    // final 1x1
  };
  const bool big = !small_only();
  for (const char* variant : {"fp32", "tf32", "direct"}) {
    for (const ConvSpec& s : small) cases.push_back(conv_case(s, variant));
    if (big && std::string(variant) != "direct")
      for (const ConvSpec& s : unet) cases.push_back(conv_case(s, variant));
  }
  if (big) cases.push_back(conv_case(unet[1], "direct"));
}

// ------------------------------------------------------------ group_norm ----

struct GroupNormSpec {
  Shape shape;
  int64_t groups;
  bool affine;
  double lo, hi;  // input range; an offset range tests the variance formula
};

ParityCase group_norm_case(const GroupNormSpec& s) {
  ParityCase c;
  c.op = "group_norm";
  c.label = "x " + shape_str(s.shape) + " G=" + std::to_string(s.groups) + (s.affine ? " affine" : " no-affine") +
            " x in (" + std::to_string(s.lo) + ", " + std::to_string(s.hi) + ")";
  c.tol = kGroupNormTol;
  c.why = "double statistics on both devices; FMA vs multiply-add rounding of x*scale + shift";
  c.run = [s](Device dev) {
    const int64_t ch = s.shape[1];
    Tensor x = parity_input(s.shape, 11, dev, s.lo, s.hi, true);
    Tensor gamma = s.affine ? parity_input({ch}, 12, dev, 0.5, 1.5, true) : Tensor();
    Tensor beta = s.affine ? parity_input({ch}, 13, dev, -1, 1, true) : Tensor();
    Tensor y = group_norm(x, s.groups, gamma, beta, 1e-5);
    autograd::backward(y, parity_input(s.shape, 14, dev));
    // The saved statistics, straight from the kernel.
    kernels::GroupNormForward f = kernels::group_norm_fwd(x.detach(), s.groups, s.affine ? gamma.detach() : Tensor(),
                                                          s.affine ? beta.detach() : Tensor(), 1e-5);
    NamedResults r{{"y", out(y)}, {"mean", f.mean}, {"rstd", f.rstd}, {"grad x", x.grad()}};
    if (s.affine) {
      r.emplace_back("grad gamma", gamma.grad());
      r.emplace_back("grad beta", beta.grad());
    }
    return r;
  };
  return c;
}

void add_group_norm_cases(std::vector<ParityCase>& cases) {
  const GroupNormSpec specs[] = {
      {{1, 512, 4, 4}, 8, true, -1, 1},   // the bottleneck at batch 1
      {{3, 6, 5, 7}, 3, true, -1, 1},     // odd sizes
      {{3, 6, 5, 7}, 3, true, 1, 2},      // mean 1.5 = 5 std: E[x^2] - mean^2, and x*scale + shift cancels
      {{2, 4, 3, 5}, 2, false, -1, 1},    // no affine
      {{4, 12}, 2, true, -1, 1},          // [N, C] input, six elements per group (with two, xhat = +-1
                                          // whatever x is: gx ~ 0 is all rounding noise)
      {{2, 8, 40, 40}, 8, true, -1, 1},   // 1600 elements per row: split rows in the backward
  };
  for (const GroupNormSpec& s : specs) cases.push_back(group_norm_case(s));
  // The UNet's enc1 / dec1 activation at batch 2: 8 splits per group forward.
  if (!small_only()) cases.push_back(group_norm_case({{2, 64, 32, 32}, 8, true, -1, 1}));
}

// ---------------------------------------------------------- linear/matmul ----

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
    kernels::MathModeScope mode(tf32 ? MathMode::tf32 : MathMode::fp32);
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
    kernels::MathModeScope mode(tf32 ? MathMode::tf32 : MathMode::fp32);
    Tensor a = parity_input({s.m, s.k}, 31, dev, -1, 1, true);
    Tensor b = parity_input({s.k, s.n}, 32, dev, -1, 1, true);
    Tensor y = matmul(a, b);
    autograd::backward(y, parity_input({s.m, s.n}, 33, dev));
    return NamedResults{{"y", out(y)}, {"grad a", a.grad()}, {"grad b", b.grad()}};
  };
  return c;
}

void add_gemm_cases(std::vector<ParityCase>& cases) {
  const LinearSpec lin[] = {
      {2, 1, 256, true},     // the seed's time MLP, first layer
      {2, 256, 256, true},   // and second
      {3, 7, 5, true},       // odd
      {3, 7, 5, false},      // without bias
      {130, 67, 33, true},   // rows past 128, odd features
  };
  for (const LinearSpec& s : lin) cases.push_back(linear_case(s, false));
  cases.push_back(linear_case(lin[1], true));
  cases.push_back(linear_case(lin[4], true));
  const MatmulSpec mm[] = {{3, 7, 5}, {1, 1, 1}, {65, 129, 33}, {128, 256, 64}};
  for (const MatmulSpec& s : mm) cases.push_back(matmul_case(s, false));
  cases.push_back(matmul_case(mm[2], true));
}

}  // namespace

std::vector<ParityCase> parity_cases_dense() {
  std::vector<ParityCase> cases;
  add_conv_cases(cases);
  add_group_norm_cases(cases);
  add_gemm_cases(cases);
  return cases;
}

// Determinism: the same inputs on the same GPU give bitwise the same
// results (no float atomics; split reductions add in a fixed order; cuBLAS on
// one stream).
TEST_CASE("gpu: dense ops give bitwise identical results run to run") {
  for (const ParityCase& c : parity_cases_dense()) {
    const NamedResults a = c.run(Device::cuda);
    const NamedResults b = c.run(Device::cuda);
    REQUIRE(a.size() == b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      const std::vector<float> va = a[i].second.to_vector<float>(), vb = b[i].second.to_vector<float>();
      REQUIRE(va.size() == vb.size());
      const bool same = va.empty() || std::memcmp(va.data(), vb.data(), va.size() * sizeof(float)) == 0;
      CHECK_MESSAGE(same, c.op << " " << c.label << " " << a[i].first << " differs between two runs");
    }
  }
}

}  // namespace ddpm::test
