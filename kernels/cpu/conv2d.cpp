// CPU conv2d: im2col fused into the packing of a register-tiled GEMM
// (kernels/cpu/packed_gemm.h), parallel over the batch or over weight rows.
//
// The batch is cut into chunks of `group` consecutive images; the output
// pixels of a chunk (image, oh, ow) form the GEMM dimension P. Per chunk
// (CKK = Cin*K*K, row (ci, kh, kw)):
//   fwd:        Y [Cout, P]      = W [Cout, CKK] . col [CKK, P]   (+ b)
//   bwd-weight: gW^T [CKK, Cout] += col [CKK, P] . gY^T [P, Cout]
//   bwd-data, stride 1: a forward conv of gY with the flipped, transposed
//     kernel and padding K-1-p (the "full" correlation), so it shares the
//     forward's packing and needs no col2im;
//   bwd-data, stride > 1: gcol [CKK, P] = W^T . gY, scattered back (col2im)
//     one row block at a time while it is in cache.
// The GEMM reads its A operand in place (W, W^T, or an im2col block, all
// with K contiguous) and takes B packed in NR-column panels, so the
// forward's im2col writes B's panels straight from x: nothing is written
// twice, and a packed block stays in L2. bwd-weight puts CKK on the GEMM's
// rows so that its big operand (col) is plain row-major im2col; only gY is
// transposed (Cout*P values against CKK*Cout*P multiply-adds). With very
// few output channels or weight rows (the final 1x1 conv, the first conv)
// it uses Eigen.
//
// Packing: for each tap (kh, kw) the pixels of a block map to their sources
// the same way in every input channel, so the map is computed once per block
// and the per-channel work is plain data movement. Wide output rows go by
// runs (a contiguous, or stride-spaced, slice of one input row, or a stretch
// of zero padding); rows narrower than kNarrowWidth (the 8x8 and 4x4 levels,
// whose runs would be a few values long) by per-pixel index gathers.
//
// Chunks: fwd (and so stride-1 bwd-data) uses one image per GEMM when it has
// at least kMinColumns output pixels; at the 8x8 and 4x4 levels of the UNet
// several images share one GEMM so that its panels are full. bwd-weight
// batches images up to kBwdWeightColumns pixels, its GEMM's K dimension.
//
// Threads: fwd and bwd-data split the chunks into one contiguous block per
// OpenMP thread; each thread owns its scratch and runs its GEMMs
// single-threaded, and every output element is written by one thread.
// bwd-weight splits the rows of gW^T (CKK) instead: each thread sums its rows
// over the whole batch, so there is no reduction of per-thread partial sums
// and the result does not even depend on the thread count. The bias
// gradient is summed per channel by one thread each, in a fixed order, in
// double. (The batch split was chosen by measurement on the 2-core machine:
// with Eigen's GEMM, running images one at a time through Eigen's 2-thread
// GEMM was slower, e.g. 64->64 @32 fwd 21.1 against 16.5 ms; see
// docs/conv2d_cpu.md.)
#include "kernels/conv2d.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

#include "kernels/cpu/conv2d_winograd.h"
#include "kernels/cpu/gemm.h"  // first: see the note on GCC 12 there
#include "kernels/cpu/packed_gemm.h"

namespace ddpm::kernels {

// The CPU path override (kernels/conv2d.h), here beside the kernels that read
// it, so that the kernels link without the Tensor-level entry points (the
// dense CUDA emulation check builds this file alone).
namespace {
std::atomic<Conv2dCpuAlgo> g_cpu_algo{Conv2dCpuAlgo::automatic};
}  // namespace

Conv2dCpuAlgo conv2d_cpu_algo() { return g_cpu_algo.load(std::memory_order_relaxed); }

void set_conv2d_cpu_algo(Conv2dCpuAlgo algo) { g_cpu_algo.store(algo, std::memory_order_relaxed); }

const char* conv2d_cpu_algo_name(Conv2dCpuAlgo algo) {
  switch (algo) {
    case Conv2dCpuAlgo::automatic:
      return "automatic";
    case Conv2dCpuAlgo::im2col:
      return "im2col";
    case Conv2dCpuAlgo::shifted:
      return "shifted";
    case Conv2dCpuAlgo::winograd:
      return "winograd";
  }
  return "?";
}

}  // namespace ddpm::kernels

namespace ddpm::kernels::cpu {

namespace {

// Chunks with fewer output pixels than this batch several images.
constexpr int64_t kMinColumns = 256;
// Below this many flops a conv runs on one thread.
constexpr int64_t kParallelFlops = int64_t{1} << 21;
// Output rows narrower than this are packed by index gathers, not runs.
constexpr int64_t kNarrowWidth = 16;
// bwd-weight batches images up to this many pixels per GEMM (its K).
constexpr int64_t kBwdWeightColumns = 512;
// Rows of an im2col block in bwd-weight, and of a gcol block that bwd-data
// scatters back while it is in cache (multiples of gemm::kMr).
constexpr int64_t kBwdWeightRows = 120;
constexpr int64_t kBwdDataRows = 96;
// bwd-weight with fewer output channels than this (the UNet's final 1x1
// conv) would leave most of each packed panel empty, and with fewer weight
// rows (Cin*K*K; the first conv, 1 -> 64) the transposed gY it packs would
// serve only a few rows: both use Eigen instead.
constexpr int64_t kMinPackedCout = 16;
constexpr int64_t kMinPackedRows = 64;

struct Plan {
  int64_t ckk = 0;     // Cin*K*K
  int64_t taps = 0;    // K*K
  int64_t hw_in = 0;   // H*W
  int64_t hw_out = 0;  // Hout*Wout
  int64_t group = 1;   // images per chunk
  int64_t chunks = 0;
  int threads = 1;
};

Plan make_plan(const Conv2dDims& d) {
  Plan p;
  p.taps = d.K * d.K;
  p.ckk = d.Cin * p.taps;
  p.hw_in = d.H * d.W;
  p.hw_out = d.Hout * d.Wout;
  const int64_t flops = 2 * d.N * d.Cout * p.hw_out * p.ckk;
  const int64_t threads =
      flops < kParallelFlops ? 1 : std::max<int64_t>(1, std::min<int64_t>(num_threads(), d.N));
  const int64_t per_thread = std::max<int64_t>(1, (d.N + threads - 1) / threads);
  p.group = std::clamp<int64_t>((kMinColumns + p.hw_out - 1) / p.hw_out, 1, per_thread);
  p.chunks = (d.N + p.group - 1) / p.group;
  p.threads = static_cast<int>(std::min<int64_t>(threads, std::max<int64_t>(p.chunks, 1)));
  return p;
}

// Output positions o in [first, end) read an input index o*s - p + k inside [0, size).
struct Valid {
  int64_t first, end;
};
Valid valid_outputs(int64_t k, int64_t size, int64_t out, int64_t stride, int64_t pad) {
  const int64_t lo = pad - k;  // o*s >= lo
  const int64_t first = lo <= 0 ? 0 : (lo + stride - 1) / stride;
  const int64_t hi = size - 1 + pad - k;  // o*s <= hi
  const int64_t end = hi < 0 ? 0 : std::min(out, hi / stride + 1);
  return {std::min(first, end), end};
}

// `len` pixels that go to dst, dst+1, ... of a destination row and come from
// src, src+s, ... of a source channel plane (offset by image), or are zero
// padding (src < 0).
struct Run {
  int64_t dst, src, len;
};

// Where the pixels of a block land in a destination row: row-major
// (panel == 0: pixel q of the block at q) or as packed GEMM panels of
// `panel` columns and kc rows (at (q / panel) * kc * panel + q % panel).
struct Layout {
  int64_t panel, kc;
  int64_t at(int64_t q) const { return panel == 0 ? q : (q / panel) * kc * panel + q % panel; }
};

// The geometry that maps a pixel of a chunk to its source for one tap: a
// conv's input, or (1x1, no padding) the gradient of its output.
struct Source {
  int64_t H, W, Hout, Wout, stride, pad;
  int64_t image_stride;  // values per image of the source (C*H*W)
};

// Runs of pixels [p0, p1) of a chunk for tap (kh, kw), split at output rows
// and at panel ends; with panels, the lanes past p1 in the last panel become
// a zero run.
void build_runs(std::vector<Run>& runs, const Source& s, int64_t kh, int64_t kw, int64_t p0, int64_t p1,
                const Layout& out) {
  runs.clear();
  const int64_t hw_out = s.Hout * s.Wout;
  const Valid vw = valid_outputs(kw, s.W, s.Wout, s.stride, s.pad);
  for (int64_t p = p0; p < p1;) {
    const int64_t img = p / hw_out, rem = p % hw_out, oh = rem / s.Wout, ow = rem % s.Wout;
    const int64_t q = p - p0;
    int64_t len = std::min(s.Wout - ow, p1 - p);
    if (out.panel) len = std::min(len, out.panel - q % out.panel);
    const int64_t dst = out.at(q);
    const int64_t ih = oh * s.stride - s.pad + kh;
    if (ih < 0 || ih >= s.H) {
      runs.push_back({dst, -1, len});
    } else {
      const int64_t a = std::clamp(vw.first, ow, ow + len), b = std::clamp(vw.end, ow, ow + len);
      if (a > ow) runs.push_back({dst, -1, a - ow});
      if (b > a)
        runs.push_back({dst + (a - ow), img * s.image_stride + ih * s.W + a * s.stride - s.pad + kw, b - a});
      if (ow + len > b) runs.push_back({dst + (b - ow), -1, ow + len - b});
    }
    p += len;
  }
  const int64_t q = p1 - p0;
  if (out.panel && q % out.panel) runs.push_back({out.at(q), -1, out.panel - q % out.panel});
}

// Index of every pixel of [p0, p1) for tap (kh, kw) in its source (or -1 in
// the padding), in destination order: per panel, lanes past p1 are -1 too.
void build_index(std::vector<int32_t>& idx, const Source& s, int64_t kh, int64_t kw, int64_t p0, int64_t p1,
                 int64_t seg, int64_t nseg) {
  idx.assign(static_cast<size_t>(seg * nseg), -1);
  const int64_t hw_out = s.Hout * s.Wout;
  for (int64_t p = p0; p < p1; ++p) {
    const int64_t img = p / hw_out, rem = p % hw_out, oh = rem / s.Wout, ow = rem % s.Wout;
    const int64_t ih = oh * s.stride - s.pad + kh, iw = ow * s.stride - s.pad + kw;
    if (ih >= 0 && ih < s.H && iw >= 0 && iw < s.W)
      idx[static_cast<size_t>(p - p0)] = static_cast<int32_t>(img * s.image_stride + ih * s.W + iw);
  }
}

// How every tap of one pixel block maps to its source, rebuilt only when the
// block changes. Wide output rows go by runs (plain copies); narrow ones (the
// UNet's 8x8 and 4x4 levels, whose runs are a few values long) by a gather
// through per-pixel indices, which costs the same per value whatever the
// width.
struct TapMap {
  bool gather = false;
  std::vector<std::vector<Run>> runs;         // per tap
  std::vector<std::vector<int32_t>> idx;      // per tap, seg * nseg indices
  int64_t seg = 0, seg_stride = 0, nseg = 0;  // gather: nseg segments of seg values, seg_stride apart
  int64_t p0 = -1, p1 = -1, kc = -1;

  const TapMap& get(const Source& s, int64_t K, int64_t p0_, int64_t p1_, const Layout& out) {
    if (p0_ == p0 && p1_ == p1 && out.kc == kc) return *this;
    const size_t taps = static_cast<size_t>(K * K);
    const int64_t images =
        (p1_ + s.Hout * s.Wout - 1) / (s.Hout * s.Wout);  // indices stay below this * stride
    gather = s.Wout < kNarrowWidth && images * s.image_stride <= std::numeric_limits<int32_t>::max();
    if (gather) {
      const int64_t n = p1_ - p0_;
      seg = out.panel ? out.panel : n;
      nseg = out.panel ? (n + out.panel - 1) / out.panel : 1;
      seg_stride = out.panel ? out.kc * out.panel : 0;
      idx.resize(taps);
      for (int64_t kh = 0; kh < K; ++kh)
        for (int64_t kw = 0; kw < K; ++kw)
          build_index(idx[static_cast<size_t>(kh * K + kw)], s, kh, kw, p0_, p1_, seg, nseg);
    } else {
      runs.resize(taps);
      for (int64_t kh = 0; kh < K; ++kh)
        for (int64_t kw = 0; kw < K; ++kw)
          build_runs(runs[static_cast<size_t>(kh * K + kw)], s, kh, kw, p0_, p1_, out);
    }
    p0 = p0_;
    p1 = p1_;
    kc = out.kc;
    return *this;
  }
};

// Which (channel, tap) an im2col row holds: channel-major, row = c*taps + t
// (the weight layout [Cout][Cin][K][K]), or tap-major with the taps reversed,
// row = (taps-1-t)*channels + c (stride-1 bwd-data: see conv2d_bwd_data).
struct RowOrder {
  int64_t taps, channels;
  bool tap_major_reversed = false;
  int64_t channel(int64_t r) const { return tap_major_reversed ? r % channels : r / taps; }
  int64_t tap(int64_t r) const { return tap_major_reversed ? taps - 1 - r / channels : r % taps; }
};

// Rows [r0, r1) of im2col of a chunk's source `src` (channel planes `plane`
// apart), written through the map at dst + (r - r0) * row_step.
template <class T>
void im2col_rows(const T* src, int64_t plane, const RowOrder& order, int64_t stride, const TapMap& map,
                 int64_t r0, int64_t r1, T* dst, int64_t row_step) {
  for (int64_t r = r0; r < r1; ++r) {
    const T* s = src + order.channel(r) * plane;
    T* drow = dst + (r - r0) * row_step;
    const size_t t = static_cast<size_t>(order.tap(r));
    if (map.gather) {
      const int32_t* id = map.idx[t].data();
      for (int64_t j = 0; j < map.nseg; ++j) {
        T* o = drow + j * map.seg_stride;
        gemm::gather_run(o, s, id + j * map.seg, map.seg);
      }
      continue;
    }
    for (const Run& run : map.runs[t]) {
      T* o = drow + run.dst;
      if (run.src < 0) {
        gemm::zero_run(o, run.len);
      } else if (stride == 1) {
        gemm::copy_run(o, s + run.src, run.len);
      } else {
        for (int64_t i = 0; i < run.len; ++i) o[i] = s[run.src + i * stride];
      }
    }
  }
}

// The inverse scatter: adds rows [r0, r1) of gcol (row-major, `ld` apart)
// onto the chunk's gradient gx at the positions im2col read them from.
template <class T>
void col2im_rows(const T* gcol, int64_t ld, int64_t r0, int64_t r1, int64_t plane, int64_t taps,
                 int64_t stride, const TapMap& map, T* gx) {
  for (int64_t r = r0; r < r1; ++r) {
    T* g = gx + (r / taps) * plane;
    const T* srow = gcol + r * ld;
    if (map.gather) {
      // Within one tap no two pixels read the same input: no conflicts.
      const int32_t* id = map.idx[static_cast<size_t>(r % taps)].data();
      for (int64_t i = 0; i < map.seg; ++i)
        if (id[i] >= 0) g[id[i]] += srow[i];
      continue;
    }
    for (const Run& run : map.runs[static_cast<size_t>(r % taps)]) {
      if (run.src < 0) continue;
      const T* s = srow + run.dst;
      if (stride == 1) {
        T* o = g + run.src;
        for (int64_t i = 0; i < run.len; ++i) o[i] += s[i];
      } else {
        for (int64_t i = 0; i < run.len; ++i) g[run.src + i * stride] += s[i];
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

// dst [cols, rows] = (or +=) src [rows, cols]^T, by register-transposed
// square tiles (gemm::transpose_tile), parallel over tile rows of dst.
template <class T>
void transpose(const T* src, int64_t rows, int64_t cols, T* dst, bool add) {
  constexpr int64_t tb = gemm::kTransposeTile<T>;
  parallel_for((cols + tb - 1) / tb, tb * rows, [&](int64_t b) {
    const int64_t c0 = b * tb;
    gemm::transpose_block(src + c0, cols, rows, std::min(tb, cols - c0), dst + c0 * rows, rows, add);
  });
}

Source input_source(const Conv2dDims& d) {
  return {d.H, d.W, d.Hout, d.Wout, d.stride, d.pad, d.Cin * d.H * d.W};
}
// gy seen as the input of a 1x1 conv: pixel p of a chunk -> its place in gy.
Source grad_out_source(const Conv2dDims& d) {
  return {d.Hout, d.Wout, d.Hout, d.Wout, 1, 0, d.Cout * d.Hout * d.Wout};
}

// Runs f(thread, threads, chunk range of that thread) on the plan's threads.
template <class F>
void for_chunks(const Plan& p, F&& f) {
  run_on_threads(p.threads, [&](int t, int nt) {
    const Range r = thread_range(p.chunks, t, nt);
    f(t, nt, r);
  });
}

}  // namespace

namespace {

// y = conv(x) + b with the weights as a [Cout, CKK] matrix `a` whose columns
// are in the order `rows` (the im2col rows of x follow the same order).
template <class T>
void forward_gemm(const T* x, const T* a, const T* bias, T* y, const Conv2dDims& d, const RowOrder& rows) {
  const Plan p = make_plan(d);
  constexpr int NR = gemm::nr<T>();
  const Source src = input_source(d);
  for_chunks(p, [&](int, int, Range r) {
    if (r.begin == r.end) return;
    auto bbuf = scratch<T>(gemm::packed_b_size<T>());
    Scratch<T> ybuf;
    if (p.group > 1) ybuf = scratch<T>(d.Cout * p.group * p.hw_out);
    TapMap runs;
    for (int64_t c = r.begin; c < r.end; ++c) {
      const int64_t n0 = c * p.group, ng = std::min(p.group, d.N - n0), cols = ng * p.hw_out;
      const T* xc = x + n0 * d.Cin * p.hw_in;
      T* yc = y + n0 * d.Cout * p.hw_out;
      T* out = ng > 1 ? ybuf.get() : yc;
      if (bias)
        for (int64_t co = 0; co < d.Cout; ++co) std::fill(out + co * cols, out + (co + 1) * cols, bias[co]);
      gemm::gemm<T>(
          d.Cout, cols, p.ckk, d.Cout,
          [&](int64_t ic, int64_t, int64_t pc, int64_t) { return std::pair(a + ic * p.ckk + pc, p.ckk); },
          [&](int64_t pc, int64_t kc, int64_t jc, int64_t nc, T* dst) {
            const auto& tr = runs.get(src, d.K, jc, jc + nc, Layout{NR, kc});
            im2col_rows(xc, p.hw_in, rows, d.stride, tr, pc, pc + kc, dst, NR);
          },
          [](int64_t, int64_t) {}, out, cols, bias != nullptr, bbuf.get());
      if (ng > 1) scatter_chunk(ybuf.get(), yc, ng, d.Cout, p.hw_out);
    }
  });
}

}  // namespace

namespace {

// Stride-1 convolution by shifted rows (fwd, and so stride-1 bwd-data),
// for output rows of kNarrowWidth or more. With x zero-padded to rows of
// Wp = W + 2*pad and the outputs computed at that row width (q = oh*Wp + ow,
// the Wp - Wout extra columns thrown away), tap (kh, kw) of output q reads
// the padded input at q + kh*Wp + kw. So
//   Yp [Cout, q] = A [Cout, K*K*Cin] . B,  B row (tap, ci) = xp_ci shifted by tap,
// and B's rows are read in place from the padded image by offset
// (micro_kernel_indirect): no im2col at all, against a full im2col of
// K*K*Cin values per pixel, which at 32 channels costs as much as the
// multiply-adds. A = the weights as [Cout][tap][Cin] (made per call: small).
// Threads split the images; every output is written by one thread.
// Measured on the 2-core dev machine (batch 128, the quick-start UNet): it
// pays where the im2col it saves is dear against the GEMM, i.e. few output
// channels (32 -> 32 @32 fwd 11.9 -> 9.6 ms, 96 -> 32 @32 33.5 -> 29.9 ms);
// with 64 or more it is no faster or slower (192 -> 64 @16: 27.5 -> 30.9 ms),
// so the rule is Cout <= kShiftedMaxCout.
constexpr int64_t kShiftedMaxCout = 32;
template <class T>
bool shifted_conv_applies(const Conv2dDims& d) {
  const Conv2dCpuAlgo algo = conv2d_cpu_algo();
  if (algo == Conv2dCpuAlgo::im2col) return false;
  if (d.stride != 1 || d.pad > d.K - 1) return false;
  return algo == Conv2dCpuAlgo::shifted || (d.Wout >= kNarrowWidth && d.Cout <= kShiftedMaxCout);
}

template <class T>
void shifted_forward(const T* x, const T* a, const T* bias, T* y, const Conv2dDims& d) {
  constexpr int NR = gemm::nr<T>();
  const int64_t K = d.K, taps = K * K, Wp = d.W + 2 * d.pad, Hp = d.H + 2 * d.pad;
  const int64_t kq = d.Hout * Wp;                  // outputs per channel at the padded width
  const int64_t kq_pad = (kq + NR - 1) / NR * NR;  // whole pixel panels
  const int64_t plane = std::max(Hp * Wp, kq_pad + (K - 1) * Wp + K - 1);  // every read stays inside
  const int64_t kk = taps * d.Cin;
  const int64_t kc_max = gemm::indirect_k_block<T>(kk);
  const int64_t flops = 2 * d.N * d.Cout * d.Hout * d.Wout * kk;
  const int threads = flops < kParallelFlops ? 1 : static_cast<int>(std::min<int64_t>(num_threads(), d.N));
  std::vector<int64_t> boff(static_cast<size_t>(kk));
  for (int64_t tap = 0; tap < taps; ++tap)
    for (int64_t ci = 0; ci < d.Cin; ++ci)
      boff[static_cast<size_t>(tap * d.Cin + ci)] = ci * plane + (tap / K) * Wp + tap % K;
  run_on_threads(threads, [&](int t, int nt) {
    const Range r = thread_range(d.N, t, nt);
    if (r.begin == r.end) return;
    auto xp = scratch<T>(d.Cin * plane);
    std::fill(xp.get(), xp.get() + d.Cin * plane, T(0));  // the borders stay zero
    auto yp = scratch<T>(d.Cout * kq_pad);
    for (int64_t n = r.begin; n < r.end; ++n) {
      for (int64_t ci = 0; ci < d.Cin; ++ci) {
        const T* src = x + (n * d.Cin + ci) * d.H * d.W;
        T* dst = xp.get() + ci * plane + d.pad * Wp + d.pad;
        for (int64_t h = 0; h < d.H; ++h) std::memcpy(dst + h * Wp, src + h * d.W, sizeof(T) * d.W);
      }
      // Per panel of NR pixels, K in blocks whose B rows (kc x NR values)
      // stay in L1 while every row block of A passes over them.
      for (int64_t q0 = 0; q0 < kq_pad; q0 += NR)
        for (int64_t k0 = 0; k0 < kk; k0 += kc_max) {
          const int64_t kc = std::min(kc_max, kk - k0);
          for (int64_t co = 0; co < d.Cout; co += gemm::kMr) {
            const int mr = static_cast<int>(std::min<int64_t>(gemm::kMr, d.Cout - co));
            gemm::micro_kernel_indirect_rows<T>(mr, kc, a + co * kk + k0, kk, xp.get() + q0, boff.data() + k0,
                                                yp.get() + co * kq_pad + q0, kq_pad, k0 > 0);
          }
        }
      T* yn = y + n * d.Cout * d.Hout * d.Wout;
      for (int64_t co = 0; co < d.Cout; ++co) {
        const T b = bias ? bias[co] : T(0);
        for (int64_t oh = 0; oh < d.Hout; ++oh) {
          const T* s = yp.get() + co * kq_pad + oh * Wp;
          T* o = yn + (co * d.Hout + oh) * d.Wout;
          for (int64_t ow = 0; ow < d.Wout; ++ow) o[ow] = s[ow] + b;
        }
      }
    }
  });
}

// Winograd F(2x2, 3x3) (kernels/cpu/conv2d_winograd.h) for every 3x3
// stride-1 conv with at least kWinogradMinChannels input and output channels
// (the UNet's first conv, one input channel, goes by shifted rows). Measured
// against im2col and shifted rows at every conv of the quick-start UNet
// (docs/conv2d_cpu.md): faster or equal at each, 4x4 included.
constexpr int64_t kWinogradMinChannels = 16;
template <class T>
bool use_winograd(const Conv2dDims& d) {
  const Conv2dCpuAlgo algo = conv2d_cpu_algo();
  if (!winograd::applies(d) || algo == Conv2dCpuAlgo::im2col || algo == Conv2dCpuAlgo::shifted) return false;
  return algo == Conv2dCpuAlgo::winograd || (d.Cin >= kWinogradMinChannels && d.Cout >= kWinogradMinChannels);
}

}  // namespace

template <class T>
void conv2d_fwd(const T* x, const T* w, const T* bias, T* y, const Conv2dDims& d) {
  if (use_winograd<T>(d)) {
    auto u = scratch<T>(16 * d.Cout * d.Cin);
    winograd::transform_weights(w, d.Cout, d.Cin, false, u.get());
    winograd::convolve(x, u.get(), bias, y, d);
    return;
  }
  if (shifted_conv_applies<T>(d)) {
    // A [Cout][tap][Cin] = w [Cout][Cin][tap].
    const int64_t taps = d.K * d.K;
    auto a = scratch<T>(d.Cout * taps * d.Cin);
    for (int64_t co = 0; co < d.Cout; ++co)
      for (int64_t ci = 0; ci < d.Cin; ++ci)
        for (int64_t tap = 0; tap < taps; ++tap)
          a.get()[(co * taps + tap) * d.Cin + ci] = w[(co * d.Cin + ci) * taps + tap];
    shifted_forward(x, a.get(), bias, y, d);
    return;
  }
  forward_gemm(x, w, bias, y, d, RowOrder{d.K * d.K, d.Cin});
}

template <class T>
void conv2d_bwd_data(const T* grad_out, const T* w, T* grad_x, const Conv2dDims& d) {
  const Plan p = make_plan(d);
  if (d.stride == 1 && d.pad <= d.K - 1) {
    const Conv2dDims full{d.N, d.Cout, d.Hout, d.Wout, d.Cin, d.K, 1, d.K - 1 - d.pad, d.H, d.W};
    if (use_winograd<T>(full)) {
      auto u = scratch<T>(16 * d.Cin * d.Cout);
      winograd::transform_weights(w, d.Cin, d.Cout, true, u.get());
      winograd::convolve<T>(grad_out, u.get(), nullptr, grad_x, full);
      return;
    }
    if (shifted_conv_applies<T>(full)) {
      // The full correlation by shifted rows: A [Cin][tap'][Cout] with
      // A(ci, tap', co) = w[co][ci][K*K-1-tap'] (the flipped kernel).
      const int64_t taps = d.K * d.K;
      auto a = scratch<T>(d.Cin * taps * d.Cout);
      for (int64_t co = 0; co < d.Cout; ++co)
        for (int64_t ci = 0; ci < d.Cin; ++ci)
          for (int64_t tap = 0; tap < taps; ++tap)
            a.get()[(ci * taps + (taps - 1 - tap)) * d.Cout + co] = w[(co * d.Cin + ci) * taps + tap];
      shifted_forward<T>(grad_out, a.get(), nullptr, grad_x, full);
      return;
    }
    // With stride 1, gx is the full correlation of gy with the flipped kernel,
    //   gx[n,ci,ih,iw] = sum_{co,kh,kw} w[co,ci,K-1-kh,K-1-kw] gy[n,co,ih-p'+kh,iw-p'+kw],
    // p' = K-1-p: a forward conv of gy (Cout -> Cin channels, padding p'), so
    // no col2im and the forward's packing. Its weight matrix [Cin, Cout*K*K]
    // is W^T [Cin*K*K, Cout] read as [Cin, K*K*Cout] (tap-major columns),
    // and its im2col rows are ordered to match: tap-major, taps reversed.
    auto wt = scratch<T>(p.ckk * d.Cout);
    transpose(w, d.Cout, p.ckk, wt.get(), false);
    forward_gemm<T>(grad_out, wt.get(), nullptr, grad_x, full, RowOrder{p.taps, d.Cout, true});
    return;
  }
  // Otherwise (stride > 1): gcol = W^T gY by blocks of pixels, each scattered
  // back (col2im) row block by row block while it is in cache.
  constexpr int NR = gemm::nr<T>();
  // A = W^T [CKK, Cout], row-major, shared by the threads.
  auto wt = scratch<T>(p.ckk * d.Cout);
  transpose(w, d.Cout, p.ckk, wt.get(), false);
  const Source xsrc = input_source(d), gsrc = grad_out_source(d);
  for_chunks(p, [&](int, int, Range r) {
    if (r.begin == r.end) return;
    auto bbuf = scratch<T>(gemm::packed_b_size<T>());
    auto gcol = scratch<T>(p.ckk * gemm::kNc);
    TapMap gy_runs, x_runs;
    for (int64_t c = r.begin; c < r.end; ++c) {
      const int64_t n0 = c * p.group, ng = std::min(p.group, d.N - n0), cols = ng * p.hw_out;
      const T* gyc = grad_out + n0 * d.Cout * p.hw_out;
      T* gxc = grad_x + n0 * d.Cin * p.hw_in;
      std::fill(gxc, gxc + ng * d.Cin * p.hw_in, T(0));
      for (int64_t j0 = 0; j0 < cols; j0 += gemm::kNc) {
        const int64_t nb = std::min(gemm::kNc, cols - j0);
        const auto& xr = x_runs.get(xsrc, d.K, j0, j0 + nb, Layout{0, 0});
        gemm::gemm<T>(
            p.ckk, nb, d.Cout, kBwdDataRows,
            [&](int64_t ic, int64_t, int64_t pc, int64_t) {
              return std::pair(wt.get() + ic * d.Cout + pc, d.Cout);
            },
            [&](int64_t pc, int64_t kc, int64_t jc, int64_t nc, T* dst) {
              const auto& tr = gy_runs.get(gsrc, 1, j0 + jc, j0 + jc + nc, Layout{NR, kc});
              im2col_rows(gyc, p.hw_out, RowOrder{1, d.Cout}, 1, tr, pc, pc + kc, dst, NR);
            },
            [&](int64_t ic, int64_t mc) {
              col2im_rows(gcol.get(), nb, ic, ic + mc, p.hw_in, p.taps, d.stride, xr, gxc);
            },
            gcol.get(), nb, false, bbuf.get());
      }
    }
  });
}

namespace {

// bwd-weight by shifted GEMMs (stride 1, wide images). With x zero-padded
// to rows of Wp = W + 2*pad and the output pixels indexed at that same row
// width (q = oh*Wp + ow, gY taken as zero for ow >= Wout), the input pixel
// that tap (kh, kw) pairs with output q is q + kh*Wp + kw in the padded
// plane. So per tap
//   gW_tap^T [Cin, Cout] += Xp_tap [Cin, Hout*Wp] . gYp^T [Hout*Wp, Cout]
// where row ci of Xp_tap is the padded plane of channel ci read from offset
// kh*Wp + kw: the A operand is read in place, with no im2col (which costs as
// much as the GEMM when Cout is as small as the UNet's 32 channels), and
// the packed gY^T serves all K*K taps and every row. The price is the
// Wp - Wout columns of garbage outputs per row (gY zero there): 6% at
// 32x32, 12% at 16x16, hence only for output rows of kNarrowWidth or more.
// Threads split the rows (Cin); each sums its rows over all images in
// order, so the result does not depend on the thread count. (A non-finite
// x value in a padded row's wrap-around can meet a zero of gY there and
// make a NaN where the exact sum is already non-finite.)
template <class T>
bool shifted_bwd_weight_applies(const Conv2dDims& d) {
  const Conv2dCpuAlgo algo = conv2d_cpu_algo();
  if (algo == Conv2dCpuAlgo::im2col) return false;
  return d.stride == 1 && (d.Wout >= kNarrowWidth || algo == Conv2dCpuAlgo::shifted) && d.pad <= d.K - 1 &&
         d.Cin * d.K * d.K >= kMinPackedRows;
}

template <class T>
void bwd_weight_shifted(const T* x, const T* gy, T* grad_w, const Conv2dDims& d) {
  constexpr int NR = gemm::nr<T>(), L = gemm::Simd<T>::L;
  const int64_t K = d.K, taps = K * K, Wp = d.W + 2 * d.pad, Hp = d.H + 2 * d.pad;
  const int64_t plane = Hp * Wp + K - 1;  // the last tap's reads of the last row stay inside
  const int64_t kq = d.Hout * Wp;         // the GEMM's K per image
  const int64_t kc_max = gemm::k_block(kq);
  // The output channels as whole vectors: 24 are computed as 32, the 8
  // extra columns of zeros (gY^T lanes past Cout) never read back.
  const int64_t coutp = (d.Cout + L - 1) / L * L;
  const int64_t co_panels = (coutp + NR - 1) / NR;
  const int64_t row_panels = (d.Cin + gemm::kMr - 1) / gemm::kMr;
  const bool narrow = gemm::kNv % 2 == 0 && coutp == gemm::kNv / 2 * L;
  const int threads = 2 * d.N * d.Cout * d.Hout * d.Wout * d.Cin * taps < kParallelFlops
                          ? 1
                          : static_cast<int>(std::min<int64_t>(num_threads(), row_panels));
  auto gwt = scratch<T>(taps * d.Cin * coutp);  // [tap][Cin][coutp]
  run_on_threads(threads, [&](int t, int nt) {
    // Rows per thread: whole 6-row tiles, or with the narrow 12-row tile
    // multiples of 4 (32 rows: 12 + 4 each, not 12 + 6 and 12 + 2).
    const int64_t rows_per =
        narrow ? (d.Cin + 4 * nt - 1) / (4 * nt) * 4 : (row_panels + nt - 1) / nt * gemm::kMr;
    const int64_t r0 = std::min(d.Cin, t * rows_per), r1 = std::min(d.Cin, r0 + rows_per);
    if (r0 == r1) return;
    const int64_t rows = r1 - r0;
    for (int64_t tap = 0; tap < taps; ++tap)
      std::fill(gwt.get() + (tap * d.Cin + r0) * coutp, gwt.get() + (tap * d.Cin + r1) * coutp, T(0));
    auto xp = scratch<T>(rows * plane);
    std::fill(xp.get(), xp.get() + rows * plane, T(0));  // the borders stay zero
    auto bbuf = scratch<T>(co_panels * kc_max * NR);
    auto gyp = scratch<T>(coutp * kc_max);  // gYp rows of one K block (zero past Cout)
    std::fill(gyp.get() + d.Cout * kc_max, gyp.get() + coutp * kc_max, T(0));
    for (int64_t n = 0; n < d.N; ++n) {
      for (int64_t ci = r0; ci < r1; ++ci) {
        const T* src = x + (n * d.Cin + ci) * d.H * d.W;
        T* dst = xp.get() + (ci - r0) * plane + d.pad * Wp + d.pad;
        for (int64_t h = 0; h < d.H; ++h) gemm::copy_run(dst + h * Wp, src + h * d.W, d.W);
      }
      const T* gyn = gy + n * d.Cout * d.Hout * d.Wout;
      for (int64_t pc = 0; pc < kq; pc += kc_max) {
        const int64_t kc = std::min(kc_max, kq - pc);
        // gYp^T rows [pc, pc+kc) as panels [kc][NR] (lanes past Cout unread):
        // each channel's gYp row (zeros in the padded columns) by row
        // copies, then transposed in register tiles.
        for (int64_t co = 0; co < d.Cout; ++co) {
          T* row = gyp.get() + co * kc_max;
          const T* g = gyn + co * d.Hout * d.Wout;
          for (int64_t k = 0; k < kc;) {
            const int64_t q = pc + k, oh = q / Wp, ow = q % Wp;
            const int64_t len = std::min(Wp - ow, kc - k);
            const int64_t valid = std::clamp<int64_t>(d.Wout - ow, 0, len);
            gemm::copy_run(row + k, g + oh * d.Wout + ow, valid);
            gemm::zero_run(row + k + valid, len - valid);
            k += len;
          }
        }
        // A register tile stays within one panel when the panel width is a
        // multiple of the tile's (AVX-512: 64 and 16, AVX2: 16 and 16); the
        // rest, and narrower panels (the scalar build's 4), go value by value.
        constexpr int64_t tt = gemm::kTransposeTile<T>;
        for (int64_t co = 0; co < coutp; co += tt)
          for (int64_t k0 = 0; k0 < kc; k0 += tt) {
            const T* src = gyp.get() + co * kc_max + k0;
            if (NR % tt == 0 && co + tt <= coutp && k0 + tt <= kc) {
              gemm::transpose_tile(src, kc_max, bbuf.get() + (co / NR) * kc * NR + k0 * NR + co % NR, NR,
                                   false);
              continue;
            }
            for (int64_t i = 0; i < std::min(tt, coutp - co); ++i) {
              const int64_t c = co + i;
              T* o = bbuf.get() + (c / NR) * kc * NR + c % NR;
              for (int64_t j = 0; j < std::min(tt, kc - k0); ++j) o[(k0 + j) * NR] = src[i * kc_max + j];
            }
          }
        for (int64_t tap = 0; tap < taps; ++tap) {
          const int64_t off = (tap / K) * Wp + tap % K;
          for (int64_t ip = 0; ip < rows;) {
            const int64_t left = rows - ip;
            const T* a = xp.get() + ip * plane + off + pc;
            T* c = gwt.get() + (tap * d.Cin + r0 + ip) * coutp;
            if (narrow && left >= 2 * gemm::kMr) {
              // A one-panel gY^T of half a panel's width or less: twice the
              // rows per tile, so the tile still holds kMr * kNv accumulators.
              gemm::micro_kernel<T, 2 * gemm::kMr, gemm::kNv / 2>(kc, a, plane, bbuf.get(), c, coutp, true);
              ip += 2 * gemm::kMr;
              continue;
            }
            const int mr = static_cast<int>(std::min<int64_t>(gemm::kMr, left));
            for (int64_t j = 0; j < co_panels; ++j) {
              const int nv = static_cast<int>(std::min<int64_t>(NR, coutp - j * NR) / L);
              gemm::micro_kernel_rows<T>(mr, nv, kc, a, plane, bbuf.get() + j * kc * NR, c + j * NR, coutp,
                                         true);
            }
            ip += mr;
          }
        }
      }
    }
  });
  // grad_w [Cout][Cin][tap] = gwt [tap][Cin][Cout].
  parallel_for(d.Cout, d.Cin * taps, [&](int64_t co) {
    for (int64_t ci = 0; ci < d.Cin; ++ci)
      for (int64_t tap = 0; tap < taps; ++tap)
        grad_w[(co * d.Cin + ci) * taps + tap] = gwt.get()[(tap * d.Cin + ci) * coutp + co];
  });
}

}  // namespace

template <class T>
void conv2d_bias_grad(const T* grad_out, T* grad_bias, const Conv2dDims& d) {
  const int64_t hw = d.Hout * d.Wout;
  parallel_for(d.Cout, d.N * hw, [&](int64_t co) {
    // Eight running sums (lane k takes i = k mod 8 of every image) added at
    // the end: a fixed order that the compiler vectorises.
    double lane[8] = {}, sum = 0;
    for (int64_t n = 0; n < d.N; ++n) {
      const T* g = grad_out + (n * d.Cout + co) * hw;
      int64_t i = 0;
      for (; i + 8 <= hw; i += 8)
        for (int k = 0; k < 8; ++k) lane[k] += static_cast<double>(g[i + k]);
      for (; i < hw; ++i) sum += static_cast<double>(g[i]);
    }
    for (int k = 0; k < 8; ++k) sum += lane[k];
    grad_bias[co] = static_cast<T>(sum);
  });
}

template <class T>
void conv2d_bwd_weight(const T* x, const T* grad_out, T* grad_w, T* grad_bias, const Conv2dDims& d) {
  // Winograd's weight gradient multiplies [Cin, tiles] by [tiles, Cout].
  // Wherever it applies (16+ channels each way) it is the fastest path
  // (AMD EPYC Zen 4, batch 128, 2 threads, best of 5, the paths alternated:
  // 32 -> 32 @32 14.8 against 17.3 ms by shifted GEMMs, 32 -> 64 @16 7.1
  // against 8.8, 64 -> 64 @16 10.1 against 16.7, 96 -> 32 @32 33-36 against
  // 43-45; below 16 columns (8x8, 4x4), where shifted GEMMs do not apply,
  // 128 -> 128 @8 8.5-9 against 13-14 by im2col). Until its B operand was
  // packed by register tiles, shifted GEMMs had won up to 64 input channels.
  if (use_winograd<T>(d)) {
    winograd::bwd_weight(x, grad_out, grad_w, d);
    if (grad_bias) conv2d_bias_grad(grad_out, grad_bias, d);
    return;
  }
  if (shifted_bwd_weight_applies<T>(d)) {
    bwd_weight_shifted(x, grad_out, grad_w, d);
    if (grad_bias) conv2d_bias_grad(grad_out, grad_bias, d);
    return;
  }
  const Plan p = make_plan(d);
  constexpr int NR = gemm::nr<T>();
  const Source xsrc = input_source(d);
  // Split over the rows of gW^T [CKK, Cout], not over the batch: each thread
  // sums its rows over all images, so there are no partial sums to reduce and
  // the result does not depend on the thread count. Chunks of images as long
  // as kBwdWeightColumns pixels keep the GEMM's K dimension long.
  const int64_t group =
      std::clamp<int64_t>((kBwdWeightColumns + p.hw_out - 1) / p.hw_out, 1, std::max<int64_t>(d.N, 1));
  const int64_t chunks = (d.N + group - 1) / group;
  const int64_t panels = (p.ckk + gemm::kMr - 1) / gemm::kMr;
  const int threads = 2 * d.N * d.Cout * p.hw_out * p.ckk < kParallelFlops
                          ? 1
                          : static_cast<int>(std::min<int64_t>(num_threads(), panels));
  auto gwt = scratch<T>(p.ckk * d.Cout);
  run_on_threads(threads, [&](int t, int nt) {
    const int64_t rows_per = (panels + nt - 1) / nt * gemm::kMr;
    const int64_t r0 = std::min(p.ckk, t * rows_per), r1 = std::min(p.ckk, r0 + rows_per);
    if (r0 == r1) return;
    T* acc = gwt.get() + r0 * d.Cout;
    std::fill(acc, acc + (r1 - r0) * d.Cout, T(0));
    const int64_t max_cols = group * p.hw_out;
    TapMap runs;
    if (d.Cout < kMinPackedCout || p.ckk < kMinPackedRows) {
      // Few output channels or weight rows: Eigen on an im2col block and the gathered gY.
      const int64_t kc = std::min<int64_t>(max_cols, gemm::kKc);
      auto col = scratch<T>((r1 - r0) * kc);
      auto gyb = scratch<T>(d.Cout * max_cols);
      MatrixMap<T> accm(acc, r1 - r0, d.Cout);
      for (int64_t c = 0; c < chunks; ++c) {
        const int64_t n0 = c * group, ng = std::min(group, d.N - n0), cols = ng * p.hw_out;
        const T* xc = x + n0 * d.Cin * p.hw_in;
        gather_chunk(grad_out + n0 * d.Cout * p.hw_out, gyb.get(), ng, d.Cout, p.hw_out);
        for (int64_t pc = 0; pc < cols; pc += kc) {
          const int64_t kb = std::min(kc, cols - pc);
          im2col_rows(xc, p.hw_in, RowOrder{p.taps, d.Cin}, d.stride,
                      runs.get(xsrc, d.K, pc, pc + kb, Layout{0, 0}), r0, r1, col.get(), kb);
          accm.noalias() += ConstMatrixMap<T>(col.get(), r1 - r0, kb) *
                            Eigen::Map<const RowMatrix<T>, 0, Eigen::OuterStride<>>(
                                gyb.get() + pc, d.Cout, kb, Eigen::OuterStride<>(cols))
                                .transpose();
        }
      }
      return;
    }
    auto bbuf = scratch<T>(gemm::packed_b_size<T>());
    auto abuf = scratch<T>(kBwdWeightRows * gemm::kKc);
    for (int64_t c = 0; c < chunks; ++c) {
      const int64_t n0 = c * group, ng = std::min(group, d.N - n0), cols = ng * p.hw_out;
      const T* xc = x + n0 * d.Cin * p.hw_in;
      const T* gyc = grad_out + n0 * d.Cout * p.hw_out;
      gemm::gemm<T>(
          r1 - r0, d.Cout, cols, kBwdWeightRows,
          [&](int64_t ic, int64_t mc, int64_t pc, int64_t kc) {
            im2col_rows(xc, p.hw_in, RowOrder{p.taps, d.Cin}, d.stride,
                        runs.get(xsrc, d.K, pc, pc + kc, Layout{0, 0}), r0 + ic, r0 + ic + mc, abuf.get(),
                        kc);
            return std::pair<const T*, int64_t>(abuf.get(), kc);
          },
          [&](int64_t pc, int64_t kc, int64_t jc, int64_t nc, T* dst) {
            // gY^T panels: dst[(co / NR) * kc * NR + (pixel - pc) * NR + co % NR].
            const int64_t npanels = (nc + NR - 1) / NR;
            for (int64_t co = 0; co < npanels * NR; ++co) {
              T* o = dst + (co / NR) * kc * NR + co % NR;
              if (co >= nc) {
                for (int64_t k = 0; k < kc; ++k) o[k * NR] = T(0);
                continue;
              }
              for (int64_t k = 0; k < kc;) {
                const int64_t px = pc + k, img = px / p.hw_out, hw = px % p.hw_out;
                const int64_t len = std::min(p.hw_out - hw, kc - k);
                const T* g = gyc + (img * d.Cout + jc + co) * p.hw_out + hw;
                for (int64_t i = 0; i < len; ++i) o[(k + i) * NR] = g[i];
                k += len;
              }
            }
          },
          [](int64_t, int64_t) {}, acc, d.Cout, true, bbuf.get());
    }
  });
  transpose(gwt.get(), p.ckk, d.Cout, grad_w, false);
  if (grad_bias) conv2d_bias_grad(grad_out, grad_bias, d);
}

template void conv2d_fwd<float>(const float*, const float*, const float*, float*, const Conv2dDims&);
template void conv2d_fwd<double>(const double*, const double*, const double*, double*, const Conv2dDims&);
template void conv2d_bwd_data<float>(const float*, const float*, float*, const Conv2dDims&);
template void conv2d_bwd_data<double>(const double*, const double*, double*, const Conv2dDims&);
template void conv2d_bwd_weight<float>(const float*, const float*, float*, float*, const Conv2dDims&);
template void conv2d_bwd_weight<double>(const double*, const double*, double*, double*, const Conv2dDims&);
template void conv2d_bias_grad<float>(const float*, float*, const Conv2dDims&);
template void conv2d_bias_grad<double>(const double*, double*, const Conv2dDims&);

}  // namespace ddpm::kernels::cpu
