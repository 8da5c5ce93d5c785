#include "kernels/euler_ancestral_step.h"

#include "kernels/dispatch.h"

namespace ddpm::kernels {

Tensor euler_ancestral_step(const Tensor& x_t, const Tensor& model_out, const EulerAncestralStepParams& p) {
  check_defined(x_t, "euler_ancestral_step", "x_t");
  check_all_like("euler_ancestral_step", x_t, {&model_out});
  check_shape(model_out, x_t.shape(), "euler_ancestral_step", "model output");
  if (p.sqrt_ab <= 0 || p.sqrt_one_minus_ab <= 0 || p.sigma <= 0)
    throw std::invalid_argument("euler_ancestral_step: need 0 < alphabar_t < 1 and sigma > 0");
  if (p.sigma_down < 0 || p.sigma_up < 0)
    throw std::invalid_argument("euler_ancestral_step: need sigma_down >= 0 and sigma_up >= 0");
  Tensor out = Tensor::empty(x_t.shape(), x_t.dtype(), x_t.device());
  on_device(
      "euler_ancestral_step", x_t,
      [&](auto t) {
        using T = decltype(t);
        cpu::euler_ancestral_step<T>(x_t.data<T>(), model_out.data<T>(), out.data<T>(), x_t.numel(), p);
      },
      [&](auto) {
        cuda::euler_ancestral_step(x_t.data<float>(), model_out.data<float>(), out.data<float>(), x_t.numel(),
                                   p);
      });
  return out;
}

}  // namespace ddpm::kernels
