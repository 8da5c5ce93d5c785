// CUDA elementwise binary ops (add, sub, mul, div) over a BroadcastPlan, the
// in-place form (out == a), and sum_to, the deterministic reduction that
// undoes a broadcast in backward. binary_bwd itself is composed at the
// Tensor level (kernels/binary.cpp) from these two kernels, on any device.
//
// Forward, two launch shapes chosen by the plan:
//  - flat (plan of at most one dimension: same shapes, or one operand a single
//    value): a grid-stride loop over quads of 4 elements, float4 accesses when
//    the pointers are 16-byte aligned, then the n % 4 tail;
//  - broadcast (two or more merged dimensions, e.g. the per-channel
//    [N,C,1,1] + [N,C,H,W], merged to rows N*C by columns H*W): one thread
//    per element, or per quad of a row when the row length is a multiple of 4
//    and the pointers are aligned. The thread finds its row's operand offsets
//    by dividing the row index through the plan's outer dimensions. Each
//    operand's stride along the last (merged) dimension is 0 or 1 (the plan
//    drops size-1 dimensions and merges contiguous runs), and an operand with
//    stride 1 there has every outer stride a multiple of the row length, so a
//    quad of a row starts 16-byte aligned whenever the row length is a
//    multiple of 4 and the base pointer is aligned.
//
// sum_to: out[k] = sum over the reduced dimensions of x, for each kept
// position k. The plan's dimensions split into kept ones (out stride != 0)
// and reduced ones; out is contiguous, so k is the row-major index over the
// kept dimensions. Two shapes, neither with atomics:
//  - few terms per output (R <= 256: bias gradients over a batch, small
//    feature maps): a thread per output adds its R terms in order;
//  - many terms: a block (or S blocks, each a contiguous chunk of the R terms)
//    per output, threads striding over the terms, a fixed-order block sum,
//    then a second kernel adds the S partials in order.
// Sums are accumulated in double and rounded to float once.
#include <cstdint>
#include <stdexcept>
#include <string>

#include "kernels/binary.h"
#include "kernels/cuda/elementwise.cuh"
#include "kernels/cuda/reduce.cuh"

namespace ddpm::kernels::cuda {

namespace {

template <BinaryOp Op>
__device__ __forceinline__ float apply(float x, float y) {
  if constexpr (Op == BinaryOp::add) return x + y;
  if constexpr (Op == BinaryOp::sub) return x - y;
  if constexpr (Op == BinaryOp::mul) return x * y;
  return x / y;
}

// Operands of the flat kernel: stride 1 (contiguous) or 0 (one value).
template <BinaryOp Op, bool Vec4>
__global__ void binary_fwd_kernel(const float* a, const float* b, float* out, int64_t n, int a_step,
                                  int b_step) {
  const int64_t nq = n / 4;
  for (int64_t q = global_thread(); q < nq; q += global_threads()) {
    Quad va, vb, r;
    if (a_step) {
      va = load_quad<Vec4>(a, q);
    } else {
#pragma unroll
      for (int k = 0; k < 4; ++k) va.v[k] = a[0];
    }
    if (b_step) {
      vb = load_quad<Vec4>(b, q);
    } else {
#pragma unroll
      for (int k = 0; k < 4; ++k) vb.v[k] = b[0];
    }
#pragma unroll
    for (int k = 0; k < 4; ++k) r.v[k] = apply<Op>(va.v[k], vb.v[k]);
    store_quad<Vec4>(out, q, r);
  }
  const int64_t i = tail_element(n);
  if (i < n) out[i] = apply<Op>(a[i * a_step], b[i * b_step]);
}

// General plan (ndim >= 1). Vec4: each unit is a quad of one row (the row
// length is a multiple of 4); otherwise each unit is one element.
template <BinaryOp Op, bool Vec4>
__global__ void binary_fwd_broadcast_kernel(const float* a, const float* b, float* out,
                                            const BroadcastPlan p) {
  const int last = p.ndim - 1;
  const int64_t inner = p.shape[last];
  const int64_t sa = p.stride[0][last], sb = p.stride[1][last];
  constexpr int64_t kUnit = Vec4 ? 4 : 1;
  const int64_t units = p.numel / kUnit;
  for (int64_t u = global_thread(); u < units; u += global_threads()) {
    const int64_t e = u * kUnit;
    const int64_t r = e / inner, j = e - r * inner;
    int64_t oa, ob;
    row_offsets(p, r, oa, ob);
    if constexpr (Vec4) {
      Quad va, vb, res;
      if (sa) {
        va = load_quad<true>(a + oa + j, 0);
      } else {
#pragma unroll
        for (int k = 0; k < 4; ++k) va.v[k] = a[oa];
      }
      if (sb) {
        vb = load_quad<true>(b + ob + j, 0);
      } else {
#pragma unroll
        for (int k = 0; k < 4; ++k) vb.v[k] = b[ob];
      }
#pragma unroll
      for (int k = 0; k < 4; ++k) res.v[k] = apply<Op>(va.v[k], vb.v[k]);
      store_quad<true>(out + e, 0, res);
    } else {
      out[e] = apply<Op>(a[oa + j * sa], b[ob + j * sb]);
    }
  }
}

template <BinaryOp Op>
void launch_binary(const float* a, const float* b, float* out, const BroadcastPlan& p) {
  const int64_t n = p.numel;
  if (n == 0) return;
  const cudaStream_t s = ddpm::cuda::stream();
  const bool flat = p.ndim == 0 || (p.ndim == 1 && p.stride[0][0] <= 1 && p.stride[1][0] <= 1);
  if (flat) {
    const int a_step = p.ndim == 1 ? static_cast<int>(p.stride[0][0]) : 0;
    const int b_step = p.ndim == 1 ? static_cast<int>(p.stride[1][0]) : 0;
    const bool vec = vec4_ok(out, a_step ? a : nullptr, b_step ? b : nullptr);
    if (vec)
      binary_fwd_kernel<Op, true><<<blocks_for_quads(n), kThreads, 0, s>>>(a, b, out, n, a_step, b_step);
    else
      binary_fwd_kernel<Op, false><<<blocks_for_quads(n), kThreads, 0, s>>>(a, b, out, n, a_step, b_step);
    DDPM_CUDA_LAUNCHED("binary_fwd_kernel",
                       std::string(binary_op_name(Op)) + ", " + std::to_string(n) + " elements");
    return;
  }
  const int last = p.ndim - 1;
  const bool a_rows = p.stride[0][last] == 1, b_rows = p.stride[1][last] == 1;
  const bool vec = p.shape[last] % 4 == 0 && vec4_ok(out, a_rows ? a : nullptr, b_rows ? b : nullptr);
  if (vec)
    binary_fwd_broadcast_kernel<Op, true><<<blocks_for(n / 4, kThreads), kThreads, 0, s>>>(a, b, out, p);
  else
    binary_fwd_broadcast_kernel<Op, false><<<blocks_for(n, kThreads), kThreads, 0, s>>>(a, b, out, p);
  DDPM_CUDA_LAUNCHED("binary_fwd_broadcast_kernel", std::string(binary_op_name(Op)) + ", " +
                                                        std::to_string(p.ndim) + "-d plan, " +
                                                        std::to_string(n) + " elements");
}

// ---- sum_to ----

// The plan's dimensions split into kept (out stride != 0) and reduced ones,
// each with x's strides; k and r are row-major indices over them.
struct SumToDims {
  int nkeep = 0, nred = 0;
  int64_t keep_shape[kMaxDims] = {}, keep_stride[kMaxDims] = {};
  int64_t red_shape[kMaxDims] = {}, red_stride[kMaxDims] = {};
  int64_t outputs = 1, terms = 1;  // K and R
};

__device__ __forceinline__ int64_t offset_of(int64_t idx, const int64_t* shape, const int64_t* stride,
                                             int nd) {
  int64_t off = 0;
  for (int d = nd - 1; d >= 0; --d) {
    const int64_t i = idx % shape[d];
    idx /= shape[d];
    off += i * stride[d];
  }
  return off;
}

// A thread per output, its terms added in order.
__global__ void sum_to_kernel(const float* x, float* out, const SumToDims d) {
  for (int64_t k = global_thread(); k < d.outputs; k += global_threads()) {
    const float* base = x + offset_of(k, d.keep_shape, d.keep_stride, d.nkeep);
    double acc = 0;
    for (int64_t r = 0; r < d.terms; ++r)
      acc += static_cast<double>(base[offset_of(r, d.red_shape, d.red_stride, d.nred)]);
    out[k] = static_cast<float>(acc);
  }
}

// Block (k, s) sums the terms [s*chunk, min(R, (s+1)*chunk)) of output k;
// with one split the block writes the output, else its partial.
__global__ void sum_to_split_kernel(const float* x, float* out, double* partials, const SumToDims d,
                                    int64_t chunk) {
  const int splits = static_cast<int>(gridDim.y);
  const int64_t lo = static_cast<int64_t>(blockIdx.y) * chunk;
  const int64_t hi = lo + chunk < d.terms ? lo + chunk : d.terms;
  for (int64_t k = blockIdx.x; k < d.outputs; k += gridDim.x) {
    const float* base = x + offset_of(k, d.keep_shape, d.keep_stride, d.nkeep);
    double acc = 0;
    for (int64_t r = lo + threadIdx.x; r < hi; r += kThreads)
      acc += static_cast<double>(base[offset_of(r, d.red_shape, d.red_stride, d.nred)]);
    const double total = block_sum<kThreads>(acc);
    if (threadIdx.x == 0) {
      if (splits == 1)
        out[k] = static_cast<float>(total);
      else
        partials[k * splits + blockIdx.y] = total;
    }
  }
}

__global__ void sum_to_finish_kernel(const double* partials, float* out, int64_t outputs, int splits) {
  for (int64_t k = global_thread(); k < outputs; k += global_threads()) {
    double acc = 0;
    for (int s = 0; s < splits; ++s) acc += partials[k * splits + s];
    out[k] = static_cast<float>(acc);
  }
}

}  // namespace

void binary_fwd(BinaryOp op, const float* a, const float* b, float* out, const BroadcastPlan& plan) {
  switch (op) {
    case BinaryOp::add:
      return launch_binary<BinaryOp::add>(a, b, out, plan);
    case BinaryOp::sub:
      return launch_binary<BinaryOp::sub>(a, b, out, plan);
    case BinaryOp::mul:
      return launch_binary<BinaryOp::mul>(a, b, out, plan);
    case BinaryOp::div:
      return launch_binary<BinaryOp::div>(a, b, out, plan);
  }
}

void sum_to(const float* x, float* out, int64_t out_numel, const BroadcastPlan& p) {
  if (out_numel == 0) return;
  SumToDims d;
  for (int i = 0; i < p.ndim; ++i) {
    if (p.stride[1][i] != 0) {
      d.keep_shape[d.nkeep] = p.shape[i];
      d.keep_stride[d.nkeep++] = p.stride[0][i];
      d.outputs *= p.shape[i];
    } else {
      d.red_shape[d.nred] = p.shape[i];
      d.red_stride[d.nred++] = p.stride[0][i];
      d.terms *= p.shape[i];
    }
  }
  if (d.outputs != out_numel)
    throw std::logic_error("sum_to: plan keeps " + std::to_string(d.outputs) + " outputs, the result has " +
                           std::to_string(out_numel));
  const cudaStream_t s = ddpm::cuda::stream();
  const std::string detail = std::to_string(d.outputs) + " outputs of " + std::to_string(d.terms) + " terms";
  if (d.terms <= 256) {
    sum_to_kernel<<<blocks_for(d.outputs, kThreads), kThreads, 0, s>>>(x, out, d);
    DDPM_CUDA_LAUNCHED("sum_to_kernel", detail);
    return;
  }
  // Splits so that each block adds about 16 terms per thread, at most 64.
  const int64_t per_block = static_cast<int64_t>(kThreads) * 16;
  int64_t splits = (d.terms + per_block - 1) / per_block;
  splits = splits > 64 ? 64 : splits;
  const int64_t chunk = (d.terms + splits - 1) / splits;
  const unsigned grid_x = static_cast<unsigned>(d.outputs < 65535 ? d.outputs : 65535);
  const dim3 grid(grid_x, static_cast<unsigned>(splits));
  if (splits == 1) {
    sum_to_split_kernel<<<grid, kThreads, 0, s>>>(x, out, nullptr, d, chunk);
    DDPM_CUDA_LAUNCHED("sum_to_split_kernel", detail);
    return;
  }
  DeviceScratch partials(static_cast<size_t>(d.outputs * splits) * sizeof(double));
  sum_to_split_kernel<<<grid, kThreads, 0, s>>>(x, out, partials.as<double>(), d, chunk);
  DDPM_CUDA_LAUNCHED("sum_to_split_kernel", detail);
  sum_to_finish_kernel<<<blocks_for(d.outputs, kThreads), kThreads, 0, s>>>(
      partials.as<double>(), out, d.outputs, static_cast<int>(splits));
  DDPM_CUDA_LAUNCHED("sum_to_finish_kernel", detail);
}

}  // namespace ddpm::kernels::cuda
