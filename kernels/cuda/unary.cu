// CUDA elementwise unary functions (neg, exp, log, sqrt, sin, cos), forward
// and backward.
//
// Flat and memory bound: a grid-stride loop over quads of 4 elements (float4
// accesses when every pointer is 16-byte aligned, kernels/cuda/elementwise.cuh)
// and the n % 4 tail. The function is a template parameter, so each op is its
// own branch-free kernel. Precise CUDA math (expf, logf, sinf, cosf within 2
// ulp; sqrtf and the division IEEE-rounded): no fast-math intrinsics.
//   bwd: neg: -g   exp: g*y   log: g/x   sqrt: g/(2y)   sin: g*cos(x)   cos: -g*sin(x)
#include <cstdint>
#include <string>

#include "kernels/cuda/elementwise.cuh"
#include "kernels/unary.h"

namespace ddpm::kernels::cuda {

namespace {

template <UnaryOp Op>
__device__ __forceinline__ float forward(float x) {
  if constexpr (Op == UnaryOp::neg) return -x;
  if constexpr (Op == UnaryOp::exp) return expf(x);
  if constexpr (Op == UnaryOp::log) return logf(x);
  if constexpr (Op == UnaryOp::sqrt) return sqrtf(x);
  if constexpr (Op == UnaryOp::sin) return sinf(x);
  return cosf(x);
}

// Gradient from the input x, the output y and the upstream g.
template <UnaryOp Op>
__device__ __forceinline__ float backward(float x, float y, float g) {
  if constexpr (Op == UnaryOp::neg) return -g;
  if constexpr (Op == UnaryOp::exp) return g * y;
  if constexpr (Op == UnaryOp::log) return g / x;
  if constexpr (Op == UnaryOp::sqrt) return g / (2.0f * y);
  if constexpr (Op == UnaryOp::sin) return g * cosf(x);
  return -g * sinf(x);
}

template <UnaryOp Op, bool Vec4>
__global__ void unary_fwd_kernel(const float* __restrict__ x, float* __restrict__ y, int64_t n) {
  for (int64_t q = global_thread(); q < n / 4; q += global_threads()) {
    Quad v = load_quad<Vec4>(x, q);
#pragma unroll
    for (int k = 0; k < 4; ++k) v.v[k] = forward<Op>(v.v[k]);
    store_quad<Vec4>(y, q, v);
  }
  const int64_t i = tail_element(n);
  if (i < n) y[i] = forward<Op>(x[i]);
}

// x or y is not read by every op (exp and sqrt read y, neg neither); the
// loads are skipped at compile time.
template <UnaryOp Op, bool Vec4>
__global__ void unary_bwd_kernel(const float* __restrict__ x, const float* __restrict__ y,
                                 const float* __restrict__ g, float* __restrict__ gx, int64_t n) {
  constexpr bool kNeedX = Op == UnaryOp::log || Op == UnaryOp::sin || Op == UnaryOp::cos;
  constexpr bool kNeedY = Op == UnaryOp::exp || Op == UnaryOp::sqrt;
  for (int64_t q = global_thread(); q < n / 4; q += global_threads()) {
    Quad vx{}, vy{};
    if constexpr (kNeedX) vx = load_quad<Vec4>(x, q);
    if constexpr (kNeedY) vy = load_quad<Vec4>(y, q);
    Quad vg = load_quad<Vec4>(g, q);
#pragma unroll
    for (int k = 0; k < 4; ++k) vg.v[k] = backward<Op>(vx.v[k], vy.v[k], vg.v[k]);
    store_quad<Vec4>(gx, q, vg);
  }
  const int64_t i = tail_element(n);
  if (i < n) gx[i] = backward<Op>(kNeedX ? x[i] : 0.0f, kNeedY ? y[i] : 0.0f, g[i]);
}

template <UnaryOp Op>
void launch_fwd(const float* x, float* y, int64_t n) {
  if (n == 0) return;
  const cudaStream_t s = ddpm::cuda::stream();
  if (vec4_ok(x, y))
    unary_fwd_kernel<Op, true><<<blocks_for_quads(n), kThreads, 0, s>>>(x, y, n);
  else
    unary_fwd_kernel<Op, false><<<blocks_for_quads(n), kThreads, 0, s>>>(x, y, n);
  DDPM_CUDA_LAUNCHED("unary_fwd_kernel", std::string(unary_op_name(Op)) + ", " + std::to_string(n) + " elements");
}

template <UnaryOp Op>
void launch_bwd(const float* x, const float* y, const float* g, float* gx, int64_t n) {
  if (n == 0) return;
  const cudaStream_t s = ddpm::cuda::stream();
  if (vec4_ok(x, y, g, gx))
    unary_bwd_kernel<Op, true><<<blocks_for_quads(n), kThreads, 0, s>>>(x, y, g, gx, n);
  else
    unary_bwd_kernel<Op, false><<<blocks_for_quads(n), kThreads, 0, s>>>(x, y, g, gx, n);
  DDPM_CUDA_LAUNCHED("unary_bwd_kernel", std::string(unary_op_name(Op)) + ", " + std::to_string(n) + " elements");
}

}  // namespace

void unary_fwd(UnaryOp op, const float* x, float* y, int64_t n) {
  switch (op) {
    case UnaryOp::neg: return launch_fwd<UnaryOp::neg>(x, y, n);
    case UnaryOp::exp: return launch_fwd<UnaryOp::exp>(x, y, n);
    case UnaryOp::log: return launch_fwd<UnaryOp::log>(x, y, n);
    case UnaryOp::sqrt: return launch_fwd<UnaryOp::sqrt>(x, y, n);
    case UnaryOp::sin: return launch_fwd<UnaryOp::sin>(x, y, n);
    case UnaryOp::cos: return launch_fwd<UnaryOp::cos>(x, y, n);
  }
}

void unary_bwd(UnaryOp op, const float* x, const float* y, const float* g, float* gx, int64_t n) {
  switch (op) {
    case UnaryOp::neg: return launch_bwd<UnaryOp::neg>(x, y, g, gx, n);
    case UnaryOp::exp: return launch_bwd<UnaryOp::exp>(x, y, g, gx, n);
    case UnaryOp::log: return launch_bwd<UnaryOp::log>(x, y, g, gx, n);
    case UnaryOp::sqrt: return launch_bwd<UnaryOp::sqrt>(x, y, g, gx, n);
    case UnaryOp::sin: return launch_bwd<UnaryOp::sin>(x, y, g, gx, n);
    case UnaryOp::cos: return launch_bwd<UnaryOp::cos>(x, y, g, gx, n);
  }
}

}  // namespace ddpm::kernels::cuda
