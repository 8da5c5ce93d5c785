// CPU DPM-Solver++ step: elementwise, no noise.
#include "kernels/dpm_solver_step.h"

#include <algorithm>

#include "kernels/cpu/parallel.h"
#include "kernels/model_output.h"

namespace ddpm::kernels::cpu {

template <class T>
void dpm_solver_step(const T* x_t, const T* m, const T* x0_prev, T* out, T* x0_out, int64_t n,
                     const DpmSolverStepParams& p) {
  const T a = static_cast<T>(p.sqrt_ab), b = static_cast<T>(p.sqrt_one_minus_ab);
  const T cx = static_cast<T>(p.c_x), c0 = static_cast<T>(p.c_x0), cp = static_cast<T>(p.c_prev);
  const bool eps_pred = !p.v_pred;
  constexpr int64_t kChunk = 4096;
  parallel_for((n + kChunk - 1) / kChunk, kChunk * 64, [&](int64_t c) {
    const int64_t hi = std::min(n, (c + 1) * kChunk);
    for (int64_t i = c * kChunk; i < hi; ++i) {
      const T x = x_t[i];
      T x0 = x0_from_model(x, m[i], a, b, eps_pred);
      if (p.clip_x0) x0 = clip_unit(x0);
      T v = cx * x + c0 * x0;
      if (x0_prev) v += cp * x0_prev[i];
      out[i] = v;
      x0_out[i] = x0;
    }
  });
}

template void dpm_solver_step<float>(const float*, const float*, const float*, float*, float*, int64_t,
                                     const DpmSolverStepParams&);
template void dpm_solver_step<double>(const double*, const double*, const double*, double*, double*, int64_t,
                                      const DpmSolverStepParams&);

}  // namespace ddpm::kernels::cpu
