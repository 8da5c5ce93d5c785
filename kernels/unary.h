// Elementwise unary functions: neg, exp, log, sqrt, sin, cos (the schedules
// and the sinusoidal time embedding use these).
//
//   fwd: y = f(x)
//   bwd: gx = g * f'(x):  neg: -g   exp: g*y   log: g/x   sqrt: g/(2y)
//                         sin: g*cos(x)   cos: -g*sin(x)
#pragma once

#include "tensor/tensor.h"

namespace ddpm::kernels {

enum class UnaryOp { neg, exp, log, sqrt, sin, cos };
const char* unary_op_name(UnaryOp op);

Tensor unary_fwd(UnaryOp op, const Tensor& x);
// y is the forward output (used by exp and sqrt).
Tensor unary_bwd(UnaryOp op, const Tensor& x, const Tensor& y, const Tensor& grad_out);

namespace cpu {
template <class T>
void unary_fwd(UnaryOp op, const T* x, T* y, int64_t n);
template <class T>
void unary_bwd(UnaryOp op, const T* x, const T* y, const T* g, T* gx, int64_t n);
}  // namespace cpu

// kernels/cuda/unary.cu; device pointers, launched on the engine stream.
namespace cuda {
void unary_fwd(UnaryOp op, const float* x, float* y, int64_t n);
void unary_bwd(UnaryOp op, const float* x, const float* y, const float* g, float* gx, int64_t n);
}  // namespace cuda

}  // namespace ddpm::kernels
