// CPU conv2d: im2col + Eigen GEMM, parallel over the batch.
//
// The batch is cut into chunks of `group` consecutive images; a chunk is one
// GEMM whose columns are the output pixels of all its images:
//   col  [Cin*K*K, group*Hout*Wout]   im2col of the chunk (row (ci,kh,kw),
//                                     column (image, oh, ow))
//   fwd:        Y [Cout, cols]    = W col         (+ b, preloaded into Y)
//   bwd-data:   gcol [CKK, cols]  = W^T gY,  then col2im into gx
//   bwd-weight: gW [Cout, CKK]   += gY col^T
// group is 1 where an image has enough pixels to make a well-shaped GEMM on
// its own; then Y and gY are the NCHW tensors themselves. At small spatial
// sizes (the 8x8 and 4x4 levels of the UNet) several images are batched so
// the GEMM's inner dimension stays long, which matters most for bwd-weight:
// its per-chunk update reads and writes all of gW. 1x1 stride-1 unpadded
// convs skip im2col (col_n is x_n itself).
//
// Threads: the chunks are split into one contiguous block per OpenMP thread;
// each thread owns its im2col / gather scratch and runs Eigen's GEMM
// single-threaded (Eigen does not thread inside a parallel region). Measured
// on the 2-core machine at the UNet's shapes, this beats running the chunks in
// sequence with Eigen's own 2-thread GEMM (see benchmarks/conv2d_cpu.cpp).
// Every output element of fwd and bwd-data is written by one thread.
// bwd-weight: thread 0 accumulates into gW, the others into their own
// partial sums, added to gW afterwards in thread order, so the result is
// deterministic for a given thread count. The bias gradient is summed per
// channel by one thread each, in a fixed order (in double).
#include "kernels/cpu/gemm.h"  // first: see the note on GCC 12 there

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/conv2d.h"

namespace ddpm::kernels::cpu {

namespace {

// A GEMM with fewer columns than this per chunk batches several images.
constexpr int64_t kMinColumns = 256;
// Below this many flops a conv runs on one thread.
constexpr int64_t kParallelFlops = int64_t{1} << 21;

struct Plan {
  int64_t ckk = 0;     // Cin*K*K: GEMM depth (fwd) / rows of col
  int64_t hw_in = 0;   // H*W
  int64_t hw_out = 0;  // Hout*Wout
  bool direct = false; // 1x1, stride 1, pad 0: col_n = x_n
  int64_t group = 1;   // images per chunk
  int64_t chunks = 0;
  int threads = 1;
};

Plan make_plan(const Conv2dDims& d) {
  Plan p;
  p.ckk = d.Cin * d.K * d.K;
  p.hw_in = d.H * d.W;
  p.hw_out = d.Hout * d.Wout;
  p.direct = d.K == 1 && d.stride == 1 && d.pad == 0;
  const int64_t flops = 2 * d.N * d.Cout * p.hw_out * p.ckk;
  const int64_t threads = flops < kParallelFlops ? 1 : std::max<int64_t>(1, std::min<int64_t>(num_threads(), d.N));
  if (!p.direct) {
    const int64_t per_thread = (d.N + threads - 1) / threads;
    p.group = std::clamp<int64_t>((kMinColumns + p.hw_out - 1) / p.hw_out, 1, std::max<int64_t>(per_thread, 1));
  }
  p.chunks = (d.N + p.group - 1) / p.group;
  p.threads = static_cast<int>(std::min<int64_t>(threads, std::max<int64_t>(p.chunks, 1)));
  return p;
}

// Output positions o in [first, end) read an input index o*s - p + k inside [0, size).
struct Valid {
  int64_t first, end;
};
inline Valid valid_outputs(int64_t k, int64_t size, int64_t out, const Conv2dDims& d) {
  const int64_t lo = d.pad - k;  // o*s >= lo
  const int64_t first = lo <= 0 ? 0 : (lo + d.stride - 1) / d.stride;
  const int64_t hi = size - 1 + d.pad - k;  // o*s <= hi
  const int64_t end = hi < 0 ? 0 : std::min(out, hi / d.stride + 1);
  return {std::min(first, end), end};
}

template <class T>
void zero(T* p, int64_t n) {
  if (n > 0) std::memset(p, 0, static_cast<size_t>(n) * sizeof(T));
}

// col [Cin*K*K, ng*hw_out] from the ng images starting at x.
template <class T>
void im2col(const T* x, T* col, int64_t ng, const Conv2dDims& d, const Plan& p) {
  const int64_t ld = ng * p.hw_out;
  for (int64_t ci = 0; ci < d.Cin; ++ci) {
    for (int64_t kh = 0; kh < d.K; ++kh) {
      const Valid vh = valid_outputs(kh, d.H, d.Hout, d);
      for (int64_t kw = 0; kw < d.K; ++kw) {
        const Valid vw = valid_outputs(kw, d.W, d.Wout, d);
        T* row = col + ((ci * d.K + kh) * d.K + kw) * ld;
        for (int64_t j = 0; j < ng; ++j) {
          const T* xc = x + (j * d.Cin + ci) * p.hw_in;
          T* dst = row + j * p.hw_out;
          zero(dst, vh.first * d.Wout);
          for (int64_t oh = vh.first; oh < vh.end; ++oh) {
            const T* xr = xc + (oh * d.stride - d.pad + kh) * d.W;
            T* o = dst + oh * d.Wout;
            zero(o, vw.first);
            if (d.stride == 1) {
              const T* src = xr + (vw.first - d.pad + kw);
              std::copy(src, src + (vw.end - vw.first), o + vw.first);
            } else {
              for (int64_t ow = vw.first; ow < vw.end; ++ow) o[ow] = xr[ow * d.stride - d.pad + kw];
            }
            zero(o + vw.end, d.Wout - vw.end);
          }
          zero(dst + vh.end * d.Wout, (d.Hout - vh.end) * d.Wout);
        }
      }
    }
  }
}

// gx (ng images, overwritten) = col2im(col): every col entry is added onto
// the input pixel it was copied from, in (ci, kh, kw) order.
template <class T>
void col2im(const T* col, T* gx, int64_t ng, const Conv2dDims& d, const Plan& p) {
  const int64_t ld = ng * p.hw_out;
  zero(gx, ng * d.Cin * p.hw_in);
  for (int64_t ci = 0; ci < d.Cin; ++ci) {
    for (int64_t kh = 0; kh < d.K; ++kh) {
      const Valid vh = valid_outputs(kh, d.H, d.Hout, d);
      for (int64_t kw = 0; kw < d.K; ++kw) {
        const Valid vw = valid_outputs(kw, d.W, d.Wout, d);
        const T* row = col + ((ci * d.K + kh) * d.K + kw) * ld;
        for (int64_t j = 0; j < ng; ++j) {
          T* gc = gx + (j * d.Cin + ci) * p.hw_in;
          const T* src = row + j * p.hw_out;
          for (int64_t oh = vh.first; oh < vh.end; ++oh) {
            T* gr = gc + (oh * d.stride - d.pad + kh) * d.W;
            const T* s = src + oh * d.Wout;
            if (d.stride == 1) {
              T* g = gr + (kw - d.pad);
              for (int64_t ow = vw.first; ow < vw.end; ++ow) g[ow] += s[ow];
            } else {
              for (int64_t ow = vw.first; ow < vw.end; ++ow) gr[ow * d.stride - d.pad + kw] += s[ow];
            }
          }
        }
      }
    }
  }
}

// NCHW rows of ng images [ng][C][hw] <-> chunk matrix [C][ng*hw].
template <class T>
void gather_chunk(const T* nchw, T* mat, int64_t ng, int64_t c, int64_t hw) {
  for (int64_t ch = 0; ch < c; ++ch)
    for (int64_t j = 0; j < ng; ++j)
      std::copy(nchw + (j * c + ch) * hw, nchw + (j * c + ch + 1) * hw, mat + (ch * ng + j) * hw);
}
template <class T>
void scatter_chunk(const T* mat, T* nchw, int64_t ng, int64_t c, int64_t hw) {
  for (int64_t ch = 0; ch < c; ++ch)
    for (int64_t j = 0; j < ng; ++j)
      std::copy(mat + (ch * ng + j) * hw, mat + (ch * ng + j + 1) * hw, nchw + (j * c + ch) * hw);
}

}  // namespace

template <class T>
void conv2d_fwd(const T* x, const T* w, const T* bias, T* y, const Conv2dDims& d) {
  const Plan p = make_plan(d);
  const ConstMatrixMap<T> wm(w, d.Cout, p.ckk);
  run_on_threads(p.threads, [&](int t, int nt) {
    const Range r = thread_range(p.chunks, t, nt);
    if (r.begin == r.end) return;
    const int64_t max_cols = p.group * p.hw_out;
    std::unique_ptr<T[]> col, ybuf;
    if (!p.direct) col = scratch<T>(p.ckk * max_cols);
    if (p.group > 1) ybuf = scratch<T>(d.Cout * max_cols);
    for (int64_t c = r.begin; c < r.end; ++c) {
      const int64_t n0 = c * p.group, ng = std::min(p.group, d.N - n0), cols = ng * p.hw_out;
      const T* xn = x + n0 * d.Cin * p.hw_in;
      if (!p.direct) im2col(xn, col.get(), ng, d, p);
      T* yn = y + n0 * d.Cout * p.hw_out;
      MatrixMap<T> ym(ng > 1 ? ybuf.get() : yn, d.Cout, cols);
      if (bias) {
        for (int64_t co = 0; co < d.Cout; ++co) ym.row(co).setConstant(bias[co]);
      } else {
        ym.setZero();
      }
      ym.noalias() += wm * ConstMatrixMap<T>(p.direct ? xn : col.get(), p.ckk, cols);
      if (ng > 1) scatter_chunk(ybuf.get(), yn, ng, d.Cout, p.hw_out);
    }
  });
}

template <class T>
void conv2d_bwd_data(const T* grad_out, const T* w, T* grad_x, const Conv2dDims& d) {
  const Plan p = make_plan(d);
  const ConstMatrixMap<T> wm(w, d.Cout, p.ckk);
  run_on_threads(p.threads, [&](int t, int nt) {
    const Range r = thread_range(p.chunks, t, nt);
    if (r.begin == r.end) return;
    const int64_t max_cols = p.group * p.hw_out;
    std::unique_ptr<T[]> gcol, gybuf;
    if (!p.direct) gcol = scratch<T>(p.ckk * max_cols);
    if (p.group > 1) gybuf = scratch<T>(d.Cout * max_cols);
    for (int64_t c = r.begin; c < r.end; ++c) {
      const int64_t n0 = c * p.group, ng = std::min(p.group, d.N - n0), cols = ng * p.hw_out;
      const T* gyn = grad_out + n0 * d.Cout * p.hw_out;
      if (ng > 1) gather_chunk(gyn, gybuf.get(), ng, d.Cout, p.hw_out);
      const ConstMatrixMap<T> gym(ng > 1 ? gybuf.get() : gyn, d.Cout, cols);
      T* gxn = grad_x + n0 * d.Cin * p.hw_in;
      if (p.direct) {
        MatrixMap<T>(gxn, p.ckk, cols).noalias() = wm.transpose() * gym;
      } else {
        MatrixMap<T>(gcol.get(), p.ckk, cols).noalias() = wm.transpose() * gym;
        col2im(gcol.get(), gxn, ng, d, p);
      }
    }
  });
}

template <class T>
void conv2d_bwd_weight(const T* x, const T* grad_out, T* grad_w, T* grad_bias, const Conv2dDims& d) {
  const Plan p = make_plan(d);
  const int64_t wsize = d.Cout * p.ckk;
  std::vector<std::unique_ptr<T[]>> partial(static_cast<size_t>(p.threads));
  int used = 1;
  run_on_threads(p.threads, [&](int t, int nt) {
    if (t == 0) used = nt;
    T* acc = grad_w;
    if (t > 0) {
      partial[static_cast<size_t>(t)] = scratch<T>(wsize);
      acc = partial[static_cast<size_t>(t)].get();
    }
    zero(acc, wsize);
    const Range r = thread_range(p.chunks, t, nt);
    if (r.begin == r.end) return;
    MatrixMap<T> gwm(acc, d.Cout, p.ckk);
    const int64_t max_cols = p.group * p.hw_out;
    std::unique_ptr<T[]> col, gybuf;
    if (!p.direct) col = scratch<T>(p.ckk * max_cols);
    if (p.group > 1) gybuf = scratch<T>(d.Cout * max_cols);
    for (int64_t c = r.begin; c < r.end; ++c) {
      const int64_t n0 = c * p.group, ng = std::min(p.group, d.N - n0), cols = ng * p.hw_out;
      const T* xn = x + n0 * d.Cin * p.hw_in;
      if (!p.direct) im2col(xn, col.get(), ng, d, p);
      const T* gyn = grad_out + n0 * d.Cout * p.hw_out;
      if (ng > 1) gather_chunk(gyn, gybuf.get(), ng, d.Cout, p.hw_out);
      const ConstMatrixMap<T> gym(ng > 1 ? gybuf.get() : gyn, d.Cout, cols);
      gwm.noalias() += gym * ConstMatrixMap<T>(p.direct ? xn : col.get(), p.ckk, cols).transpose();
    }
  });
  if (used > 1) {
    // Blocks of gW, each summed over the partials in thread order.
    constexpr int64_t block = 4096;
    parallel_for((wsize + block - 1) / block, block * used, [&](int64_t b) {
      const int64_t i0 = b * block, i1 = std::min(wsize, i0 + block);
      for (int t = 1; t < used; ++t) {
        const T* src = partial[static_cast<size_t>(t)].get();
        for (int64_t i = i0; i < i1; ++i) grad_w[i] += src[i];
      }
    });
  }
  if (grad_bias) {
    parallel_for(d.Cout, d.N * p.hw_out, [&](int64_t co) {
      double acc = 0;
      for (int64_t n = 0; n < d.N; ++n) {
        const T* g = grad_out + (n * d.Cout + co) * p.hw_out;
        for (int64_t i = 0; i < p.hw_out; ++i) acc += static_cast<double>(g[i]);
      }
      grad_bias[co] = static_cast<T>(acc);
    });
  }
}

template void conv2d_fwd<float>(const float*, const float*, const float*, float*, const Conv2dDims&);
template void conv2d_fwd<double>(const double*, const double*, const double*, double*, const Conv2dDims&);
template void conv2d_bwd_data<float>(const float*, const float*, float*, const Conv2dDims&);
template void conv2d_bwd_data<double>(const double*, const double*, double*, const Conv2dDims&);
template void conv2d_bwd_weight<float>(const float*, const float*, float*, float*, const Conv2dDims&);
template void conv2d_bwd_weight<double>(const double*, const double*, double*, double*, const Conv2dDims&);

}  // namespace ddpm::kernels::cpu
