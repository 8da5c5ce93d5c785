// Helpers for the memory-bound CUDA kernels: flat grid-stride loops over
// quads of four floats, loaded as one float4 when every pointer is 16-byte
// aligned.
//
// A flat kernel over n elements visits quads q = 0 .. n/4 - 1 (elements
// 4q .. 4q+3) in a grid-stride loop, then the n % 4 tail elements, one per
// thread of the first threads. The template flag Vec4 picks how a quad is
// read and written: one 16-byte float4 access (Vec4) or four scalar accesses
// (not Vec4, for pointers that are not 16-byte aligned, such as a parameter's
// view into a flat buffer). Either way the same thread handles the same
// elements, so the two variants give the same bits (reductions included).
//
// Fresh tensors from the caching allocator are 512-byte aligned; views at an
// element offset may not be, hence the run-time check (vec4_ok).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "tensor/cuda/launch.cuh"

namespace ddpm::kernels::cuda {

using ddpm::cuda::blocks_for;

inline constexpr int kThreads = 256;

struct Quad {
  float v[4];
};

template <bool Vec4>
__device__ __forceinline__ Quad load_quad(const float* p, int64_t q) {
  Quad r;
  if constexpr (Vec4) {
    const float4 t = reinterpret_cast<const float4*>(p)[q];
    r.v[0] = t.x;
    r.v[1] = t.y;
    r.v[2] = t.z;
    r.v[3] = t.w;
  } else {
#pragma unroll
    for (int k = 0; k < 4; ++k) r.v[k] = p[4 * q + k];
  }
  return r;
}

template <bool Vec4>
__device__ __forceinline__ void store_quad(float* p, int64_t q, const Quad& r) {
  if constexpr (Vec4) {
    reinterpret_cast<float4*>(p)[q] = make_float4(r.v[0], r.v[1], r.v[2], r.v[3]);
  } else {
#pragma unroll
    for (int k = 0; k < 4; ++k) p[4 * q + k] = r.v[k];
  }
}

__device__ __forceinline__ int64_t global_thread() {
  return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ int64_t global_threads() { return static_cast<int64_t>(gridDim.x) * blockDim.x; }

// The tail element this thread handles after the quads (>= n when none).
__device__ __forceinline__ int64_t tail_element(int64_t n) { return n / 4 * 4 + global_thread(); }

inline bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// True when every pointer (null ones ignored) allows float4 access.
template <class... P>
inline bool vec4_ok(const P*... ptrs) {
  return ((ptrs == nullptr || aligned16(ptrs)) && ...);
}

// The flat kernel out[i] = f(x[i], m[i], i) over n elements: quads in a
// grid-stride loop, then the tail. f is a functor with a __device__
// float operator()(float x, float m, int64_t i) const (the sampler steps).
// Launch with blocks_for_quads(n) blocks of kThreads; pick Vec4 by vec4_ok.
template <bool Vec4, class F>
__global__ void map2_kernel(const float* __restrict__ x, const float* __restrict__ m, float* __restrict__ out,
                            int64_t n, const F f) {
  for (int64_t q = global_thread(); q < n / 4; q += global_threads()) {
    const Quad vx = load_quad<Vec4>(x, q), vm = load_quad<Vec4>(m, q);
    Quad r;
#pragma unroll
    for (int k = 0; k < 4; ++k) r.v[k] = f(vx.v[k], vm.v[k], 4 * q + k);
    store_quad<Vec4>(out, q, r);
  }
  const int64_t i = tail_element(n);
  if (i < n) out[i] = f(x[i], m[i], i);
}

// Blocks for a flat kernel over n elements: one quad per thread (at least one
// block, so the tail of a tensor smaller than four elements is covered).
inline unsigned blocks_for_quads(int64_t n) { return blocks_for(n / 4 > 0 ? n / 4 : 1, kThreads); }

}  // namespace ddpm::kernels::cuda
