#include "kernels/ddim_step.h"

#include "kernels/dispatch.h"

namespace ddpm::kernels {

Tensor ddim_step(const Tensor& x_t, const Tensor& model_out, const DdimStepParams& p) {
  check_defined(x_t, "ddim_step", "x_t");
  check_all_like("ddim_step", x_t, {&model_out});
  check_shape(model_out, x_t.shape(), "ddim_step", "model output");
  if (p.sqrt_ab <= 0 || p.sqrt_one_minus_ab <= 0)
    throw std::invalid_argument("ddim_step: need 0 < alphabar_t < 1");
  Tensor out = Tensor::empty(x_t.shape(), x_t.dtype(), x_t.device());
  on_device(
      "ddim_step", x_t,
      [&](auto t) {
        using T = decltype(t);
        cpu::ddim_step<T>(x_t.data<T>(), model_out.data<T>(), out.data<T>(), x_t.numel(), p);
      },
      [&](auto) {
        cuda::ddim_step(x_t.data<float>(), model_out.data<float>(), out.data<float>(), x_t.numel(), p);
      });
  return out;
}

}  // namespace ddpm::kernels
