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

#include "tensor/host_device.h"
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

// Offsets in operands 0 and 1 of row r of the plan (a flat index over every
// dimension but the last); the CPU and CUDA kernels walk rows with it.
DDPM_HD void row_offsets(const BroadcastPlan& p, int64_t r, int64_t& oa, int64_t& ob) {
  oa = 0;
  ob = 0;
  for (int d = p.ndim - 2; d >= 0; --d) {
    const int64_t i = r % p.shape[d];
    r /= p.shape[d];
    oa += i * p.stride[0][d];
    ob += i * p.stride[1][d];
  }
}

}  // namespace ddpm::kernels
