#include "kernels/sum.h"

#include "kernels/dispatch.h"

namespace ddpm::kernels {

namespace {
Tensor reduce(const Tensor& x, const char* op, double scale) {
  check_defined(x, op, "x");
  return on_device(
      op, x,
      [&](auto t) {
        using T = decltype(t);
        return Tensor::full({}, cpu::sum<T>(x.data<T>(), x.numel()) * scale, x.dtype(), x.device());
      },
      [&](auto) {
        Tensor out = Tensor::empty({}, x.dtype(), x.device());
        cuda::sum_fwd(x.data<float>(), out.data<float>(), x.numel(), scale);
        return out;
      });
}
}  // namespace

Tensor sum_fwd(const Tensor& x) { return reduce(x, "sum", 1.0); }

Tensor mean_fwd(const Tensor& x) {
  if (x.defined() && x.numel() == 0) throw std::invalid_argument("mean: empty tensor " + x.desc());
  return reduce(x, "mean", 1.0 / static_cast<double>(x.numel()));
}

Tensor sum_bwd(const Tensor& g, const Shape& shape, double scale) {
  if (g.numel() != 1) throw std::invalid_argument("sum backward: gradient " + g.desc() + " is not a scalar");
  Tensor out = Tensor::empty(shape, g.dtype(), g.device());
  on_device(
      "sum backward", g,
      [&](auto t) {
        using T = decltype(t);
        cpu::fill_scaled<T>(g.data<T>(), out.data<T>(), out.numel(), scale);
      },
      [&](auto) { cuda::sum_bwd(g.data<float>(), out.data<float>(), out.numel(), scale); });
  return out;
}

}  // namespace ddpm::kernels
