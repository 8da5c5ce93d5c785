#include "kernels/adam_update.h"

#include "kernels/dispatch.h"

namespace ddpm::kernels {

void adam_update(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, const AdamParams& p, Tensor* ema) {
  check_defined(param, "adam_update", "param");
  check_all_like("adam_update", param, {&grad, &m, &v});
  check_shape(grad, param.shape(), "adam_update", "grad");
  check_shape(m, param.shape(), "adam_update", "exp_avg");
  check_shape(v, param.shape(), "adam_update", "exp_avg_sq");
  if (ema) {
    check_all_like("adam_update", param, {ema});
    check_shape(*ema, param.shape(), "adam_update", "ema");
    if (!(p.ema_decay >= 0 && p.ema_decay < 1))
      throw std::invalid_argument("adam_update: ema_decay " + std::to_string(p.ema_decay) +
                                  " outside [0, 1)");
  }
  if (p.step < 1)
    throw std::invalid_argument("adam_update: step must be >= 1, got " + std::to_string(p.step));
  on_device(
      "adam_update", param,
      [&](auto t) {
        using T = decltype(t);
        cpu::adam_update<T>(param.data<T>(), grad.data<T>(), m.data<T>(), v.data<T>(),
                            ema ? ema->data<T>() : nullptr, param.numel(), p);
      },
      [&](auto) {
        cuda::adam_update(param.data<float>(), grad.data<float>(), m.data<float>(), v.data<float>(),
                          ema ? ema->data<float>() : nullptr, param.numel(), p);
      });
}

}  // namespace ddpm::kernels
