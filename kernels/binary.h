// Elementwise binary ops with NumPy broadcasting: add, sub, mul, div.
//
//   out[i] = a[bcast(i)] (op) b[bcast(i)]
//
// Backward reduces the upstream gradient over each operand's broadcast
// dimensions (sum_to):
//   add: ga = g,        gb = g
//   sub: ga = g,        gb = -g
//   mul: ga = g*b,      gb = g*a
//   div: ga = g/b,      gb = -g*a/b^2
// The per-channel add [N,C,1,1] + [N,C,H,W] that injects the time embedding is
// the broadcast case that matters most.
#pragma once

#include "kernels/broadcast.h"
#include "tensor/tensor.h"

namespace ddpm::kernels {

enum class BinaryOp { add, sub, mul, div };
const char* binary_op_name(BinaryOp op);

Tensor binary_fwd(BinaryOp op, const Tensor& a, const Tensor& b);
// a = a (op) b in place, b broadcastable to a (gradient accumulation,
// gradient scaling). Not differentiable.
void binary_inplace(BinaryOp op, Tensor& a, const Tensor& b);
// Gradients for a and b (either pointer may be null when not needed).
void binary_bwd(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& grad_out, Tensor* grad_a,
                Tensor* grad_b);

// Sums x over the dimensions along which `shape` was broadcast to x.shape(),
// returning a tensor of `shape`.
Tensor sum_to(const Tensor& x, const Shape& shape);

namespace cpu {
template <class T>
void binary_fwd(BinaryOp op, const T* a, const T* b, T* out, const BroadcastPlan& plan);
// out (of the small shape) = x summed over the broadcast dims, in double and
// rounded once (as on CUDA); every element of out is written;
// plan: output shape = x's shape, operand 0 = x (contiguous), operand 1 = out.
template <class T>
void sum_to(const T* x, T* out, int64_t out_numel, const BroadcastPlan& plan);
}  // namespace cpu

// kernels/cuda/binary.cu; device pointers, launched on the engine stream.
namespace cuda {
// out may be a (the in-place form).
void binary_fwd(BinaryOp op, const float* a, const float* b, float* out, const BroadcastPlan& plan);
// Writes every element of out (no zeroing needed); deterministic.
void sum_to(const float* x, float* out, int64_t out_numel, const BroadcastPlan& plan);
}  // namespace cuda

}  // namespace ddpm::kernels
