// CPU Adam (and the optional EMA of the new parameters, with
// kernels/cpu/ema_update.cpp's arithmetic, chunk by chunk while the chunk is
// in cache): elementwise over the flat buffers, split across threads.
#include "kernels/adam_update.h"

#include <algorithm>
#include <cmath>

#include "kernels/cpu/parallel.h"

namespace ddpm::kernels::cpu {

template <class T>
void adam_update(T* param, const T* grad, T* m, T* v, T* ema, int64_t n, const AdamParams& p) {
  const T lr = static_cast<T>(p.lr), b1 = static_cast<T>(p.beta1), b2 = static_cast<T>(p.beta2);
  const T eps = static_cast<T>(p.eps), wd = static_cast<T>(p.weight_decay);
  const double step = static_cast<double>(p.step);
  const T step_size = static_cast<T>(p.lr / (1 - std::pow(p.beta1, step)));
  const T bc2_sqrt = static_cast<T>(std::sqrt(1 - std::pow(p.beta2, step)));
  const T decay = T(1) - lr * wd;
  const T ema_d = static_cast<T>(p.ema_decay), ema_e = static_cast<T>(1 - p.ema_decay);
  constexpr int64_t kChunk = 8192;
  parallel_for((n + kChunk - 1) / kChunk, kChunk * 16, [&](int64_t c) {
    const int64_t hi = std::min(n, (c + 1) * kChunk);
    for (int64_t i = c * kChunk; i < hi; ++i) {
      T g = grad[i];
      T w = param[i];
      if (p.weight_decay != 0) {
        if (p.decoupled)
          w *= decay;
        else
          g += wd * w;
      }
      const T mi = b1 * m[i] + (T(1) - b1) * g;
      const T vi = b2 * v[i] + (T(1) - b2) * g * g;
      m[i] = mi;
      v[i] = vi;
      param[i] = w - step_size * mi / (std::sqrt(vi) / bc2_sqrt + eps);
    }
    // The EMA of the chunk just written, while it is in cache (a second loop:
    // a branch inside the first would keep it from vectorising).
    if (ema)
      for (int64_t i = c * kChunk; i < hi; ++i) ema[i] = ema_d * ema[i] + ema_e * param[i];
  });
}

template void adam_update<float>(float*, const float*, float*, float*, float*, int64_t, const AdamParams&);
template void adam_update<double>(double*, const double*, double*, double*, double*, int64_t,
                                  const AdamParams&);

}  // namespace ddpm::kernels::cpu
