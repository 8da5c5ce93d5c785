#include "kernels/ddpm_step.h"

#include "kernels/dispatch.h"

namespace ddpm::kernels {

Tensor ddpm_step(const Tensor& x_t, const Tensor& model_out, const DdpmStepParams& p) {
  check_defined(x_t, "ddpm_step", "x_t");
  check_all_like("ddpm_step", x_t, {&model_out});
  check_shape(model_out, x_t.shape(), "ddpm_step", "model output");
  if (p.sqrt_ab <= 0) throw std::invalid_argument("ddpm_step: sqrt(alphabar_t) must be positive");
  Tensor out = Tensor::empty(x_t.shape(), x_t.dtype(), x_t.device());
  on_device(
      "ddpm_step", x_t,
      [&](auto t) {
        using T = decltype(t);
        cpu::ddpm_step<T>(x_t.data<T>(), model_out.data<T>(), out.data<T>(), x_t.numel(), p);
      },
      [&](auto) {
        cuda::ddpm_step(x_t.data<float>(), model_out.data<float>(), out.data<float>(), x_t.numel(), p);
      });
  return out;
}

}  // namespace ddpm::kernels
