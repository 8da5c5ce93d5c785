// ema_update: exponential moving average of the weights, over flat buffers.
//
//   ema = decay * ema + (1 - decay) * param
// The EMA weights are what the trainer saves for sampling.
#pragma once

#include <cstdint>

#include "tensor/tensor.h"

namespace ddpm::kernels {

void ema_update(Tensor& ema, const Tensor& param, double decay);

namespace cpu {
template <class T>
void ema_update(T* ema, const T* param, int64_t n, double decay);
}

// kernels/cuda/ema_update.cu; device pointers, launched on the engine stream.
namespace cuda {
void ema_update(float* ema, const float* param, int64_t n, double decay);
}

}  // namespace ddpm::kernels
