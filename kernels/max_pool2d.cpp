#include "kernels/max_pool2d.h"

#include <string>

#include "kernels/dispatch.h"

namespace ddpm::kernels {

namespace {
MaxPool2dDims dims_of(const Tensor& x, int64_t k, const char* op) {
  check_defined(x, op, "x");
  if (x.dim() != 4)
    throw std::invalid_argument(std::string(op) + ": x is " + x.desc() + ", expected [N, C, H, W]");
  if (k < 1) throw std::invalid_argument(std::string(op) + ": kernel " + std::to_string(k) + " < 1");
  MaxPool2dDims d;
  d.planes = x.size(0) * x.size(1);
  d.h = x.size(2);
  d.w = x.size(3);
  d.k = k;
  d.oh = d.h / k;
  d.ow = d.w / k;
  if (d.oh == 0 || d.ow == 0)
    throw std::invalid_argument(std::string(op) + ": x " + x.desc() + " is smaller than the " +
                                std::to_string(k) + "x" + std::to_string(k) + " window");
  return d;
}
}  // namespace

Tensor max_pool2d_fwd(const Tensor& x, int64_t kernel) {
  const MaxPool2dDims d = dims_of(x, kernel, "max_pool2d");
  Tensor y = Tensor::empty({x.size(0), x.size(1), d.oh, d.ow}, x.dtype(), x.device());
  on_device(
      "max_pool2d", x,
      [&](auto t) {
        using T = decltype(t);
        cpu::max_pool2d_fwd<T>(x.data<T>(), y.data<T>(), d);
      },
      [&](auto) { cuda::max_pool2d_fwd(x.data<float>(), y.data<float>(), d); });
  return y;
}

Tensor max_pool2d_bwd(const Tensor& x, const Tensor& g, int64_t kernel) {
  const char* op = "max_pool2d backward";
  const MaxPool2dDims d = dims_of(x, kernel, op);
  check_defined(g, op, "grad_out");
  check_shape(g, {x.size(0), x.size(1), d.oh, d.ow}, op, "grad_out");
  check_all_like(op, x, {&g});
  Tensor gx = Tensor::empty(x.shape(), x.dtype(), x.device());
  on_device(
      op, x,
      [&](auto t) {
        using T = decltype(t);
        cpu::max_pool2d_bwd<T>(x.data<T>(), g.data<T>(), gx.data<T>(), d);
      },
      [&](auto) { cuda::max_pool2d_bwd(x.data<float>(), g.data<float>(), gx.data<float>(), d); });
  return gx;
}

}  // namespace ddpm::kernels
