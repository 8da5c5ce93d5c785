// Helpers shared by the Tensor-level entry points of every op: the one
// device switch (on_device), dtype dispatch to the templated CPU kernels, and
// the error for a device that has no kernel in this build.
#pragma once

#include <initializer_list>
#include <stdexcept>
#include <string>

#include "kernels/op_profile.h"
#include "tensor/tensor.h"

namespace ddpm::kernels {

// Whether this build has the CUDA backend (kernels/cuda/*.cu compiled and
// linked). The only #ifdef DDPM_CUDA in kernels/ outside kernels/cuda/: the
// entry points ask kHaveCuda, through on_device.
#ifdef DDPM_CUDA
inline constexpr bool kHaveCuda = true;
#else
inline constexpr bool kHaveCuda = false;
#endif

[[noreturn]] inline void no_kernel(const char* op, const Tensor& t) {
  std::string why;
  if (t.dtype() == DType::bf16)
    why = " (bf16 is a storage dtype so far: no op has a bf16 kernel yet; convert with .to(DType::f32))";
  else if (t.device() == Device::cuda)
    why = kHaveCuda ? " (CUDA kernels are float32 only)" : " (this build has no CUDA backend)";
  throw std::runtime_error(std::string(op) + ": no kernel for " + t.desc() + why);
}

// Calls f(T{}) with T = float or double according to x's dtype; throws
// naming op for a dtype no CPU kernel takes (bf16).
template <class F>
decltype(auto) dispatch_float(const char* op, const Tensor& x, F&& f) {
  if (x.dtype() == DType::bf16) no_kernel(op, x);
  if (x.dtype() == DType::f32) return f(float{});
  return f(double{});
}

// The CUDA kernels are float32 only: throws naming op for anything else.
inline void require_cuda_f32(const char* op, const Tensor& t) {
  if (t.dtype() != DType::f32) no_kernel(op, t);
}

// The device switch of every entry point. Runs the op's kernel on x's device
// (x: the tensor whose device and dtype every operand shares, checked
// before) and returns what the chosen callable returns:
//   Device::cpu:  on_cpu(T{}), T = float or double by x's dtype (dispatch_float;
//                 bf16 throws naming op);
//   Device::cuda: on_cuda(float{}) after require_cuda_f32 (float32 only) when
//                 this build has CUDA; without it, no_kernel ("... (this build
//                 has no CUDA backend)").
// Write on_cuda as a generic lambda, [&](auto) { cuda::op(...); }: its body is
// instantiated only by the call below, which `if constexpr` discards in a
// build without CUDA, so the cuda:: launchers (declared in every build,
// defined only in kernels/cuda/*.cu) are never referenced there and the
// build links. A new backend is one more branch here plus its launchers.
template <class CpuFn, class CudaFn>
decltype(auto) on_device(const char* op, const Tensor& x, CpuFn&& on_cpu, CudaFn&& on_cuda) {
  if (x.device() == Device::cuda) {
    if constexpr (kHaveCuda) {
      require_cuda_f32(op, x);
      return on_cuda(float{});
    } else {
      no_kernel(op, x);
    }
  }
  const OpTimer timer(op);  // the CPU profile (kernels/op_profile.h); off by default
  return dispatch_float(op, x, on_cpu);
}

// Throws naming op unless every tensor shares a's dtype and device.
inline void check_all_like(const char* op, const Tensor& a, std::initializer_list<const Tensor*> others) {
  for (const Tensor* t : others)
    if (t && t->defined()) check_same_dtype_device(a, *t, op);
}

}  // namespace ddpm::kernels
