#include "kernels/global_avg_pool2d.h"

#include <string>

#include "kernels/dispatch.h"

namespace ddpm::kernels {

namespace {
GlobalAvgPool2dDims dims_of(const Tensor& x, const char* op) {
  check_defined(x, op, "x");
  if (x.dim() != 4)
    throw std::invalid_argument(std::string(op) + ": x is " + x.desc() + ", expected [N, C, H, W]");
  if (x.size(2) == 0 || x.size(3) == 0)
    throw std::invalid_argument(std::string(op) + ": x " + x.desc() + " has empty planes");
  return GlobalAvgPool2dDims{x.size(0) * x.size(1), x.size(2) * x.size(3)};
}
}  // namespace

Tensor global_avg_pool2d_fwd(const Tensor& x) {
  const GlobalAvgPool2dDims d = dims_of(x, "global_avg_pool2d");
  Tensor y = Tensor::empty({x.size(0), x.size(1)}, x.dtype(), x.device());
  if (d.planes == 0) return y;
  on_device(
      "global_avg_pool2d", x,
      [&](auto t) {
        using T = decltype(t);
        cpu::global_avg_pool2d_fwd<T>(x.data<T>(), y.data<T>(), d);
      },
      [&](auto) { cuda::global_avg_pool2d_fwd(x.data<float>(), y.data<float>(), d); });
  return y;
}

Tensor global_avg_pool2d_bwd(const Tensor& x, const Tensor& g) {
  const char* op = "global_avg_pool2d backward";
  const GlobalAvgPool2dDims d = dims_of(x, op);
  check_defined(g, op, "grad_out");
  check_shape(g, {x.size(0), x.size(1)}, op, "grad_out");
  check_all_like(op, x, {&g});
  Tensor gx = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (d.planes == 0) return gx;
  on_device(
      op, x,
      [&](auto t) {
        using T = decltype(t);
        cpu::global_avg_pool2d_bwd<T>(g.data<T>(), gx.data<T>(), d);
      },
      [&](auto) { cuda::global_avg_pool2d_bwd(g.data<float>(), gx.data<float>(), d); });
  return gx;
}

}  // namespace ddpm::kernels
