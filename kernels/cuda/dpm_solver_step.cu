// CUDA dpm_solver_step: one DPM-Solver++ (1st or 2nd order multistep) step,
// x_t -> x_{t_prev}, and this step's x0, in one launch (the formulas are in
// kernels/dpm_solver_step.h).
//
//   x0 from the model output (epsilon or v prediction), clipped optionally
//   x_prev = c_x * x + c_x0 * x0 + c_prev * x0_prev   (x0_prev read only when given)
// Reads x_t, the model output and (second order) the previous x0; writes
// x_prev and x0: 5 floats per element at most, no noise. Coefficients are
// rounded to float on the host as the CPU kernel does.
// Flat: a thread per quad of 4 elements (float4 accesses when every pointer
// is 16-byte aligned) plus the n % 4 tail, as kernels/cuda/elementwise.cuh.
#include <cstdint>
#include <string>

#include "kernels/cuda/elementwise.cuh"
#include "kernels/dpm_solver_step.h"
#include "kernels/model_output.h"

namespace ddpm::kernels::cuda {

namespace {

struct DpmCoef {
  float a, b, cx, c0, cp;
  bool eps_pred, clip;

  // x0 of element (x, m); the update from it and the previous x0 (pv).
  __device__ __forceinline__ float x0(float x, float m) const {
    const float v = x0_from_model(x, m, a, b, eps_pred);
    return clip ? clip_unit(v) : v;
  }
};

template <bool Vec4, bool Prev>
__global__ void dpm_solver_step_kernel(const float* __restrict__ x, const float* __restrict__ m,
                                       const float* __restrict__ prev, float* __restrict__ out,
                                       float* __restrict__ x0_out, int64_t n, const DpmCoef c) {
  for (int64_t q = global_thread(); q < n / 4; q += global_threads()) {
    const Quad vx = load_quad<Vec4>(x, q), vm = load_quad<Vec4>(m, q);
    Quad pv{};
    if constexpr (Prev) pv = load_quad<Vec4>(prev, q);
    Quad r, r0;
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      r0.v[k] = c.x0(vx.v[k], vm.v[k]);
      float v = c.cx * vx.v[k] + c.c0 * r0.v[k];
      if constexpr (Prev) v += c.cp * pv.v[k];
      r.v[k] = v;
    }
    store_quad<Vec4>(out, q, r);
    store_quad<Vec4>(x0_out, q, r0);
  }
  const int64_t i = tail_element(n);
  if (i < n) {
    const float x0 = c.x0(x[i], m[i]);
    float v = c.cx * x[i] + c.c0 * x0;
    if constexpr (Prev) v += c.cp * prev[i];
    out[i] = v;
    x0_out[i] = x0;
  }
}

template <bool Vec4>
void launch(const float* x, const float* m, const float* prev, float* out, float* x0, int64_t n,
            const DpmCoef& c, cudaStream_t s) {
  if (prev)
    dpm_solver_step_kernel<Vec4, true><<<blocks_for_quads(n), kThreads, 0, s>>>(x, m, prev, out, x0, n, c);
  else
    dpm_solver_step_kernel<Vec4, false><<<blocks_for_quads(n), kThreads, 0, s>>>(x, m, prev, out, x0, n, c);
}

}  // namespace

void dpm_solver_step(const float* x_t, const float* model_out, const float* x0_prev, float* x_prev, float* x0,
                     int64_t n, const DpmSolverStepParams& p) {
  if (n == 0) return;
  DpmCoef c;
  c.a = static_cast<float>(p.sqrt_ab);
  c.b = static_cast<float>(p.sqrt_one_minus_ab);
  c.cx = static_cast<float>(p.c_x);
  c.c0 = static_cast<float>(p.c_x0);
  c.cp = static_cast<float>(p.c_prev);
  c.eps_pred = !p.v_pred;
  c.clip = p.clip_x0;
  const cudaStream_t s = ddpm::cuda::stream();
  if (vec4_ok(x_t, model_out, x0_prev, x_prev, x0))
    launch<true>(x_t, model_out, x0_prev, x_prev, x0, n, c, s);
  else
    launch<false>(x_t, model_out, x0_prev, x_prev, x0, n, c, s);
  DDPM_CUDA_LAUNCHED("dpm_solver_step_kernel", std::to_string(n) + " elements");
}

}  // namespace ddpm::kernels::cuda
