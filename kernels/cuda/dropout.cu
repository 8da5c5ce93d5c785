// CUDA dropout (kernels/dropout.h): out[i] = keep_i ? in[i] * s : 0 with
// keep_i = philox::uniform(seed, stream, offset + i) >= p, the same draw and
// the same single multiply as the CPU kernel, so the same bits. The forward
// applies it to x, the backward to the upstream gradient (one launcher).
// A flat grid-stride kernel over quads of four elements (float4 accesses
// when both pointers are 16-byte aligned), then the n % 4 tail; Philox's ten
// rounds of 32-bit multiplies make it arithmetic- rather than memory-bound.
#include <cstdint>
#include <string>

#include "kernels/cuda/elementwise.cuh"
#include "kernels/dropout.h"
#include "tensor/philox.h"

namespace ddpm::kernels::cuda {

namespace {

__device__ __forceinline__ float masked(const DropoutDims& d, float v, float s, int64_t i) {
  const bool keep = philox::uniform(d.seed, d.stream, d.offset + static_cast<uint64_t>(i)) >= d.p;
  return keep ? v * s : 0.f;
}

template <bool Vec4>
__global__ void dropout_fwd_kernel(const float* __restrict__ in, float* __restrict__ out, const float s,
                                   const DropoutDims d) {
  for (int64_t q = global_thread(); q < d.n / 4; q += global_threads()) {
    const Quad v = load_quad<Vec4>(in, q);
    Quad r;
#pragma unroll
    for (int k = 0; k < 4; ++k) r.v[k] = masked(d, v.v[k], s, 4 * q + k);
    store_quad<Vec4>(out, q, r);
  }
  const int64_t i = tail_element(d.n);
  if (i < d.n) out[i] = masked(d, in[i], s, i);
}

}  // namespace

void dropout_fwd(const float* in, float* out, const DropoutDims& d) {
  if (d.n == 0) return;
  const float s = static_cast<float>(1.0 / (1.0 - d.p));
  const cudaStream_t st = ddpm::cuda::stream();
  if (vec4_ok(in, out))
    dropout_fwd_kernel<true><<<blocks_for_quads(d.n), kThreads, 0, st>>>(in, out, s, d);
  else
    dropout_fwd_kernel<false><<<blocks_for_quads(d.n), kThreads, 0, st>>>(in, out, s, d);
  DDPM_CUDA_LAUNCHED("dropout_fwd_kernel", std::to_string(d.n) + " elements, p " + std::to_string(d.p));
}

}  // namespace ddpm::kernels::cuda
