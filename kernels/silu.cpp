#include "kernels/silu.h"

#include "kernels/dispatch.h"

namespace ddpm::kernels {

Tensor silu_fwd(const Tensor& x) {
  check_defined(x, "silu", "x");
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  on_device(
      "silu", x,
      [&](auto t) {
        using T = decltype(t);
        cpu::silu_fwd<T>(x.data<T>(), y.data<T>(), x.numel());
      },
      [&](auto) { cuda::silu_fwd(x.data<float>(), y.data<float>(), x.numel()); });
  return y;
}

Tensor silu_bwd(const Tensor& x, const Tensor& g) {
  check_defined(x, "silu backward", "x");
  check_defined(g, "silu backward", "grad_out");
  check_shape(g, x.shape(), "silu backward", "grad_out");
  check_all_like("silu backward", x, {&g});
  Tensor gx = Tensor::empty(x.shape(), x.dtype(), x.device());
  on_device(
      "silu backward", x,
      [&](auto t) {
        using T = decltype(t);
        cpu::silu_bwd<T>(x.data<T>(), g.data<T>(), gx.data<T>(), x.numel());
      },
      [&](auto) { cuda::silu_bwd(x.data<float>(), g.data<float>(), gx.data<float>(), x.numel()); });
  return gx;
}

}  // namespace ddpm::kernels
