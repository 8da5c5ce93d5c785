// CUDA parity cases for the elementwise ops: every op of kernels/ops.h but
// conv2d, group_norm, linear and matmul (tests/gpu/parity_dense.cpp).
//
// Differentiable ops run through autograd: inputs requiring gradients,
// y = op(inputs), autograd::backward(y, upstream), and the results are y and every
// input's gradient. Shapes cover the layouts the kernels tell apart: odd
// sizes (3x5x7: the scalar tails of the float4 loops), multiples of 4 (the
// float4 paths), the per-channel broadcast [N,C,1,1] + [N,C,H,W], a scalar
// operand, both operands broadcast, reductions small enough for one thread
// per output and large enough for split blocks, and unaligned views (a
// parameter's view into a flat buffer, gradients accumulated in place), which
// take the scalar variants.
//
// Tolerances (normalised error ||cuda - cpu|| / ||cpu||), from where the two
// backends may differ:
//   0      add/sub/mul/div/neg, copies (concat, max pooling): IEEE operations
//          on the same operands in the same order give the same bits.
//   1e-6   everything else, one rounding or a few ulp apart per element
//          (float relative precision 6e-8): transcendental functions (CUDA's
//          expf/logf/sinf/cosf within 2 ulp, glibc's within 1), multiply-adds
//          fused differently by nvcc and GCC, sums in another order (double
//          accumulation on the GPU, float or double on the CPU).
//   2^-23  the noise of q_sample / ddpm_step / ddim_step: the same Philox
//          draw and double Box-Muller; the device's double log/cos (within
//          2 ulp of double) can move a value across a float rounding boundary,
//          so each element may differ by at most 1 ulp, |d| <= 2^-23 |x|.
#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "autograd/functions.h"
#include "autograd/node.h"
#include "kernels/adam_update.h"
#include "kernels/ddim_step.h"
#include "kernels/ddpm_step.h"
#include "kernels/ema_update.h"
#include "kernels/q_sample.h"
#include "tests/gpu/parity.h"

namespace ddpm::test {

namespace {

constexpr double kExact = 0.0;
constexpr double kRounding = 1e-6;
const double kOneUlp = std::ldexp(1.0, -23);
const char* kWhyExact = "IEEE add/sub/mul/div, negation and copies: the same bits on both devices";
const char* kWhyRounding =
    "a few ulp per element: CUDA vs glibc transcendentals, fused multiply-adds, summation order";
// Both devices sum in double (in different orders) and round once: at most
// an ulp apart. (Until 2026-11-26 the CPU summed in float, which drifted to
// 5e-6 on the 6519-term case; the first GPU run caught it.)
const char* kWhyReduction = "sum_to in double on both devices, in different orders, rounded once: <= 1 ulp";
const char* kWhyNoise =
    "same Philox draw and double Box-Muller; device double log/cos may flip the float rounding: <= 1 ulp";

using Inputs = std::vector<Tensor>;

// One input of a case: shape, value range, whether it requires a gradient,
// and whether it is an unaligned view (a parameter in a flat buffer at an odd
// offset, its gradient accumulated in place into another unaligned view).
struct In {
  Shape shape;
  double lo = -1, hi = 1;
  bool grad = true;
  bool unaligned = false;
};

// A view of a fresh buffer of n + extra elements, starting `extra` elements
// in: not 16-byte aligned for extra = 1, 2, 3.
Tensor offset_view(const Shape& shape, Device device, int64_t extra) {
  const Tensor buf = Tensor::zeros({shape_numel(shape) + extra}, DType::f32, device);
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = buf.impl()->storage;
  impl->offset = buf.impl()->offset + extra;
  impl->shape = shape;
  impl->dtype = DType::f32;
  return Tensor(std::move(impl));
}

Tensor make_input(const In& in, uint64_t stream, Device device) {
  if (!in.unaligned) return parity_input(in.shape, stream, device, in.lo, in.hi, in.grad);
  Tensor v = offset_view(in.shape, device, 1);
  v.copy_(parity_input(in.shape, stream, device, in.lo, in.hi));
  v.set_requires_grad(in.grad);
  // Pre-bound zero gradient: backward adds into it in place (binary_inplace).
  if (in.grad) v.impl()->grad = offset_view(in.shape, device, 3);
  return v;
}

NamedResults run_with_grads(const std::vector<In>& ins, const std::function<Tensor(const Inputs&)>& fn,
                            Device device) {
  Inputs xs;
  for (size_t i = 0; i < ins.size(); ++i) xs.push_back(make_input(ins[i], 10 + i, device));
  const Tensor y = fn(xs);
  autograd::backward(y, parity_input(y.shape(), 99, device));
  NamedResults r{{"y", y}};
  for (size_t i = 0; i < ins.size(); ++i)
    if (ins[i].grad) r.emplace_back("grad input " + std::to_string(i), xs[i].grad());
  return r;
}

ParityCase grad_case(const std::string& op, const std::string& label, std::vector<In> ins,
                     std::function<Tensor(const Inputs&)> fn, double tol, const std::string& why) {
  return ParityCase{
      op, label, [ins = std::move(ins), fn = std::move(fn)](Device d) { return run_with_grads(ins, fn, d); },
      tol, why};
}

// ---- reshape, binary ----

void add_binary_cases(std::vector<ParityCase>& cases) {
  cases.push_back(grad_case(
      "reshape", "[3,5,7] as [5,21] times [5,21]", {{{3, 5, 7}}, {{5, 21}}},
      [](const Inputs& x) {
        return mul(reshape(x[0], {5, 21}), x[1]);
      },
      kExact, kWhyExact));

  using Fn = Tensor (*)(const Tensor&, const Tensor&);
  const std::vector<std::pair<std::string, Fn>> ops = {
      {"add", add}, {"sub", sub}, {"mul", mul}, {"div", div}};
  struct Layout {
    std::string label;
    Shape a, b;
    double tol;
    const char* why;
  };
  const std::vector<Layout> layouts = {
      {"same shape [3,5,7] (odd: scalar tail)", {3, 5, 7}, {3, 5, 7}, kExact, kWhyExact},
      {"same shape [4,8,8] (float4)", {4, 8, 8}, {4, 8, 8}, kExact, kWhyExact},
      {"per-channel [2,6,5,7] + [2,6,1,1] (odd rows)", {2, 6, 5, 7}, {2, 6, 1, 1}, kRounding, kWhyReduction},
      {"per-channel [2,4,8,8] + [2,4,1,1] (float4 rows)",
       {2, 4, 8, 8},
       {2, 4, 1, 1},
       kRounding,
       kWhyReduction},
      {"per-channel first [2,4,1,1] + [2,4,8,8]", {2, 4, 1, 1}, {2, 4, 8, 8}, kRounding, kWhyReduction},
      {"scalar [3,5,7] + []", {3, 5, 7}, {}, kRounding, kWhyReduction},
      {"both broadcast [4,1,6] + [1,5,6]", {4, 1, 6}, {1, 5, 6}, kRounding, kWhyReduction},
      {"bias [64,33] + [33] (reduce over rows)", {64, 33}, {33}, kRounding, kWhyReduction},
      {"per-channel [2,3,20,20] + [2,3,1,1] (split-block sum_to)",
       {2, 3, 20, 20},
       {2, 3, 1, 1},
       kRounding,
       kWhyReduction},
      {"scalar [3,41,53] + [] (two-pass sum_to)", {3, 41, 53}, {}, kRounding, kWhyReduction}};
  for (const auto& [name, fn] : ops)
    for (const Layout& l : layouts) {
      const bool is_div = name == "div";
      // div: keep the divisor away from 0 so the gradients stay moderate.
      In a{l.a}, b{l.b, is_div ? 0.5 : -1.0, is_div ? 2.0 : 1.0};
      cases.push_back(grad_case(
          name, l.label, {a, b}, [fn = fn](const Inputs& x) { return fn(x[0], x[1]); }, l.tol, l.why));
    }
  // Unaligned views with gradients accumulated in place into unaligned views.
  for (const auto& [name, fn] : ops) {
    const bool is_div = name == "div";
    In a{{3, 5, 7}, -1, 1, true, true}, b{{3, 5, 7}, is_div ? 0.5 : -1.0, is_div ? 2.0 : 1.0, true, true};
    cases.push_back(grad_case(
        name, "unaligned views [3,5,7], gradients accumulated in place", {a, b},
        [fn = fn](const Inputs& x) { return fn(x[0], x[1]); }, kExact, kWhyExact));
  }
}

// ---- unary, silu, reductions, loss ----

void add_pointwise_cases(std::vector<ParityCase>& cases) {
  using Fn = Tensor (*)(const Tensor&);
  const std::vector<std::tuple<std::string, Fn, double, double>> ops = {
      {"neg", neg, -1, 1},    {"exp", exp, -3, 3}, {"log", log, 0.1, 2},
      {"sqrt", sqrt, 0.1, 2}, {"sin", sin, -4, 4}, {"cos", cos, -4, 4}};
  for (const auto& [name, fn, lo, hi] : ops) {
    const double tol = name == "neg" ? kExact : kRounding;
    const char* why = name == "neg" ? kWhyExact : kWhyRounding;
    for (const auto& [label, shape, unaligned] :
         std::vector<std::tuple<std::string, Shape, bool>>{{"[3,5,7] (odd)", {3, 5, 7}, false},
                                                           {"[4,8,8] (float4)", {4, 8, 8}, false},
                                                           {"[3,5,7] unaligned view", {3, 5, 7}, true}})
      cases.push_back(grad_case(
          name, label, {{shape, lo, hi, true, unaligned}}, [fn = fn](const Inputs& x) { return fn(x[0]); },
          tol, why));
  }
  for (const auto& [label, shape, unaligned] :
       std::vector<std::tuple<std::string, Shape, bool>>{{"[3,5,7] (odd)", {3, 5, 7}, false},
                                                         {"[2,8,16,16] (float4)", {2, 8, 16, 16}, false},
                                                         {"[3,5,7] unaligned view", {3, 5, 7}, true}}) {
    cases.push_back(grad_case(
        "silu", label, {{shape, -6, 6, true, unaligned}}, [](const Inputs& x) { return silu(x[0]); },
        kRounding, kWhyRounding));
    cases.push_back(grad_case(
        "mse_loss", label, {{shape, -1, 1, true, unaligned}, {shape, -1, 1, true, unaligned}},
        [](const Inputs& x) { return mse_loss(x[0], x[1]); }, kRounding, kWhyRounding));
  }
  for (const auto& [label, shape, unaligned] : std::vector<std::tuple<std::string, Shape, bool>>{
           {"[3,5,7] (one block)", {3, 5, 7}, false},
           {"[2,8,32,32] (several blocks, float4)", {2, 8, 32, 32}, false},
           {"[100003] (odd, several blocks)", {100003}, false},
           {"[3,5,7] unaligned view", {3, 5, 7}, true}}) {
    cases.push_back(grad_case(
        "sum", label, {{shape, -1, 1, true, unaligned}}, [](const Inputs& x) { return sum(x[0]); }, kRounding,
        kWhyRounding));
    cases.push_back(grad_case(
        "mean", label, {{shape, -1, 1, true, unaligned}}, [](const Inputs& x) { return mean(x[0]); },
        kRounding, kWhyRounding));
  }
  cases.push_back(grad_case(
      "mse_loss", "[4,1,32,32], target without gradient", {{{4, 1, 32, 32}}, {{4, 1, 32, 32}, -1, 1, false}},
      [](const Inputs& x) { return mse_loss(x[0], x[1]); }, kRounding, kWhyRounding));
}

// ---- layers: concat, pooling, upsampling ----

// Inputs rounded down to integers in [0, 3): many equal values in a window,
// so the first-maximum rule decides.
Tensor tied(const Tensor& x) {
  std::vector<float> v = x.to_vector<float>();
  for (float& f : v) f = std::floor(f);
  return Tensor::from_vector(v, x.shape(), x.device());
}

void add_layer_cases(std::vector<ParityCase>& cases) {
  struct Cat {
    std::string label;
    std::vector<Shape> shapes;
    int64_t dim;
  };
  for (const Cat& c :
       std::vector<Cat>{{"[2,3,5,7] + [2,4,5,7] dim 1 (odd)", {{2, 3, 5, 7}, {2, 4, 5, 7}}, 1},
                        {"[2,8,8,8] + [2,8,8,8] dim 1 (float4)", {{2, 8, 8, 8}, {2, 8, 8, 8}}, 1},
                        {"three inputs along dim 3", {{2, 3, 4, 5}, {2, 3, 4, 2}, {2, 3, 4, 1}}, 3},
                        {"[3,5] + [1,5] dim 0", {{3, 5}, {1, 5}}, 0},
                        {"ten inputs (two launches)", std::vector<Shape>(10, Shape{2, 2, 4}), 1}}) {
    std::vector<In> ins;
    for (const Shape& s : c.shapes) ins.push_back({s});
    cases.push_back(grad_case(
        "concat", c.label, ins, [dim = c.dim](const Inputs& x) { return concat(x, dim); }, kExact,
        kWhyExact));
  }
  cases.push_back(grad_case(
      "concat", "[2,3,4,4] + [2,5,4,4], second without gradient",
      {{{2, 3, 4, 4}}, {{2, 5, 4, 4}, -1, 1, false}}, [](const Inputs& x) { return concat(x, 1); }, kExact,
      kWhyExact));

  for (const auto& [label, shape, k] : std::vector<std::tuple<std::string, Shape, int64_t>>{
           {"[2,3,7,9] k2 (odd: last row/column dropped)", {2, 3, 7, 9}, 2},
           {"[2,4,16,16] k2", {2, 4, 16, 16}, 2},
           {"[1,2,9,9] k3", {1, 2, 9, 9}, 3}})
    cases.push_back(grad_case(
        "max_pool2d", label, {{shape}}, [k = k](const Inputs& x) { return max_pool2d(x[0], k); }, kExact,
        kWhyExact));
  cases.push_back(ParityCase{"max_pool2d", "[2,3,6,6] k2 with ties (first maximum wins)",
                             [](Device d) {
                               Tensor x = tied(parity_input({2, 3, 6, 6}, 10, d, 0, 3));
                               x.set_requires_grad(true);
                               const Tensor y = max_pool2d(x, 2);
                               autograd::backward(y, parity_input(y.shape(), 99, d));
                               return NamedResults{{"y", y}, {"grad x", x.grad()}};
                             },
                             kExact, kWhyExact});

  for (const auto& [label, shape, s] : std::vector<std::tuple<std::string, Shape, int64_t>>{
           {"[2,3,5,7] x2 (odd)", {2, 3, 5, 7}, 2},
           {"[1,4,8,8] x2", {1, 4, 8, 8}, 2},
           {"[1,2,3,4] x3", {1, 2, 3, 4}, 3},
           {"[2,2,1,4] x2 (one input row)", {2, 2, 1, 4}, 2}})
    cases.push_back(grad_case(
        "upsample_bilinear2d", label, {{shape}},
        [s = s](const Inputs& x) { return upsample_bilinear2d(x[0], s); }, kRounding, kWhyRounding));
}

// ---- diffusion and optimiser ops (no autograd) ----

void add_diffusion_cases(std::vector<ParityCase>& cases) {
  for (const auto& [label, shape] : std::vector<std::pair<std::string, Shape>>{
           {"[3,5,7] (odd per sample)", {3, 5, 7}}, {"[4,1,32,32]", {4, 1, 32, 32}}})
    for (bool v_pred : {false, true}) {
      const std::string name = label + (v_pred ? ", v target" : ", epsilon target");
      cases.push_back(
          ParityCase{"q_sample", name,
                     [shape = shape, v_pred](Device d) {
                       const Tensor x0 = parity_input(shape, 10, d);
                       const Tensor a = parity_input({shape[0]}, 11, d, 0.1, 1),
                                    b = parity_input({shape[0]}, 12, d, 0.1, 1);
                       const kernels::QSampleResult q = kernels::q_sample(x0, a, b, 7, 2, 1000, v_pred);
                       return NamedResults{{"x_t", q.x_t}, {"noise", q.noise}, {"target", q.target}};
                     },
                     kRounding, kWhyRounding});
    }
  cases.push_back(ParityCase{
      "q_sample", "noise alone, [4,1,32,32] at offset 2^33",
      [](Device d) {
        const Tensor x0 = parity_input({4, 1, 32, 32}, 10, d);
        const Tensor a = parity_input({4}, 11, d, 0.1, 1), b = parity_input({4}, 12, d, 0.1, 1);
        const auto q = kernels::q_sample(x0, a, b, 7, 2, uint64_t{1} << 33, false);
        return NamedResults{{"noise", q.noise}};
      },
      kOneUlp, kWhyNoise});

  for (const auto& [label, shape] :
       std::vector<std::pair<std::string, Shape>>{{"[3,5,7]", {3, 5, 7}}, {"[4,1,32,32]", {4, 1, 32, 32}}})
    for (bool v_pred : {false, true})
      for (bool clip : {false, true}) {
        const std::string name = label + (v_pred ? ", v" : ", epsilon") +
                                 (clip ? ", clipped x0" : "") + ", sigma > 0";
        cases.push_back(ParityCase{"ddpm_step", name,
                                   [shape = shape, v_pred, clip](Device d) {
                                     kernels::DdpmStepParams p;
                                     p.sqrt_ab = 0.6;
                                     p.sqrt_one_minus_ab = 0.8;
                                     p.c_x0 = 0.3;
                                     p.c_xt = 0.9;
                                     p.sigma = 0.2;
                                     p.clip_x0 = clip;
                                     p.v_pred = v_pred;
                                     p.seed = 5;
                                     p.stream = 4;
                                     p.offset = 4096;
                                     const Tensor x = parity_input(shape, 10, d, -3, 3);
                                     const Tensor m = parity_input(shape, 11, d, -2, 2);
                                     return NamedResults{{"x_prev", kernels::ddpm_step(x, m, p)}};
                                   },
                                   kRounding, kWhyRounding});
        cases.push_back(ParityCase{"ddim_step", name,
                                   [shape = shape, v_pred, clip](Device d) {
                                     kernels::DdimStepParams p;
                                     p.sqrt_ab = 0.6;
                                     p.sqrt_one_minus_ab = 0.8;
                                     p.sqrt_ab_prev = 0.7;
                                     p.c_eps = 0.5;
                                     p.sigma = 0.3;
                                     p.clip_x0 = clip;
                                     p.v_pred = v_pred;
                                     p.seed = 6;
                                     p.stream = 4;
                                     p.offset = 77;
                                     const Tensor x = parity_input(shape, 10, d, -3, 3);
                                     const Tensor m = parity_input(shape, 11, d, -2, 2);
                                     return NamedResults{{"x_prev", kernels::ddim_step(x, m, p)}};
                                   },
                                   kRounding, kWhyRounding});
      }
  // x_t = model output = 0 and sigma = 1: the step returns its noise z exactly.
  cases.push_back(ParityCase{"ddpm_step", "noise alone (x_t = model output = 0, sigma = 1), [3,5,7]",
                             [](Device d) {
                               kernels::DdpmStepParams p;
                               p.sqrt_ab = 0.6;
                               p.sqrt_one_minus_ab = 0.8;
                               p.c_x0 = 0.3;
                               p.c_xt = 0.9;
                               p.sigma = 1;
                               p.seed = 5;
                               p.stream = 4;
                               p.offset = 12345;
                               const Tensor z = Tensor::zeros({3, 5, 7}, DType::f32, d);
                               return NamedResults{{"noise", kernels::ddpm_step(z, z, p)}};
                             },
                             kOneUlp, kWhyNoise});
  cases.push_back(ParityCase{"ddim_step", "noise alone (x_t = model output = 0, sigma = 1), [3,5,7]",
                             [](Device d) {
                               kernels::DdimStepParams p;
                               p.sqrt_ab = 0.6;
                               p.sqrt_one_minus_ab = 0.8;
                               p.sqrt_ab_prev = 0.7;
                               p.c_eps = 0.5;
                               p.sigma = 1;
                               p.seed = 6;
                               p.stream = 4;
                               p.offset = 12345;
                               const Tensor z = Tensor::zeros({3, 5, 7}, DType::f32, d);
                               return NamedResults{{"noise", kernels::ddim_step(z, z, p)}};
                             },
                             kOneUlp, kWhyNoise});

  for (int mode = 0; mode < 3; ++mode)
    for (bool unaligned : {false, true}) {
      const std::string label = std::string(mode == 0   ? "Adam"
                                            : mode == 1 ? "Adam + L2 weight decay"
                                                        : "AdamW") +
                                ", 1003 parameters" + (unaligned ? ", unaligned views" : "");
      cases.push_back(ParityCase{"adam_update", label,
                                 [mode, unaligned](Device d) {
                                   const Shape s{1003};
                                   Tensor w = make_input({s, -1, 1, false, unaligned}, 10, d);
                                   const Tensor g = make_input({s, -1, 1, false, unaligned}, 11, d);
                                   Tensor m = make_input({s, -1, 1, false, unaligned}, 12, d);
                                   Tensor v = make_input({s, 0, 1, false, unaligned}, 13, d);
                                   kernels::AdamParams p;
                                   p.lr = 1e-2;
                                   p.weight_decay = mode == 0 ? 0.0 : 0.1;
                                   p.decoupled = mode == 2;
                                   p.step = 3;
                                   kernels::adam_update(w, g, m, v, p);
                                   p.step = 4;
                                   kernels::adam_update(w, g, m, v, p);
                                   return NamedResults{{"param", w}, {"exp_avg", m}, {"exp_avg_sq", v}};
                                 },
                                 kRounding, kWhyRounding});
    }
  for (bool unaligned : {false, true})
    cases.push_back(ParityCase{"ema_update",
                               std::string("1003 elements") + (unaligned ? ", unaligned views" : ""),
                               [unaligned](Device d) {
                                 Tensor e = make_input({{1003}, -1, 1, false, unaligned}, 10, d);
                                 const Tensor p = make_input({{1003}, -1, 1, false, unaligned}, 11, d);
                                 kernels::ema_update(e, p, 0.995);
                                 kernels::ema_update(e, p, 0.9);
                                 return NamedResults{{"ema", e}};
                               },
                               kRounding, kWhyRounding});
}

}  // namespace

std::vector<ParityCase> parity_cases_elementwise() {
  std::vector<ParityCase> cases;
  add_binary_cases(cases);
  add_pointwise_cases(cases);
  add_layer_cases(cases);
  add_diffusion_cases(cases);
  return cases;
}

}  // namespace ddpm::test
