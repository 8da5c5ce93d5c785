// Concatenation along one dimension (the UNet's skip connections,
// torch.cat([up, skip], dim=1)).
//
// Inputs x_0..x_{k-1} agree on every dimension but `dim`; with
// outer = prod(shape[:dim]) and inner = prod(shape[dim+1:]) each input is
// `outer` contiguous rows of size_i * inner elements, and the output is
// `outer` rows of (sum_i size_i) * inner: row r of the output is the rows r of
// the inputs placed side by side.
//   bwd: gx_i = the columns of g that came from x_i (a split).
// Parallel over the outer rows; a pure copy, so any split gives the same bits.
#pragma once

#include <cstdint>
#include <vector>

#include "tensor/tensor.h"

namespace ddpm::kernels {

struct ConcatDims {
  int64_t outer = 1;  // product of the dims before `dim`
  int64_t inner = 1;  // product of the dims after `dim`
  int64_t total = 0;  // output size along `dim` (sum of the inputs' sizes)
};

// dim may be negative (counted from the end).
Tensor concat_fwd(const std::vector<Tensor>& xs, int64_t dim);
// Splits g back into pieces of the given shapes; need[i] false leaves piece i
// undefined.
std::vector<Tensor> concat_bwd(const Tensor& grad_out, const std::vector<Shape>& shapes, int64_t dim,
                               const std::vector<bool>& need);

namespace cpu {
// sizes[i]: input i's size along dim; xs/sizes have `count` entries.
template <class T>
void concat_fwd(const T* const* xs, const int64_t* sizes, int64_t count, T* out, const ConcatDims& d);
// gxs[i] may be null (piece not needed).
template <class T>
void concat_bwd(const T* g, T* const* gxs, const int64_t* sizes, int64_t count, const ConcatDims& d);
}  // namespace cpu

// kernels/cuda/concat.cu; device pointers (the arrays of them on the host),
// launched on the engine stream.
namespace cuda {
void concat_fwd(const float* const* xs, const int64_t* sizes, int64_t count, float* out, const ConcatDims& d);
// gxs[i] may be null (piece not needed).
void concat_bwd(const float* g, float* const* gxs, const int64_t* sizes, int64_t count, const ConcatDims& d);
}  // namespace cuda

}  // namespace ddpm::kernels
