// CUDA q_sample: the forward (noising) process fused with the noise draw and
// the training target, one launch.
//
//   eps[i]  = float(normal(seed, stream, offset + i))     (tensor/philox.h)
//   x_t[i]  = a[n] * x0[i] + b[n] * eps[i]                 n = i / per_sample
//   target  = eps, or a[n] * eps[i] - b[n] * x0[i] (v prediction)
// The noise is drawn per element from the same counter-based Philox function
// as the CPU kernel, with the same (seed, stream, offset + flat index), and
// Box-Muller in double: it equals the CPU's draw up to the device's double
// log/cos (within 2 ulp of double) before the one rounding to float.
// A thread per quad of 4 consecutive elements of one sample (float4 accesses)
// when per_sample is a multiple of 4 and the pointers are 16-byte aligned;
// otherwise a thread per element. Philox (10 rounds, 32-bit multiplies) and
// the double Box-Muller make this kernel arithmetic- rather than memory-bound.
#include <cstdint>
#include <string>

#include "kernels/cuda/elementwise.cuh"
#include "kernels/q_sample.h"
#include "tensor/philox.h"

namespace ddpm::kernels::cuda {

namespace {

__device__ __forceinline__ float noise_at(const QSampleDims& d, int64_t i) {
  return static_cast<float>(philox::normal(d.seed, d.stream, d.offset + static_cast<uint64_t>(i)));
}

// Vec4: units are quads of one sample; else single elements.
template <bool Vec4>
__global__ void q_sample_kernel(const float* __restrict__ x0, const float* __restrict__ a,
                                const float* __restrict__ b, float* __restrict__ x_t, float* __restrict__ noise,
                                float* __restrict__ target, const QSampleDims d) {
  constexpr int64_t kUnit = Vec4 ? 4 : 1;
  const int64_t units = d.batch * d.per_sample / kUnit;
  for (int64_t u = global_thread(); u < units; u += global_threads()) {
    const int64_t first = u * kUnit;
    const int64_t n = first / d.per_sample;
    const float an = a[n], bn = b[n];
    Quad vx{}, e{}, xt{}, tg{};
    if constexpr (Vec4)
      vx = load_quad<true>(x0, u);
    else
      vx.v[0] = x0[first];
#pragma unroll
    for (int k = 0; k < kUnit; ++k) {
      e.v[k] = noise_at(d, first + k);
      xt.v[k] = an * vx.v[k] + bn * e.v[k];
      tg.v[k] = an * e.v[k] - bn * vx.v[k];
    }
    if constexpr (Vec4) {
      store_quad<true>(x_t, u, xt);
      store_quad<true>(noise, u, e);
      if (d.v_target) store_quad<true>(target, u, tg);
    } else {
      x_t[first] = xt.v[0];
      noise[first] = e.v[0];
      if (d.v_target) target[first] = tg.v[0];
    }
  }
}

}  // namespace

void q_sample(const float* x0, const float* a, const float* b, float* x_t, float* noise, float* target,
              const QSampleDims& d) {
  const int64_t n = d.batch * d.per_sample;
  if (n == 0) return;
  const cudaStream_t s = ddpm::cuda::stream();
  const bool vec = d.per_sample % 4 == 0 && vec4_ok(x0, x_t, noise, d.v_target ? target : nullptr);
  if (vec)
    q_sample_kernel<true><<<blocks_for(n / 4, kThreads), kThreads, 0, s>>>(x0, a, b, x_t, noise, target, d);
  else
    q_sample_kernel<false><<<blocks_for(n, kThreads), kThreads, 0, s>>>(x0, a, b, x_t, noise, target, d);
  DDPM_CUDA_LAUNCHED("q_sample_kernel", std::to_string(d.batch) + " samples of " + std::to_string(d.per_sample));
}

}  // namespace ddpm::kernels::cuda
