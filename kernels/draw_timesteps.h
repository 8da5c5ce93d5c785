// draw_timesteps: a training step's timesteps and q_sample coefficients,
// drawn where the tables are (on a GPU: on the device, with no host draw and
// no copy of them; issue #21's step without host work):
//   t[n] = uniform_int(seed, stream, first + n, T)      (Philox, tensor/philox.h)
//   a[n] = table_a[t[n]],  b[n] = table_b[t[n]]
// T = the tables' length (the diffusion steps). t is returned as the tables'
// float type, as the models take it. The draw is the one diffusion/trainer.h
// names (t_j = uniform_int(seed, kTimesteps, step*G + j, T)), bit for bit on
// either device.
#pragma once

#include <cstdint>

#include "tensor/tensor.h"

namespace ddpm::kernels {

struct TimestepDraw {
  Tensor t, a, b;  // [batch] each, on the tables' device and dtype
};

// table_a, table_b: [T] (T >= 1) of one dtype and device.
TimestepDraw draw_timesteps(int64_t batch, uint64_t seed, uint64_t stream, uint64_t first,
                            const Tensor& table_a, const Tensor& table_b);

struct DrawTimestepsDims {
  int64_t batch, steps;  // steps: T, the tables' length
  uint64_t seed, stream, first;
};

namespace cpu {
template <class T>
void draw_timesteps(const T* table_a, const T* table_b, T* t, T* a, T* b, const DrawTimestepsDims& d);
}  // namespace cpu

// kernels/cuda/draw_timesteps.cu; device pointers, launched on the engine stream.
namespace cuda {
void draw_timesteps(const float* table_a, const float* table_b, float* t, float* a, float* b,
                    const DrawTimestepsDims& d);
}  // namespace cuda

}  // namespace ddpm::kernels
