// CUDA concat along one dimension and its split (backward): pure copies.
//
// Layout (kernels/concat.h): input i is `outer` rows of len_i = size_i * inner
// contiguous elements; an output row is the inputs' rows side by side, piece
// i starting at column col_i = (size_0 + .. + size_{i-1}) * inner of a row of
// row_len = total * inner elements.
// One launch copies up to kMaxPieces pieces: blockIdx.y is the piece, and the
// blocks along x stride over that piece's outer * len_i elements (forward:
// x_i -> its columns of out; backward: those columns of g -> gx_i). Every
// destination element is written once. When every len_i, col_i and row_len is
// a multiple of 4 and every pointer 16-byte aligned, a thread moves a float4
// (a quad never crosses a row); otherwise one float.
#include <algorithm>
#include <cstdint>
#include <string>

#include "kernels/concat.h"
#include "kernels/cuda/elementwise.cuh"

namespace ddpm::kernels::cuda {

namespace {

constexpr int kMaxPieces = 8;

struct Pieces {
  const float* src[kMaxPieces];  // forward: the inputs; backward: unused
  float* dst[kMaxPieces];        // forward: unused; backward: the gradients
  int64_t len[kMaxPieces];       // elements of a piece's row
  int64_t col[kMaxPieces];       // first column of the piece in an output row
  int64_t outer = 0, row_len = 0;
};

// Element e of piece i (row e / len, column e % len) <-> the concatenated
// tensor's flat index.
__device__ __forceinline__ int64_t joined_index(const Pieces& p, int i, int64_t e) {
  const int64_t r = e / p.len[i];
  return r * p.row_len + p.col[i] + (e - r * p.len[i]);
}

template <bool Vec4>
__global__ void concat_fwd_kernel(const Pieces p, float* __restrict__ out) {
  const int i = static_cast<int>(blockIdx.y);
  const float* __restrict__ x = p.src[i];
  const int64_t n = p.outer * p.len[i];
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  if constexpr (Vec4) {
    for (int64_t q = global_thread(); q < n / 4; q += stride)
      store_quad<true>(out + joined_index(p, i, 4 * q), 0, load_quad<true>(x, q));
  } else {
    for (int64_t e = global_thread(); e < n; e += stride) out[joined_index(p, i, e)] = x[e];
  }
}

template <bool Vec4>
__global__ void concat_bwd_kernel(const Pieces p, const float* __restrict__ g) {
  const int i = static_cast<int>(blockIdx.y);
  float* __restrict__ gx = p.dst[i];
  const int64_t n = p.outer * p.len[i];
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  if constexpr (Vec4) {
    for (int64_t q = global_thread(); q < n / 4; q += stride)
      store_quad<true>(gx, q, load_quad<true>(g + joined_index(p, i, 4 * q), 0));
  } else {
    for (int64_t e = global_thread(); e < n; e += stride) gx[e] = g[joined_index(p, i, e)];
  }
}

// Launches one kernel per batch of up to kMaxPieces pieces; `pick` fills the
// batch's pointer for piece k (returns false to skip the piece).
template <class Pick, class Launch>
void for_each_batch(const int64_t* sizes, int64_t count, const ConcatDims& d, Pick pick, Launch launch) {
  Pieces p{};
  p.outer = d.outer;
  p.row_len = d.total * d.inner;
  int in_batch = 0;
  int64_t col = 0, longest = 0;
  bool vec = p.row_len % 4 == 0;
  auto flush = [&]() {
    if (in_batch == 0) return;
    launch(p, in_batch, longest, vec);
    in_batch = 0;
    longest = 0;
    vec = p.row_len % 4 == 0;
  };
  for (int64_t k = 0; k < count; ++k) {
    const int64_t len = sizes[k] * d.inner;
    if (len > 0 && d.outer > 0 && pick(p, in_batch, k)) {
      p.len[in_batch] = len;
      p.col[in_batch] = col;
      vec = vec && len % 4 == 0 && col % 4 == 0;
      longest = std::max(longest, d.outer * len);
      if (++in_batch == kMaxPieces) flush();
    }
    col += len;
  }
  flush();
}

}  // namespace

void concat_fwd(const float* const* xs, const int64_t* sizes, int64_t count, float* out, const ConcatDims& d) {
  const cudaStream_t s = ddpm::cuda::stream();
  for_each_batch(
      sizes, count, d,
      [&](Pieces& p, int slot, int64_t k) {
        p.src[slot] = xs[k];
        return true;
      },
      [&](const Pieces& p, int pieces, int64_t longest, bool vec) {
        for (int k = 0; k < pieces; ++k) vec = vec && vec4_ok(p.src[k]);
        vec = vec && vec4_ok(out);
        const dim3 grid(blocks_for(vec ? longest / 4 : longest, kThreads), static_cast<unsigned>(pieces));
        if (vec)
          concat_fwd_kernel<true><<<grid, kThreads, 0, s>>>(p, out);
        else
          concat_fwd_kernel<false><<<grid, kThreads, 0, s>>>(p, out);
        DDPM_CUDA_LAUNCHED("concat_fwd_kernel", std::to_string(pieces) + " pieces, " + std::to_string(d.outer) +
                                                    " rows of " + std::to_string(p.row_len));
      });
}

void concat_bwd(const float* g, float* const* gxs, const int64_t* sizes, int64_t count, const ConcatDims& d) {
  const cudaStream_t s = ddpm::cuda::stream();
  for_each_batch(
      sizes, count, d,
      [&](Pieces& p, int slot, int64_t k) {
        if (!gxs[k]) return false;
        p.dst[slot] = gxs[k];
        return true;
      },
      [&](const Pieces& p, int pieces, int64_t longest, bool vec) {
        for (int k = 0; k < pieces; ++k) vec = vec && vec4_ok(p.dst[k]);
        vec = vec && vec4_ok(g);
        const dim3 grid(blocks_for(vec ? longest / 4 : longest, kThreads), static_cast<unsigned>(pieces));
        if (vec)
          concat_bwd_kernel<true><<<grid, kThreads, 0, s>>>(p, g);
        else
          concat_bwd_kernel<false><<<grid, kThreads, 0, s>>>(p, g);
        DDPM_CUDA_LAUNCHED("concat_bwd_kernel", std::to_string(pieces) + " pieces, " + std::to_string(d.outer) +
                                                    " rows of " + std::to_string(p.row_len));
      });
}

}  // namespace ddpm::kernels::cuda
