// Seeded random tensors on top of the Philox counter-based generator.
//
// Element i of a fill with (seed, stream, offset) is philox value
// f(seed, stream, offset + i). Streams separate independent uses (weights
// init, training noise, timesteps, sampling noise, data order) so that adding
// a draw in one place never shifts the numbers of another. The CUDA backend
// fills device tensors with the same function, element for element.
#pragma once

#include <cstdint>

#include "tensor/tensor.h"

namespace ddpm {

// Fills t with standard normal draws.
void fill_normal(Tensor& t, uint64_t seed, uint64_t stream, uint64_t offset = 0);
// Fills t with uniform draws on (lo, hi).
void fill_uniform(Tensor& t, double lo, double hi, uint64_t seed, uint64_t stream, uint64_t offset = 0);

Tensor randn(const Shape& shape, uint64_t seed, uint64_t stream, DType dtype = DType::f32,
             Device device = Device::cpu);
Tensor rand_uniform(const Shape& shape, double lo, double hi, uint64_t seed, uint64_t stream,
                    DType dtype = DType::f32, Device device = Device::cpu);

}  // namespace ddpm
