#include "kernels/softmax.h"

#include <cmath>
#include <string>

#include "kernels/dispatch.h"

namespace ddpm::kernels {

namespace {
void run_fwd(const char* op, const Tensor& x, const Tensor& mask, Tensor& y, const SoftmaxDims& d) {
  on_device(
      op, x,
      [&](auto t) {
        using T = decltype(t);
        cpu::softmax_fwd<T>(x.data<T>(), d.mask_rows ? mask.data<T>() : nullptr, y.data<T>(), d);
      },
      [&](auto) {
        cuda::softmax_fwd(x.data<float>(), d.mask_rows ? mask.data<float>() : nullptr, y.data<float>(), d);
      });
}
}  // namespace

Tensor softmax_fwd(const Tensor& x, bool log) {
  const char* op = log ? "log_softmax" : "softmax";
  check_defined(x, op, "x");
  if (x.dim() != 2 || x.size(1) == 0)
    throw std::invalid_argument(std::string(op) + ": x is " + x.desc() + ", expected [N, K] with K >= 1");
  SoftmaxDims d;
  d.n = x.size(0);
  d.k = x.size(1);
  d.log = log;
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (d.n == 0) return y;
  run_fwd(op, x, Tensor(), y, d);
  return y;
}

Tensor softmax_fwd(const Tensor& x, double scale, const Tensor& mask) {
  const char* op = "softmax";
  check_defined(x, op, "x");
  if (x.dim() < 1 || x.size(x.dim() - 1) == 0)
    throw std::invalid_argument(std::string(op) + ": x is " + x.desc() +
                                ", expected [..., K] with K >= 1 (softmax over the last dimension)");
  if (!std::isfinite(scale))
    throw std::invalid_argument(std::string(op) + ": scale " + std::to_string(scale) + " is not finite (x " +
                                x.desc() + ")");
  SoftmaxDims d;
  d.k = x.size(x.dim() - 1);
  d.n = x.numel() / d.k;
  d.scale = scale;
  if (mask.defined()) {
    check_same_dtype_device(x, mask, op);
    const bool row = mask.dim() == 1 && mask.size(0) == d.k;
    const bool rows = mask.dim() == 2 && mask.size(1) == d.k && mask.size(0) > 0 && d.n % mask.size(0) == 0;
    if (!row && !rows)
      throw std::invalid_argument(std::string(op) + ": mask " + mask.desc() + " does not fit x " + x.desc() +
                                  ": expected [K] or [Rm, K] with K = " + std::to_string(d.k) +
                                  " and Rm dividing the " + std::to_string(d.n) + " rows of x");
    d.mask_rows = row ? 1 : mask.size(0);
  }
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (d.n == 0) return y;
  run_fwd(op, x, mask, y, d);
  return y;
}

Tensor softmax_bwd(const Tensor& y, const Tensor& g, double scale) {
  const char* op = "softmax backward";
  check_defined(y, op, "y");
  check_defined(g, op, "grad_out");
  check_same_dtype_device(y, g, op);
  if (y.dim() < 1 || y.size(y.dim() - 1) == 0)
    throw std::invalid_argument(std::string(op) + ": y is " + y.desc() + ", expected [..., K] with K >= 1");
  check_shape(g, y.shape(), op, "grad_out");
  SoftmaxDims d;
  d.k = y.size(y.dim() - 1);
  d.n = y.numel() / d.k;
  d.scale = scale;
  Tensor gx = Tensor::empty(y.shape(), y.dtype(), y.device());
  if (d.n == 0) return gx;
  on_device(
      op, y,
      [&](auto t) {
        using T = decltype(t);
        cpu::softmax_bwd<T>(y.data<T>(), g.data<T>(), gx.data<T>(), d);
      },
      [&](auto) { cuda::softmax_bwd(y.data<float>(), g.data<float>(), gx.data<float>(), d); });
  return gx;
}

}  // namespace ddpm::kernels
