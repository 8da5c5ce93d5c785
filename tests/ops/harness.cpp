// The runners' shared parts: the float64 gradient check, the normalised
// error, parity inputs, and gradient-check cases run as parity cases.
#include <cmath>
#include <sstream>

#include "autograd/functions.h"
#include "autograd/node.h"
#include "kernels/math_mode.h"
#include "tensor/rng.h"
#include "tests/gpu/parity.h"
#include "tests/gradcheck.h"
#include "tests/ops/op_cases.h"

namespace ddpm::test {

double normalised_error(const Tensor& a, const Tensor& b) {
  const std::vector<double> va = a.to_vector<double>(), vb = b.to_vector<double>();
  if (va.size() != vb.size()) return INFINITY;
  double num = 0, den = 0;
  for (size_t i = 0; i < va.size(); ++i) {
    num += (va[i] - vb[i]) * (va[i] - vb[i]);
    den += vb[i] * vb[i];
  }
  return std::sqrt(num) / std::max(std::sqrt(den), 1e-30);
}

namespace {
double weighted_sum(const Tensor& y, const Tensor& r) {
  const std::vector<double> vy = y.to_vector<double>(), vr = r.to_vector<double>();
  double s = 0;
  for (size_t i = 0; i < vy.size(); ++i) s += vy[i] * vr[i];
  return s;
}
}  // namespace

GradResult run_gradcheck(const GradCase& c, uint64_t seed) {
  std::vector<Tensor> inputs;
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    Tensor t = rand_uniform(c.inputs[i], c.lo, c.hi, seed, 100 + i, DType::f64);
    t.set_requires_grad(true);
    inputs.push_back(t);
  }
  Tensor y = c.fn(inputs);
  const Tensor r = randn(y.shape(), seed, 99, DType::f64);
  autograd::backward(y, r);

  const double h = 1e-6;
  GradResult res;
  std::ostringstream detail;
  autograd::NoGradGuard no_grad;
  for (size_t i = 0; i < inputs.size(); ++i) {
    Tensor numeric = Tensor::zeros(inputs[i].shape(), DType::f64);
    double* x = inputs[i].data<double>();
    double* n = numeric.data<double>();
    for (int64_t k = 0; k < inputs[i].numel(); ++k) {
      const double saved = x[k];
      x[k] = saved + h;
      const double up = weighted_sum(c.fn(inputs), r);
      x[k] = saved - h;
      const double down = weighted_sum(c.fn(inputs), r);
      x[k] = saved;
      n[k] = (up - down) / (2 * h);
    }
    const Tensor analytic = inputs[i].grad();
    const double err = analytic.defined() ? normalised_error(analytic, numeric) : INFINITY;
    res.max_error = std::max(res.max_error, err);
    detail << " input" << i << shape_str(inputs[i].shape()) << " err=" << err;
  }
  res.detail = detail.str();
  return res;
}

Tensor parity_input(const Shape& shape, uint64_t stream, Device device, double lo, double hi,
                    bool requires_grad) {
  Tensor t = rand_uniform(shape, lo, hi, 2024, stream, DType::f32);
  if (device != Device::cpu) t = t.to(device);
  t.set_requires_grad(requires_grad);
  return t;
}

ParityCase parity_from_grad(const GradCase& g) {
  ParityCase c;
  c.op = g.op;
  c.label = g.label + " (gradient-check case)";
  c.tol = g.parity_tol;
  c.why = g.parity_why;
  c.run = [g](Device dev) {
    kernels::MathModeScope mode(kernels::MathMode::fp32);
    std::vector<Tensor> xs;
    for (size_t i = 0; i < g.inputs.size(); ++i)
      xs.push_back(parity_input(g.inputs[i], 10 + i, dev, g.lo, g.hi, true));
    const Tensor y = g.fn(xs);
    autograd::backward(y, parity_input(y.shape(), 99, dev));
    NamedResults r{{"y", y.detach()}};
    for (size_t i = 0; i < xs.size(); ++i) r.emplace_back("grad input " + std::to_string(i), xs[i].grad());
    return r;
  };
  return c;
}

void derive_parity(std::vector<GradCase>& cases, double tol, const std::string& why) {
  for (GradCase& c : cases) {
    c.parity_tol = tol;
    c.parity_why = why;
  }
}

std::vector<ParityCase> parity_cases(const OpCases& c) {
  std::vector<ParityCase> all = c.parity;
  for (const GradCase& g : c.grad)
    if (g.parity_tol >= 0) all.push_back(parity_from_grad(g));
  return all;
}

}  // namespace ddpm::test
