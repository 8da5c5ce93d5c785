#include "kernels/ema_update.h"

#include "kernels/dispatch.h"

namespace ddpm::kernels {

void ema_update(Tensor& ema, const Tensor& param, double decay) {
  check_defined(ema, "ema_update", "ema");
  check_all_like("ema_update", ema, {&param});
  check_shape(param, ema.shape(), "ema_update", "param");
  if (!(decay >= 0 && decay <= 1))
    throw std::invalid_argument("ema_update: decay " + std::to_string(decay) + " outside [0, 1]");
  on_device(
      "ema_update", ema,
      [&](auto t) {
        using T = decltype(t);
        cpu::ema_update<T>(ema.data<T>(), param.data<T>(), ema.numel(), decay);
      },
      [&](auto) { cuda::ema_update(ema.data<float>(), param.data<float>(), ema.numel(), decay); });
}

}  // namespace ddpm::kernels
