// Forward and backward values of the layer ops (silu, group_norm, max_pool2d,
// upsample_bilinear2d, concat, mse_loss) against PyTorch, a few cases worked
// on paper, and the errors for bad shapes.
//
// Reference data: tests/data/layers_reference.json, made by
// tests/reference/make_layers_reference.py (PyTorch, float64, seeded inputs
// stored in the file).
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "autograd/engine.h"
#include "autograd/functions.h"
#include "kernels/conv2d.h"
#include "kernels/mse_loss.h"
#include "kernels/op_profile.h"
#include "tensor/rng.h"
#include "tests/gradcheck.h"

using namespace ddpm;
using ddpm::test::normalised_error;

namespace {

const nlohmann::json& reference() {
  static const nlohmann::json j = [] {
    const std::string path = std::string(DDPM_TEST_DATA_DIR) + "/layers_reference.json";
    std::ifstream f(path);
    if (!f) throw std::runtime_error("cannot open " + path);
    return nlohmann::json::parse(f);
  }();
  return j;
}

Tensor from_json(const nlohmann::json& t, DType dtype) {
  const Shape shape = t.at("shape").get<Shape>();
  const std::vector<double> data = t.at("data").get<std::vector<double>>();
  return Tensor::from_host(data.data(), shape, dtype);
}

// Runs the case's op on `in` with the case's parameters.
Tensor run_op(const nlohmann::json& c, const std::vector<Tensor>& in) {
  const std::string op = c.at("op");
  const nlohmann::json& p = c.at("params");
  if (op == "silu") return silu(in[0]);
  if (op == "group_norm")
    return group_norm(in[0], p.at("groups").get<int64_t>(), in.size() > 1 ? in[1] : Tensor(),
                      in.size() > 2 ? in[2] : Tensor(), p.at("eps").get<double>());
  if (op == "max_pool2d") return max_pool2d(in[0], p.at("kernel").get<int64_t>());
  if (op == "upsample_bilinear2d") return upsample_bilinear2d(in[0], p.at("scale").get<int64_t>());
  if (op == "concat") return concat(in, p.at("dim").get<int64_t>());
  if (op == "mse_loss") return mse_loss(in[0], in[1]);
  throw std::runtime_error("layers_reference.json: unknown op " + op);
}

// Runs every reference case in `dtype`; output and input gradients must be
// within tol (normalised error) of PyTorch's float64 values.
void check_against_reference(DType dtype, double tol) {
  std::set<std::string> ops;
  for (const nlohmann::json& c : reference().at("cases")) {
    const std::string name = c.at("op").get<std::string>() + " " + c.at("label").get<std::string>();
    ops.insert(c.at("op").get<std::string>());
    std::vector<Tensor> in;
    for (const nlohmann::json& t : c.at("inputs")) {
      in.push_back(from_json(t, dtype));
      in.back().set_requires_grad(true);
    }
    Tensor y = run_op(c, in);
    const Tensor want_y = from_json(c.at("output"), DType::f64);
    REQUIRE_MESSAGE(y.shape() == want_y.shape(), name << ": output " << y.desc());
    const double err_y = normalised_error(y, want_y);
    CHECK_MESSAGE(err_y <= tol, name << ": output err " << err_y);
    autograd::backward(y, from_json(c.at("grad_out"), dtype));
    const nlohmann::json& grads = c.at("grads");
    for (size_t i = 0; i < in.size(); ++i) {
      const Tensor want = from_json(grads.at(i), DType::f64);
      REQUIRE_MESSAGE(in[i].grad().defined(), name << ": no gradient for input " << i);
      const double err = normalised_error(in[i].grad(), want);
      CHECK_MESSAGE(err <= tol, name << ": grad of input " << i << " err " << err);
    }
  }
  // The file covers every layer op.
  CHECK(ops == std::set<std::string>{"silu", "group_norm", "max_pool2d", "upsample_bilinear2d", "concat",
                                     "mse_loss"});
}

Tensor tensor_f64(std::vector<double> v, Shape s) { return Tensor::from_vector(v, s); }

}  // namespace

TEST_CASE("forward: layer ops match PyTorch in float64") {
  // Same formulas in the same precision; only the summation order of the
  // reductions (at most a few hundred terms) and algebraically equal
  // rearrangements differ, which costs ~1e-15 relative; 1e-12 leaves room for
  // that and still catches any wrong term.
  check_against_reference(DType::f64, 1e-12);
}

TEST_CASE("forward: layer ops match PyTorch in float32") {
  // Inputs and results rounded to float (2^-24 relative each), float
  // arithmetic in the elementwise steps, statistics in double: expected
  // errors ~1e-7, amplified a little by GroupNorm's conditioning (inputs with
  // mean 3, std 2); 1e-5 is far below what a wrong formula gives.
  check_against_reference(DType::f32, 1e-5);
}

TEST_CASE("forward: max_pool2d by hand, with ties and dropped edges") {
  // 3 x 5 -> 1 x 2: the last row and the last column are outside every window.
  Tensor x = tensor_f64({1, 4, 3, 2, 99,  //
                         2, 0, 5, 5, 99,  //
                         99, 99, 99, 99, 99},
                        {1, 1, 3, 5})
                 .set_requires_grad();
  Tensor y = max_pool2d(x, 2);
  CHECK(y.shape() == Shape{1, 1, 1, 2});
  CHECK(y.to_vector<double>() == std::vector<double>{4, 5});
  autograd::backward(y, tensor_f64({10, 20}, {1, 1, 1, 2}));
  // The second window holds 3, 2, 5, 5: the tie goes to the first 5 in
  // row-major order.
  CHECK(x.grad().to_vector<double>() == std::vector<double>{0, 10, 0, 0, 0,  //
                                                            0, 0, 20, 0, 0,  //
                                                            0, 0, 0, 0, 0});
  // All equal: the gradient goes to the top-left element.
  Tensor z = Tensor::ones({1, 1, 2, 2}, DType::f64).set_requires_grad();
  autograd::backward(max_pool2d(z, 2), tensor_f64({7}, {1, 1, 1, 1}));
  CHECK(z.grad().to_vector<double>() == std::vector<double>{7, 0, 0, 0});
}

TEST_CASE("forward: max_pool2d 2x2 follows the window rule with ties and NaNs (vectorised paths)") {
  // Integers in [0, 3) make ties in most windows; some windows get one or two
  // NaNs. Reference: scan the window in row-major order, take a value that is
  // greater than the best so far or is NaN (so the first maximum wins a tie
  // and the last NaN wins). Odd sizes leave a row and a column out. The
  // float32 backward has AVX-512 paths for rows of 16+ windows (with and
  // without a remainder), 8 and 4 windows (2 and 4 window rows at once, with
  // window rows left over), which the other shapes reach.
  struct Hw {
    int64_t H, W;
  };
  for (const Hw hw :
       {Hw{9, 11}, Hw{32, 32}, Hw{4, 40}, Hw{16, 16}, Hw{9, 16}, Hw{8, 8}, Hw{14, 8}, Hw{6, 8}}) {
    const int64_t N = 2, C = 3, H = hw.H, W = hw.W, OH = H / 2, OW = W / 2;
    CAPTURE(H);
    CAPTURE(W);
    std::vector<double> xv = rand_uniform({N, C, H, W}, 0.0, 3.0, 5, 1, DType::f64).to_vector<double>();
    for (double& v : xv) v = std::floor(v);
    const double nan = std::nan("");
    for (size_t i = 0; i < xv.size(); i += 7) xv[i] = nan;
    for (size_t i = 3; i < xv.size(); i += 29) xv[i] = nan;
    for (const DType dt : {DType::f64, DType::f32}) {
      CAPTURE(dtype_name(dt));
      Tensor x = Tensor::from_vector(xv, {N, C, H, W}).to(dt).set_requires_grad();
      Tensor y = max_pool2d(x, 2);
      std::vector<double> gv(static_cast<size_t>(N * C * OH * OW));
      for (size_t i = 0; i < gv.size(); ++i) gv[i] = static_cast<double>(i + 1);
      autograd::backward(y, Tensor::from_vector(gv, y.shape()).to(dt));
      const std::vector<double> yv = y.to(DType::f64).to_vector<double>();
      const std::vector<double> gx = x.grad().to(DType::f64).to_vector<double>();
      std::vector<double> want_gx(xv.size(), 0.0);
      for (int64_t p = 0; p < N * C; ++p)
        for (int64_t i = 0; i < OH; ++i)
          for (int64_t j = 0; j < OW; ++j) {
            int64_t best = p * H * W + 2 * i * W + 2 * j;
            for (int64_t a = 0; a < 2; ++a)
              for (int64_t b = 0; b < 2; ++b) {
                const int64_t at = p * H * W + (2 * i + a) * W + 2 * j + b;
                const double v = xv[static_cast<size_t>(at)];
                if (v > xv[static_cast<size_t>(best)] || std::isnan(v)) best = at;
              }
            const size_t o = static_cast<size_t>((p * OH + i) * OW + j);
            const double want = xv[static_cast<size_t>(best)];
            if (std::isnan(want)) {
              CHECK(std::isnan(yv[o]));
            } else {
              CHECK(yv[o] == want);
            }
            want_gx[static_cast<size_t>(best)] = gv[o];
          }
      CHECK(gx == want_gx);
    }
  }
}

TEST_CASE("forward: upsample_bilinear2d by hand (align_corners)") {
  // x = [[0, 1], [2, 3]] is the plane v(r, c) = 2r + c, which bilinear
  // interpolation reproduces exactly: output (i, j) samples r = i/3, c = j/3,
  // so y = (2i + j) / 3. Tolerance 1e-15: weights like 1/3 are not exact in
  // binary, so a few ulps of rounding remain.
  Tensor x = tensor_f64({0, 1, 2, 3}, {1, 1, 2, 2}).set_requires_grad();
  Tensor y = upsample_bilinear2d(x, 2);
  REQUIRE(y.shape() == Shape{1, 1, 4, 4});
  const std::vector<double> v = y.to_vector<double>();
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j)
      CHECK(v[static_cast<size_t>(i * 4 + j)] == doctest::Approx((2.0 * i + j) / 3.0).epsilon(1e-15));
  // With g = 1 everywhere each corner collects (sum_i (1 - i/3))^2 = 2^2 = 4.
  autograd::backward(y, Tensor::ones({1, 1, 4, 4}, DType::f64));
  for (double gv : x.grad().to_vector<double>()) CHECK(gv == doctest::Approx(4.0).epsilon(1e-15));
  // A 1x1 input is copied to every output pixel.
  CHECK(upsample_bilinear2d(tensor_f64({2.5}, {1, 1, 1, 1}), 3).to_vector<double>() ==
        std::vector<double>(9, 2.5));
}

TEST_CASE("forward: layer ops reject bad shapes, naming them") {
  using doctest::Contains;
  const Tensor x = Tensor::zeros({2, 6, 3, 3});
  CHECK_THROWS_WITH_AS(group_norm(x, 4, Tensor(), Tensor()), Contains("[2, 6, 3, 3]"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(group_norm(x, 3, Tensor::ones({5}), Tensor::zeros({5})),
                       Contains("gamma is Tensor[5] f32 cpu, expected shape [6]"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(group_norm(x, 3, Tensor::ones({6}), Tensor()), Contains("both defined"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(group_norm(Tensor::zeros({6}), 3, Tensor(), Tensor()), Contains("Tensor[6]"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(max_pool2d(Tensor::zeros({6, 3, 3}), 2), Contains("max_pool2d: x is Tensor[6, 3, 3]"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(max_pool2d(Tensor::zeros({1, 1, 1, 4}), 2), Contains("[1, 1, 1, 4]"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(upsample_bilinear2d(Tensor::zeros({3, 4}), 2),
                       Contains("upsample_bilinear2d: x is Tensor[3, 4]"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(concat({x, Tensor::zeros({2, 6, 3, 4})}, 1), Contains("[2, 6, 3, 3], [2, 6, 3, 4]"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(concat({x, Tensor::zeros({2, 6, 3})}, 1), Contains("[2, 6, 3]"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(concat({x}, 4), Contains("dim 4 out of range"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(concat({}, 1), Contains("concat: no inputs"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(mse_loss(x, Tensor::zeros({2, 6, 1, 1})),
                       Contains("mse_loss: pred Tensor[2, 6, 3, 3] f32 cpu and target Tensor[2, 6, 1, 1]"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(mse_loss(x, Tensor::zeros({2, 6, 3, 3}, DType::f64)), Contains("mse_loss"),
                       std::invalid_argument);
}

TEST_CASE("forward: group_norm and its gradients do not depend on the thread count") {
#ifdef _OPENMP
  // Large enough that the kernels split the groups across threads.
  const Shape s{4, 32, 16, 16};
  auto run = [&](int threads) {
    omp_set_num_threads(threads);
    Tensor x = randn(s, 7, 1).set_requires_grad();
    Tensor w = randn({32}, 7, 2).set_requires_grad();
    Tensor b = randn({32}, 7, 3).set_requires_grad();
    Tensor y = silu(group_norm(x, 8, w, b));
    autograd::backward(y, randn(s, 7, 4));
    return std::vector<std::vector<float>>{y.to_vector<float>(), x.grad().to_vector<float>(),
                                           w.grad().to_vector<float>(), b.grad().to_vector<float>()};
  };
  const int saved = omp_get_max_threads();
  const auto one = run(1), two = run(2);
  omp_set_num_threads(saved);
  for (size_t i = 0; i < one.size(); ++i) CHECK(one[i] == two[i]);
#endif
}

TEST_CASE("forward: mse_loss's fused loss and gradient equal the two-pass kernels bit for bit") {
  // The forward that also writes d loss / d pred (the training step's path)
  // against mse_loss_fwd then mse_loss_bwd with an upstream gradient of 1,
  // across the chunk size (8192) and both dtypes; and the autograd function
  // with an upstream gradient other than 1 (the two-pass backward).
  for (const DType dt : {DType::f32, DType::f64})
    for (const int64_t n : {int64_t{7}, int64_t{8192 * 2 + 5}}) {
      CAPTURE(n);
      const Tensor p = randn({n}, 21, 1, dt), t = randn({n}, 21, 2, dt);
      Tensor fused;
      const Tensor loss = kernels::mse_loss_fwd(p, t, &fused);
      Tensor two;
      kernels::mse_loss_bwd(p, t, Tensor::ones({}, dt), &two, nullptr);
      CHECK(loss.item() == kernels::mse_loss_fwd(p, t).item());
      CHECK(fused.to(DType::f64).to_vector<double>() == two.to(DType::f64).to_vector<double>());

      // The autograd function takes the fused path: no backward kernel runs.
      Tensor pg = p.detach().set_requires_grad();
      kernels::set_op_profiling(true);
      kernels::reset_op_profile();
      autograd::backward(mse_loss(pg, t));
      int64_t bwd_calls = 0, fwd_calls = 0;
      for (const kernels::OpTime& o : kernels::op_profile()) {
        if (o.op == "mse_loss backward") bwd_calls += o.calls;
        if (o.op == "mse_loss") fwd_calls += o.calls;
      }
      kernels::set_op_profiling(false);
      kernels::reset_op_profile();
      CHECK(fwd_calls == 1);
      CHECK(bwd_calls == 0);
      CHECK(pg.grad().to(DType::f64).to_vector<double>() == two.to(DType::f64).to_vector<double>());
      Tensor pg3 = p.detach().set_requires_grad();
      autograd::backward(mul_scalar(mse_loss(pg3, t), 3.0));
      Tensor three;
      kernels::mse_loss_bwd(p, t, Tensor::full({}, 3.0, dt), &three, nullptr);
      CHECK(pg3.grad().to(DType::f64).to_vector<double>() == three.to(DType::f64).to_vector<double>());
    }
}

namespace ddpm::test {

// conv2d's fused per-plane add (the residual block's time embedding) is, on
// the CPU, the broadcast add after the convolution: the same float additions,
// so the same bits, forward and backward, in float32 and float64 and under
// every CPU algorithm. (Its CUDA epilogues are parity cases of tests/ops/
// conv2d.cpp and checked in the dense emulation.)
TEST_CASE("forward: conv2d's per-plane add equals the broadcast add after the convolution, bit for bit") {
  for (const DType dt : {DType::f32, DType::f64})
    for (const kernels::Conv2dCpuAlgo algo :
         {kernels::Conv2dCpuAlgo::automatic, kernels::Conv2dCpuAlgo::im2col,
          kernels::Conv2dCpuAlgo::winograd}) {
      kernels::Conv2dCpuAlgoScope use(algo);
      INFO(dtype_name(dt) << " " << kernels::conv2d_cpu_algo_name(algo));
      Tensor x = randn({2, 16, 8, 8}, 11, 1, dt).set_requires_grad();
      Tensor w = randn({16, 16, 3, 3}, 11, 2, dt).set_requires_grad();
      Tensor b = randn({16}, 11, 3, dt).set_requires_grad();
      Tensor t = randn({2, 16}, 11, 4, dt).set_requires_grad();
      const Tensor g = randn({2, 16, 8, 8}, 11, 5, dt);
      const Tensor fused = conv2d(x, w, b, 1, 1, t);
      autograd::backward(fused, g);
      const std::vector<Tensor> fused_grads = {x.grad(), w.grad(), b.grad(), t.grad()};
      for (Tensor* p : {&x, &w, &b, &t}) p->zero_grad();
      const Tensor plain = add(conv2d(x, w, b, 1, 1), reshape(t, {2, 16, 1, 1}));
      autograd::backward(plain, g);
      CHECK(fused.to_vector<double>() == plain.to_vector<double>());
      const std::vector<Tensor> plain_grads = {x.grad(), w.grad(), b.grad(), t.grad()};
      for (size_t i = 0; i < 4; ++i)
        CHECK(fused_grads[i].to_vector<double>() == plain_grads[i].to_vector<double>());
    }
  // A wrong shape is refused with both shapes named.
  CHECK_THROWS_WITH_AS(
      conv2d(randn({2, 3, 5, 5}, 1, 1), randn({4, 3, 3, 3}, 1, 2), Tensor(), 1, 1, randn({4}, 1, 3)),
      doctest::Contains("expected shape [2, 4]"), std::invalid_argument);
}

}  // namespace ddpm::test
