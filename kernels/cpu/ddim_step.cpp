// CPU DDIM step: elementwise, noise (eta > 0) from Philox by flat index.
#include "kernels/ddim_step.h"

#include <algorithm>

#include "kernels/cpu/parallel.h"
#include "kernels/model_output.h"
#include "tensor/philox.h"

namespace ddpm::kernels::cpu {

template <class T>
void ddim_step(const T* x_t, const T* m, T* out, int64_t n, const DdimStepParams& p) {
  const T a = static_cast<T>(p.sqrt_ab), b = static_cast<T>(p.sqrt_one_minus_ab);
  const T ap = static_cast<T>(p.sqrt_ab_prev), ce = static_cast<T>(p.c_eps), sigma = static_cast<T>(p.sigma);
  const bool eps_pred = !p.v_pred;
  constexpr int64_t kChunk = 4096;
  parallel_for((n + kChunk - 1) / kChunk, kChunk * 64, [&](int64_t c) {
    const int64_t hi = std::min(n, (c + 1) * kChunk);
    for (int64_t i = c * kChunk; i < hi; ++i) {
      const T x = x_t[i];
      T x0 = x0_from_model(x, m[i], a, b, eps_pred);
      T eps = eps_from_model(x, m[i], a, b, eps_pred);
      if (p.clip_x0) {
        x0 = clip_unit(x0);
        eps = (x - a * x0) / b;
      }
      T v = ap * x0 + ce * eps;
      if (p.sigma != 0)
        v += sigma * static_cast<T>(philox::normal(p.seed, p.stream, p.offset + static_cast<uint64_t>(i)));
      out[i] = v;
    }
  });
}

template void ddim_step<float>(const float*, const float*, float*, int64_t, const DdimStepParams&);
template void ddim_step<double>(const double*, const double*, double*, int64_t, const DdimStepParams&);

}  // namespace ddpm::kernels::cpu
