// Forward (and backward) values of the dense ops: conv2d, matmul, linear.
//
// - Against PyTorch: tests/data/dense_reference.json (made by
//   tests/reference/make_dense_reference.py) holds inputs, an upstream
//   gradient gy, and PyTorch's float64 y and input gradients. Our float64 path
//   must match to 1e-12 and our float32 path to 1e-5 (normalised error).
// - A case worked by hand on paper.
// - Larger convolutions, where the CPU kernel splits the batch across
//   threads and batches several images into one GEMM, against a direct
//   six-loop convolution written here.
// - Shape errors name the op and the shapes.
#include <doctest/doctest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "autograd/functions.h"
#include "kernels/conv2d.h"
#include "kernels/linear.h"
#include "kernels/matmul.h"
#include "tensor/rng.h"
#include "tests/gradcheck.h"

using namespace ddpm;
using ddpm::test::normalised_error;

namespace {

// float64 against float64 PyTorch: both sum at most a few hundred products of
// O(1) values in different orders, so the relative difference is a few eps
// (1e-16) times the term count, far below 1e-12.
constexpr double kTolF64 = 1e-12;
// float32 against float64 PyTorch: inputs rounded to float32 (rel. 6e-8) and
// float32 sums of up to ~100 terms give ~1e-6 at worst; 1e-5 still catches
// any wrong index or missing term, which gives errors of order 1e-1.
constexpr double kTolF32 = 1e-5;

const nlohmann::json& reference() {
  static const nlohmann::json data = [] {
    const std::string path = std::string(DDPM_TEST_DATA_DIR) + "/dense_reference.json";
    std::ifstream in(path);
    REQUIRE_MESSAGE(in.good(), "cannot open " << path);
    return nlohmann::json::parse(in);
  }();
  return data;
}

Tensor from_json(const nlohmann::json& j, DType dtype) {
  const Shape shape = j.at("shape").get<Shape>();
  return Tensor::from_vector(j.at("data").get<std::vector<double>>(), shape).to(dtype);
}

// Runs fn on the case's inputs (named in `names`) in dtype, backward with the
// stored gy, and compares y and every input gradient with PyTorch.
template <class Fn>
void check_case(const nlohmann::json& c, const std::vector<std::string>& names, DType dtype, double tol,
                Fn fn) {
  std::vector<Tensor> in;
  for (const std::string& n : names) {
    Tensor t = c.contains(n) ? from_json(c.at(n), dtype) : Tensor();
    if (t.defined()) t.set_requires_grad(true);
    in.push_back(t);
  }
  Tensor y = fn(in);
  autograd::backward(y, from_json(c.at("gy"), dtype));
  const std::string what = c.at("label").get<std::string>() + (dtype == DType::f64 ? " (f64)" : " (f32)");
  INFO(what);
  CHECK(y.dtype() == dtype);
  CHECK(normalised_error(y, from_json(c.at("y"), DType::f64)) <= tol);
  for (size_t i = 0; i < names.size(); ++i) {
    if (!in[i].defined()) continue;
    INFO("gradient of " << names[i]);
    REQUIRE(in[i].grad().defined());
    CHECK(normalised_error(in[i].grad(), from_json(c.at("g" + names[i]), DType::f64)) <= tol);
  }
}

// Direct convolution in double: y, and for upstream gy the gradients of x, w, b.
struct DirectConv {
  std::vector<double> y, gx, gw, gb;
};
DirectConv direct_conv(const kernels::Conv2dDims& d, const std::vector<double>& x,
                       const std::vector<double>& w, const std::vector<double>& b,
                       const std::vector<double>& gy) {
  DirectConv r;
  r.y.assign(static_cast<size_t>(d.N * d.Cout * d.Hout * d.Wout), 0.0);
  r.gx.assign(x.size(), 0.0);
  r.gw.assign(w.size(), 0.0);
  r.gb.assign(static_cast<size_t>(d.Cout), 0.0);
  for (int64_t n = 0; n < d.N; ++n)
    for (int64_t co = 0; co < d.Cout; ++co)
      for (int64_t oh = 0; oh < d.Hout; ++oh)
        for (int64_t ow = 0; ow < d.Wout; ++ow) {
          const size_t yi = static_cast<size_t>(((n * d.Cout + co) * d.Hout + oh) * d.Wout + ow);
          double acc = b.empty() ? 0.0 : b[static_cast<size_t>(co)];
          const double g = gy[yi];
          r.gb[static_cast<size_t>(co)] += g;
          for (int64_t ci = 0; ci < d.Cin; ++ci)
            for (int64_t kh = 0; kh < d.K; ++kh)
              for (int64_t kw = 0; kw < d.K; ++kw) {
                const int64_t ih = oh * d.stride - d.pad + kh, iw = ow * d.stride - d.pad + kw;
                if (ih < 0 || ih >= d.H || iw < 0 || iw >= d.W) continue;
                const size_t xi = static_cast<size_t>(((n * d.Cin + ci) * d.H + ih) * d.W + iw);
                const size_t wi = static_cast<size_t>(((co * d.Cin + ci) * d.K + kh) * d.K + kw);
                acc += w[wi] * x[xi];
                r.gx[xi] += w[wi] * g;
                r.gw[wi] += x[xi] * g;
              }
          r.y[yi] = acc;
        }
  return r;
}

Tensor vec_tensor(const std::vector<double>& v, const Shape& s) { return Tensor::from_vector(v, s); }

}  // namespace

TEST_CASE("forward: conv2d matches PyTorch (float64 and float32, forward and backward)") {
  const auto& cases = reference().at("conv2d");
  REQUIRE(cases.size() >= 5);
  for (const auto& c : cases) {
    const int64_t stride = c.at("stride"), pad = c.at("pad");
    auto fn = [&](const std::vector<Tensor>& in) { return conv2d(in[0], in[1], in[2], stride, pad); };
    check_case(c, {"x", "w", "b"}, DType::f64, kTolF64, fn);
    check_case(c, {"x", "w", "b"}, DType::f32, kTolF32, fn);
  }
}

TEST_CASE("forward: matmul matches PyTorch (float64 and float32, forward and backward)") {
  for (const auto& c : reference().at("matmul")) {
    auto fn = [](const std::vector<Tensor>& in) { return matmul(in[0], in[1]); };
    check_case(c, {"a", "b"}, DType::f64, kTolF64, fn);
    check_case(c, {"a", "b"}, DType::f32, kTolF32, fn);
  }
}

TEST_CASE("forward: linear matches PyTorch (float64 and float32, forward and backward)") {
  for (const auto& c : reference().at("linear")) {
    auto fn = [](const std::vector<Tensor>& in) { return linear(in[0], in[1], in[2]); };
    check_case(c, {"x", "w", "b"}, DType::f64, kTolF64, fn);
    check_case(c, {"x", "w", "b"}, DType::f32, kTolF32, fn);
  }
}

TEST_CASE("forward: conv2d worked by hand (1-channel 3x3 input, 2x2 kernel)") {
  // x = 1 2 3    w = 1 2    b = 0.5
  //     4 5 6        3 4
  //     7 8 9
  const Tensor x = vec_tensor({1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 1, 3, 3}).set_requires_grad();
  const Tensor w = vec_tensor({1, 2, 3, 4}, {1, 1, 2, 2}).set_requires_grad();
  const Tensor b = vec_tensor({0.5}, {1}).set_requires_grad();

  SUBCASE("stride 1, no padding") {
    // y[0][0] = 1*1 + 2*2 + 4*3 + 5*4 + 0.5 = 37.5, and so on one step right / down.
    Tensor y = conv2d(x, w, b, 1, 0);
    CHECK(y.shape() == Shape{1, 1, 2, 2});
    CHECK(y.to_vector<double>() == std::vector<double>{37.5, 47.5, 67.5, 77.5});
    autograd::backward(y, Tensor::ones(y.shape(), DType::f64));
    // gw[kh][kw] = sum of the 2x2 block of x starting at (kh, kw).
    CHECK(w.grad().to_vector<double>() == std::vector<double>{12, 16, 24, 28});
    CHECK(b.grad().to_vector<double>() == std::vector<double>{4});
    // gx[i][j] = sum of the kernel taps that ever land on (i, j).
    CHECK(x.grad().to_vector<double>() == std::vector<double>{1, 3, 2, 4, 10, 6, 3, 7, 4});
  }
  SUBCASE("stride 2, padding 1") {
    // Output 2x2: windows start at (-1,-1), (-1,1), (1,-1), (1,1); the
    // zero border drops the taps outside x.
    //   y[0][0] = 1*4                     = 4
    //   y[0][1] = 2*3 + 3*4               = 18
    //   y[1][0] = 4*2 + 7*4               = 36
    //   y[1][1] = 5*1 + 6*2 + 8*3 + 9*4   = 77     (each + 0.5)
    Tensor y = conv2d(x, w, b, 2, 1);
    CHECK(y.to_vector<double>() == std::vector<double>{4.5, 18.5, 36.5, 77.5});
    autograd::backward(y, Tensor::ones(y.shape(), DType::f64));
    // Each pixel is used by exactly one window, with the tap it meets there.
    CHECK(x.grad().to_vector<double>() == std::vector<double>{4, 3, 4, 2, 1, 2, 4, 3, 4});
    // gw[kh][kw] = sum of the pixels tap (kh, kw) meets: w00 meets 5 only, ...
    CHECK(w.grad().to_vector<double>() == std::vector<double>{5, 4 + 6, 2 + 8, 1 + 3 + 7 + 9});
  }
}

TEST_CASE("forward: conv2d at larger shapes matches a direct convolution (every CPU path, threads)") {
  struct Shape4 {
    int64_t N, Cin, Cout, H, W, K, stride, pad;
    bool bias;
  };
  // Sizes large enough that the kernel runs on several threads; the 10x10,
  // 6x5 and 4x4 levels put several images into one GEMM; N = 3 and 5 split
  // unevenly across threads. Output rows narrower than 16 are packed by
  // index gathers, wider ones by runs.
  const std::vector<Shape4> shapes = {
      {6, 16, 16, 10, 10, 3, 1, 1, true},
      {8, 48, 24, 4, 4, 3, 1, 1, false},
      {3, 16, 16, 16, 16, 3, 1, 1, true},
      {5, 128, 32, 8, 8, 1, 1, 0, true},
      {5, 24, 20, 13, 11, 3, 2, 1, true},
      {7, 40, 16, 6, 5, 3, 1, 1, true},
      {2, 8, 16, 35, 33, 3, 2, 1, true},  // wide rows with stride 2: strided runs, col2im by runs
      // Stride 1 with output rows of 16 or more: bwd-weight by shifted GEMMs
      // (odd widths, no padding, K = 5, rows not a multiple of the tile's,
      // and for float32 the 32-channel narrow tile).
      {3, 20, 32, 18, 17, 3, 1, 1, true},
      {2, 5, 16, 20, 20, 5, 1, 2, false},
      {2, 7, 48, 16, 24, 3, 1, 0, true},
      {2, 30, 32, 32, 32, 3, 1, 1, true},
      // fwd and bwd-data by shifted rows: 32 output channels or fewer (fwd
      // 20 and 7; bwd-data 13 and 32), odd sizes, K = 5.
      {3, 13, 20, 17, 19, 3, 1, 1, true},
      {2, 32, 7, 16, 16, 5, 1, 2, false},
      // Winograd's de-interleaved planes (images of whole vectors of tiles,
      // 16 tiles here: float64 vectors are 8): pad 1, an odd height, and
      // pad 0, whose bwd-data is the full correlation with pad 2.
      {3, 16, 16, 8, 8, 3, 1, 1, true},
      {2, 16, 17, 7, 8, 3, 1, 1, false},
      {3, 17, 16, 8, 8, 3, 1, 0, true},
  };
  // Every CPU path, forced where it applies (the rule picks among them).
  for (const kernels::Conv2dCpuAlgo algo :
       {kernels::Conv2dCpuAlgo::automatic, kernels::Conv2dCpuAlgo::im2col, kernels::Conv2dCpuAlgo::shifted,
        kernels::Conv2dCpuAlgo::winograd}) {
    const kernels::Conv2dCpuAlgoScope scope(algo);
    uint64_t stream = 1;
    for (const Shape4& s : shapes) {
      INFO("CPU algorithm " << kernels::conv2d_cpu_algo_name(algo));
      Tensor x = randn({s.N, s.Cin, s.H, s.W}, 7, stream++, DType::f64);
      Tensor w = randn({s.Cout, s.Cin, s.K, s.K}, 7, stream++, DType::f64);
      Tensor b = s.bias ? randn({s.Cout}, 7, stream++, DType::f64) : Tensor();
      const kernels::Conv2dDims d = kernels::conv2d_dims(x, w, b, s.stride, s.pad);
      Tensor gy = randn({s.N, s.Cout, d.Hout, d.Wout}, 7, stream++, DType::f64);
      const DirectConv ref =
          direct_conv(d, x.to_vector<double>(), w.to_vector<double>(),
                      s.bias ? b.to_vector<double>() : std::vector<double>{}, gy.to_vector<double>());
      INFO("x " << x.desc() << " w " << w.desc() << " stride " << s.stride << " pad " << s.pad);
      const Tensor y = kernels::conv2d_fwd(x, w, b, s.stride, s.pad);
      CHECK(normalised_error(y, vec_tensor(ref.y, y.shape())) <= kTolF64);
      const Tensor gx = kernels::conv2d_bwd_data(gy, w, x.shape(), s.stride, s.pad);
      CHECK(normalised_error(gx, vec_tensor(ref.gx, x.shape())) <= kTolF64);
      Tensor gb;
      const Tensor gw = kernels::conv2d_bwd_weight(x, gy, w.shape(), s.stride, s.pad, &gb);
      CHECK(normalised_error(gw, vec_tensor(ref.gw, w.shape())) <= kTolF64);
      CHECK(normalised_error(gb, vec_tensor(ref.gb, {s.Cout})) <= kTolF64);

      // Deterministic: a second run gives the same bits.
      Tensor gb2;
      CHECK(kernels::conv2d_fwd(x, w, b, s.stride, s.pad).to_vector<double>() == y.to_vector<double>());
      CHECK(kernels::conv2d_bwd_data(gy, w, x.shape(), s.stride, s.pad).to_vector<double>() ==
            gx.to_vector<double>());
      CHECK(kernels::conv2d_bwd_weight(x, gy, w.shape(), s.stride, s.pad, &gb2).to_vector<double>() ==
            gw.to_vector<double>());
      CHECK(gb2.to_vector<double>() == gb.to_vector<double>());
#ifdef _OPENMP
      if (s.Cout >= 16) {
        // bwd-weight splits its rows between threads: the same bits on one.
        // (Not with fewer than 16 output channels: that path hands each
        // thread's rows to Eigen, whose blocking follows the row count.)
        const int saved = omp_get_max_threads();
        omp_set_num_threads(1);
        const std::vector<double> one =
            kernels::conv2d_bwd_weight(x, gy, w.shape(), s.stride, s.pad).to_vector<double>();
        omp_set_num_threads(saved);
        CHECK(one == gw.to_vector<double>());
      }
#endif

      // float32 through the same kernels (their float SIMD paths).
      const Tensor x32 = x.to(DType::f32), w32 = w.to(DType::f32), gy32 = gy.to(DType::f32);
      const Tensor y32 = kernels::conv2d_fwd(x32, w32, s.bias ? b.to(DType::f32) : Tensor(), s.stride, s.pad);
      CHECK(y32.dtype() == DType::f32);
      CHECK(normalised_error(y32, y) <= kTolF32);
      CHECK(normalised_error(kernels::conv2d_bwd_data(gy32, w32, x.shape(), s.stride, s.pad), gx) <= kTolF32);
      Tensor gb32;
      CHECK(normalised_error(kernels::conv2d_bwd_weight(x32, gy32, w.shape(), s.stride, s.pad, &gb32), gw) <=
            kTolF32);
      CHECK(normalised_error(gb32, gb) <= kTolF32);
    }
  }
}

TEST_CASE("forward: dense ops reject mismatched shapes, naming the op and the shapes") {
  using doctest::Contains;
  const Tensor x = Tensor::zeros({2, 3, 5, 5}, DType::f64);
  const Tensor w = Tensor::zeros({4, 3, 3, 3}, DType::f64);
  CHECK_THROWS_WITH_AS(
      conv2d(x, Tensor::zeros({4, 2, 3, 3}, DType::f64), Tensor(), 1, 1),
      Contains("conv2d: input [2, 3, 5, 5] has 3 channels but weight [4, 2, 3, 3] expects 2"),
      std::invalid_argument);
  CHECK_THROWS_WITH_AS(conv2d(x, Tensor::zeros({4, 3, 3, 2}, DType::f64), Tensor(), 1, 1),
                       Contains("[4, 3, 3, 2] is not a square"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(conv2d(Tensor::zeros({3, 5, 5}, DType::f64), w, Tensor(), 1, 1),
                       Contains("conv2d: input [3, 5, 5] is not 4-d"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(conv2d(x, w, Tensor::zeros({3}, DType::f64), 1, 1), Contains("conv2d: bias Tensor[3]"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(conv2d(x, Tensor::zeros({4, 3, 7, 7}, DType::f64), Tensor(), 1, 0),
                       Contains("kernel [4, 3, 7, 7] is larger than input [2, 3, 5, 5]"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(conv2d(x, w, Tensor(), 0, 1), Contains("stride 0"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(conv2d(x, w.to(DType::f32), Tensor(), 1, 1), Contains("differ in dtype"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(
      kernels::conv2d_bwd_data(Tensor::zeros({2, 4, 4, 5}, DType::f64), w, x.shape(), 1, 1),
      Contains("conv2d backward-data: grad_out is Tensor[2, 4, 4, 5] f64 cpu, expected shape "
               "[2, 4, 5, 5]"),
      std::invalid_argument);
  CHECK_THROWS_WITH_AS(
      kernels::conv2d_bwd_weight(x, Tensor::zeros({2, 5, 5, 5}, DType::f64), w.shape(), 1, 1),
      Contains("conv2d backward-weight: grad_out is Tensor[2, 5, 5, 5]"), std::invalid_argument);

  CHECK_THROWS_WITH_AS(
      matmul(Tensor::zeros({3, 4}), Tensor::zeros({5, 2})),
      Contains("matmul: inner dimensions differ: Tensor[3, 4] f32 cpu x Tensor[5, 2] f32 cpu"),
      std::invalid_argument);
  CHECK_THROWS_WITH_AS(matmul(Tensor::zeros({3}), Tensor::zeros({3, 2})),
                       Contains("matmul: operands Tensor[3]"), std::invalid_argument);

  CHECK_THROWS_WITH_AS(linear(Tensor::zeros({2, 5}), Tensor::zeros({4, 6}), Tensor()),
                       Contains("linear: input Tensor[2, 5] f32 cpu has 5 features but weight Tensor[4, 6]"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(linear(Tensor::zeros({2, 6}), Tensor::zeros({4, 6}), Tensor::zeros({6})),
                       Contains("linear: bias Tensor[6] f32 cpu does not match weight Tensor[4, 6]"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(kernels::linear_bwd_data(Tensor::zeros({2, 3}), Tensor::zeros({4, 6})),
                       Contains("linear backward-data: grad_out Tensor[2, 3]"), std::invalid_argument);
}

TEST_CASE("forward: conv2d Winograd F(2x2,3x3) float32 error stays within 2x the im2col path's") {
  // The bound docs/conv2d_cpu.md states: at the UNet's 3x3 shapes, float32
  // Winograd's error against the float64 result is at most twice that of the
  // im2col GEMM (same inputs), forward, backward-data and backward-weight,
  // and all stay below 1e-6 normalised error.
  struct Case {
    int64_t N, Cin, Cout, HW;
  };
  uint64_t stream = 40;
  for (const Case& c : {Case{2, 64, 64, 16}, Case{4, 128, 128, 8}, Case{2, 192, 64, 16}}) {
    const Tensor x = randn({c.N, c.Cin, c.HW, c.HW}, 9, stream++, DType::f64);
    const Tensor w = mul_scalar(randn({c.Cout, c.Cin, 3, 3}, 9, stream++, DType::f64), 0.05);
    const Tensor gy = randn({c.N, c.Cout, c.HW, c.HW}, 9, stream++, DType::f64);
    const Tensor y64 = kernels::conv2d_fwd(x, w, Tensor(), 1, 1);
    const Tensor gx64 = kernels::conv2d_bwd_data(gy, w, x.shape(), 1, 1);
    const Tensor gw64 = kernels::conv2d_bwd_weight(x, gy, w.shape(), 1, 1);
    const Tensor x32 = x.to(DType::f32), w32 = w.to(DType::f32), gy32 = gy.to(DType::f32);
    double err[2][3];
    int i = 0;
    for (const kernels::Conv2dCpuAlgo algo :
         {kernels::Conv2dCpuAlgo::im2col, kernels::Conv2dCpuAlgo::winograd}) {
      const kernels::Conv2dCpuAlgoScope scope(algo);
      err[i][0] = normalised_error(kernels::conv2d_fwd(x32, w32, Tensor(), 1, 1), y64);
      err[i][1] = normalised_error(kernels::conv2d_bwd_data(gy32, w32, x.shape(), 1, 1), gx64);
      err[i][2] = normalised_error(kernels::conv2d_bwd_weight(x32, gy32, w.shape(), 1, 1), gw64);
      ++i;
    }
    INFO(c.Cin << "->" << c.Cout << " @" << c.HW << ": fwd im2col " << err[0][0] << " winograd " << err[1][0]
               << "; bwd-data im2col " << err[0][1] << " winograd " << err[1][1] << "; bwd-weight im2col "
               << err[0][2] << " winograd " << err[1][2]);
    for (int k = 0; k < 3; ++k) {
      CHECK(err[1][k] <= 2 * err[0][k]);
      CHECK(err[1][k] < 1e-6);
      CHECK(err[0][k] > 0);  // float32 really rounded: the comparison means something
    }
  }
}
