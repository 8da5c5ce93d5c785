// CUDA draw_timesteps (kernels/draw_timesteps.h): a thread per sample, the
// CPU's Philox draw (integer only: the same bits) and two table reads.
#include <cstdint>
#include <string>

#include "kernels/cuda/elementwise.cuh"
#include "kernels/draw_timesteps.h"
#include "tensor/philox.h"

namespace ddpm::kernels::cuda {

namespace {

__global__ void draw_timesteps_kernel(const float* __restrict__ table_a, const float* __restrict__ table_b,
                                      float* __restrict__ t, float* __restrict__ a, float* __restrict__ b,
                                      const DrawTimestepsDims d) {
  for (int64_t n = global_thread(); n < d.batch; n += global_threads()) {
    const int64_t k = philox::uniform_int(d.seed, d.stream, d.first + static_cast<uint64_t>(n), d.steps);
    t[n] = static_cast<float>(k);
    a[n] = table_a[k];
    b[n] = table_b[k];
  }
}

}  // namespace

void draw_timesteps(const float* table_a, const float* table_b, float* t, float* a, float* b,
                    const DrawTimestepsDims& d) {
  if (d.batch == 0) return;
  draw_timesteps_kernel<<<blocks_for(d.batch, kThreads), kThreads, 0, ddpm::cuda::stream()>>>(
      table_a, table_b, t, a, b, d);
  DDPM_CUDA_LAUNCHED("draw_timesteps_kernel",
                     std::to_string(d.batch) + " samples, " + std::to_string(d.steps) + " steps");
}

}  // namespace ddpm::kernels::cuda
