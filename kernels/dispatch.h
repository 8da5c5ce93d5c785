// Helpers shared by the Tensor-level entry points of every op: dtype
// dispatch to the templated CPU kernels, and the error for a device that has
// no kernel in this build.
#pragma once

#include <stdexcept>
#include <string>

#include "tensor/tensor.h"

namespace ddpm::kernels {

// Calls f(T{}) with T = float or double according to dtype.
template <class F>
decltype(auto) dispatch_float(DType dtype, F&& f) {
  if (dtype == DType::f32) return f(float{});
  return f(double{});
}

[[noreturn]] inline void no_kernel(const char* op, const Tensor& t) {
  throw std::runtime_error(std::string(op) + ": no kernel for " + t.desc() +
                           (t.device() == Device::cuda ? " (this build has no CUDA backend)"
                                                       : " (CUDA kernels are float32 only)"));
}

// The CUDA kernels are float32 only: throws naming op for anything else.
inline void require_cuda_f32(const char* op, const Tensor& t) {
  if (t.dtype() != DType::f32) no_kernel(op, t);
}

// Throws naming op unless every tensor shares a's dtype and device.
inline void check_all_like(const char* op, const Tensor& a, std::initializer_list<const Tensor*> others) {
  for (const Tensor* t : others)
    if (t && t->defined()) check_same_dtype_device(a, *t, op);
}

}  // namespace ddpm::kernels
