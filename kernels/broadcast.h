// Broadcast iteration plan shared by the elementwise binary ops and by
// sum_to (the reduction that undoes a broadcast in backward).
//
// A plan is the output shape with, for each operand, its element stride per
// output dimension (0 where the operand is broadcast). Adjacent dimensions
// that are contiguous for every operand are merged, so [N,C,H,W] + [N,C,1,1]
// becomes a 2-d loop of N*C rows by H*W columns. Raw sizes only: the CUDA
// kernels take the same plan.
#pragma once

#include <cstdint>
#include <vector>

#include "tensor/shape.h"

namespace ddpm::kernels {

constexpr int kMaxDims = 8;

struct BroadcastPlan {
  int ndim = 0;
  int64_t shape[kMaxDims] = {};
  int64_t stride[2][kMaxDims] = {};  // [operand][dim], in elements
  int64_t numel = 1;
};

// Plan for an output of shape `out` reading operands of shapes a and b (each
// broadcastable to out).
BroadcastPlan make_broadcast_plan(const Shape& out, const Shape& a, const Shape& b);

}  // namespace ddpm::kernels
