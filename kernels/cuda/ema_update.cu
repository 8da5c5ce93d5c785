// CUDA EMA of the weights over flat buffers, one launch:
//   ema = decay * ema + (1 - decay) * param
// with both coefficients rounded to float on the host as the CPU kernel does.
// Flat and memory bound: a thread per quad of 4 elements (float4 accesses
// when both buffers are 16-byte aligned) plus the n % 4 tail.
#include <cstdint>
#include <string>

#include "kernels/cuda/elementwise.cuh"
#include "kernels/ema_update.h"

namespace ddpm::kernels::cuda {

namespace {

template <bool Vec4>
__global__ void ema_update_kernel(float* __restrict__ ema, const float* __restrict__ param, int64_t n, float d,
                                  float e) {
  for (int64_t q = global_thread(); q < n / 4; q += global_threads()) {
    Quad a = load_quad<Vec4>(ema, q);
    const Quad p = load_quad<Vec4>(param, q);
#pragma unroll
    for (int k = 0; k < 4; ++k) a.v[k] = d * a.v[k] + e * p.v[k];
    store_quad<Vec4>(ema, q, a);
  }
  const int64_t i = tail_element(n);
  if (i < n) ema[i] = d * ema[i] + e * param[i];
}

}  // namespace

void ema_update(float* ema, const float* param, int64_t n, double decay) {
  if (n == 0) return;
  const float d = static_cast<float>(decay), e = static_cast<float>(1 - decay);
  const cudaStream_t s = ddpm::cuda::stream();
  if (vec4_ok(ema, param))
    ema_update_kernel<true><<<blocks_for_quads(n), kThreads, 0, s>>>(ema, param, n, d, e);
  else
    ema_update_kernel<false><<<blocks_for_quads(n), kThreads, 0, s>>>(ema, param, n, d, e);
  DDPM_CUDA_LAUNCHED("ema_update_kernel", std::to_string(n) + " elements");
}

}  // namespace ddpm::kernels::cuda
