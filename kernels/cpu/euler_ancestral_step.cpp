// CPU Euler-ancestral step: elementwise, noise (sigma_up > 0) from Philox by flat index.
#include "kernels/euler_ancestral_step.h"

#include <algorithm>

#include "kernels/cpu/parallel.h"
#include "kernels/model_output.h"
#include "tensor/philox.h"

namespace ddpm::kernels::cpu {

template <class T>
void euler_ancestral_step(const T* x_t, const T* m, T* out, int64_t n, const EulerAncestralStepParams& p) {
  const T a = static_cast<T>(p.sqrt_ab), b = static_cast<T>(p.sqrt_one_minus_ab);
  const T ap = static_cast<T>(p.sqrt_ab_prev), s = static_cast<T>(p.sigma);
  const T dsig = static_cast<T>(p.sigma_down - p.sigma), su = static_cast<T>(p.sigma_up);
  const bool eps_pred = !p.v_pred;
  constexpr int64_t kChunk = 4096;
  parallel_for((n + kChunk - 1) / kChunk, kChunk * 64, [&](int64_t c) {
    const int64_t hi = std::min(n, (c + 1) * kChunk);
    for (int64_t i = c * kChunk; i < hi; ++i) {
      const T x = x_t[i];
      T x0 = x0_from_model(x, m[i], a, b, eps_pred);
      if (p.clip_x0) x0 = clip_unit(x0);
      const T xs = x / a;
      const T d = (xs - x0) / s;
      T v = xs + dsig * d;
      if (p.sigma_up != 0)
        v += su * static_cast<T>(philox::normal(p.seed, p.stream, p.offset + static_cast<uint64_t>(i)));
      out[i] = ap * v;
    }
  });
}

template void euler_ancestral_step<float>(const float*, const float*, float*, int64_t,
                                          const EulerAncestralStepParams&);
template void euler_ancestral_step<double>(const double*, const double*, double*, int64_t,
                                           const EulerAncestralStepParams&);

}  // namespace ddpm::kernels::cpu
