// Dropout with a counter-based mask: nothing is stored between the forward
// and the backward, which draws the same mask again from the same counters.
//
//   u_i    = philox::uniform(seed, stream, offset + i)   (tensor/philox.h; i the flat index)
//   keep_i = u_i >= p
//   fwd:  y_i  = keep_i ? x_i * s : 0        s = T(1 / (1 - p)), rounded once to x's dtype
//   bwd:  gx_i = keep_i ? g_i * s : 0        (the same map applied to the upstream gradient)
// 0 <= p < 1; p == 0 keeps every element and returns x's values unchanged
// (u is in (0, 1)). The uniform is 53 bits of the draw's words 0-1 mapped
// with exact integer and power-of-two arithmetic, so keep_i is the same bit
// on the CPU and the GPU, and y the same bits (one IEEE multiply).
// The model picks the stream (diffusion/streams.h, kDropout) and an offset
// per forward pass, so every dropout layer and step gets its own mask.
#pragma once

#include <cstdint>

#include "tensor/tensor.h"

namespace ddpm::kernels {

struct DropoutDims {
  int64_t n = 0;  // elements
  double p = 0;   // drop probability, in [0, 1)
  uint64_t seed = 0, stream = 0, offset = 0;
};

// x of any shape -> the same shape.
Tensor dropout_fwd(const Tensor& x, double p, uint64_t seed, uint64_t stream, uint64_t offset);
// The gradient of x from the upstream gradient (the same mask, regenerated).
Tensor dropout_bwd(const Tensor& grad_out, double p, uint64_t seed, uint64_t stream, uint64_t offset);

// The raw kernels apply the mask and the scale to x (forward) or to the
// upstream gradient (backward): out_i = keep_i ? in_i * s : 0.
namespace cpu {
template <class T>
void dropout_fwd(const T* in, T* out, const DropoutDims& d);
}  // namespace cpu

// kernels/cuda/dropout.cu; device pointers, launched on the engine stream.
namespace cuda {
void dropout_fwd(const float* in, float* out, const DropoutDims& d);
}  // namespace cuda

}  // namespace ddpm::kernels
