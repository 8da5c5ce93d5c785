// CPU threading helpers. The engine's CPU kernels split work with OpenMP over
// independent chunks (rows, images, channels); every output element is written
// by one thread with a fixed summation order, so results are deterministic for
// a given thread count (and, for elementwise ops, for any thread count).
#pragma once

#include <cstdint>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace ddpm::kernels::cpu {

// Runs f(i) for i in [0, n); in parallel when the total work (n * cost per
// item, in rough flops) is worth waking threads for.
template <class F>
void parallel_for(int64_t n, int64_t cost_per_item, F&& f) {
#ifdef _OPENMP
  if (n > 1 && n * cost_per_item >= (1 << 15) && !omp_in_parallel()) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) f(i);
    return;
  }
#else
  (void)cost_per_item;
#endif
  for (int64_t i = 0; i < n; ++i) f(i);
}

inline int num_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

}  // namespace ddpm::kernels::cpu
