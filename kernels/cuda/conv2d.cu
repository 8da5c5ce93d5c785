// CUDA conv2d: NCHW float32, square K x K kernel, stride s, zero padding p
// (kernels/conv2d.h has the math). Every pass is an implicit GEMM: the
// im2col matrix is never stored; each block gathers the pieces of it that its
// tile needs straight from x (or gy) into shared memory, with zeros for the
// padding and for rows/columns past the edges.
//
//   pass        GEMM rows (m)   GEMM columns (n)       reduction (k)
//   fwd         co   [Cout]     output pixel [N*Ho*Wo]  (ci,kh,kw) [Cin*K*K]
//   bwd-data    ci   [Cin]      input pixel  [N*H*W]    (co,kh,kw) [Cout*K*K]
//   bwd-weight  co   [Cout]     (ci,kh,kw)   [Cin*K*K]  output pixel [N*Ho*Wo]
//
// fwd:        A = w as [Cout, Cin*K*K] (plain rows), B = im2col(x);
//             epilogue adds the bias and writes y in NCHW.
// bwd-data:   A(ci, (co,kh,kw)) = w[co,ci,kh,kw]; B((co,kh,kw), (n,ih,iw)) =
//             gy[n,co,oh,ow] where oh*s = ih + p - kh (zero unless that is a
//             whole output row in range; likewise ow): the transposed conv
//             as a gather, so every gx element is written once, no col2im and
//             no atomics. With s > 1, (s^2 - 1)/s^2 of the gathered terms are
//             zeros (correct, wasteful; the UNet has no strided conv).
// bwd-weight: A(co, j) = gy[n,co,j], B(j, (ci,kh,kw)) = im2col(x)^T; the
//             reduction over all N*Ho*Wo pixels is split into S contiguous
//             ranges (grid.z) when the weight alone would give too few blocks;
//             each split writes its own partial gW, and a second kernel adds
//             the S partials in split order: deterministic, no float atomics.
//             The bias gradient is a separate per-channel reduction.
//
// Block tile 64 (m) x 128 (n) x 8 (k), 256 threads, shared-memory tiles
// As[k][m] and Bs[k][n], double-buffered: while the block computes on one
// buffer, each thread's global loads of the next k-tile are in flight in
// registers, stored into the other buffer after the compute (one
// __syncthreads per k-tile). Each thread loads 2 elements of A and 4 of B per
// k-tile, along mappings chosen so a warp's global reads are contiguous where
// the layout allows and its shared-memory stores are bank-conflict free.
//
// Two compute cores share the loaders and the epilogues:
//   simt (FP32, default): thread (tm, tn) = (tid / 16, tid % 16) owns rows
//     4tm..4tm+3 and columns 4tn..4tn+3 and 64+4tn..64+4tn+3: 32 accumulators,
//     per k one float4 of As and two of Bs, 32 FMAs.
//   tf32 (tensor cores): 8 warps as 2 (m) x 4 (n), each a 32 x 32 warp tile of
//     2 x 4 mma.sync.m16n8k8 tf32 tiles (FP32 accumulate). Operands are
//     rounded to TF32 (cvt.rna) as they are stored into shared memory.
// The summation order over k of either core is fixed, so results are bitwise
// reproducible run to run.
//
// direct (Conv2dCudaAlgo::direct): one thread per y / gx element looping over
// its terms, one block per gW element reducing over the pixels: slow, simple,
// kept as a reference for the GEMM paths.
//
// Indices: pixel, channel and K*K counts are 32-bit (checked on the host, see
// geometry()); element offsets into x, y, w are 64-bit.
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "kernels/conv2d.h"
#include "kernels/cuda/launch.cuh"
#include "tensor/cuda_backend.h"

namespace ddpm::kernels::cuda {

namespace {

using ddpm::cuda::blocks_for;
using ddpm::cuda::check;

constexpr int kBM = 64;   // block tile rows (m)
constexpr int kBN = 128;  // block tile columns (n)
constexpr int kBK = 8;    // k per tile
constexpr int kThreads = 256;

// The convolution's sizes as the kernels use them (all < 2^31, checked).
struct Geom {
  int N, Cin, H, W, Cout, K, stride, pad, Hout, Wout;
  int KK;       // K*K
  int CKK;      // Cin*K*K: fwd reduction, bwd-weight columns
  int CoKK;     // Cout*K*K: bwd-data reduction
  int HW;       // H*W
  int HWo;      // Hout*Wout
  int pix_in;   // N*H*W: bwd-data columns
  int pix_out;  // N*Hout*Wout: fwd columns, bwd-weight reduction
};

std::string dims_str(const Conv2dDims& d) {
  return "x [" + std::to_string(d.N) + ", " + std::to_string(d.Cin) + ", " + std::to_string(d.H) + ", " +
         std::to_string(d.W) + "], w [" + std::to_string(d.Cout) + ", " + std::to_string(d.Cin) + ", " +
         std::to_string(d.K) + ", " + std::to_string(d.K) + "], stride " + std::to_string(d.stride) + ", padding " +
         std::to_string(d.pad);
}

Geom geometry(const Conv2dDims& d, const char* op) {
  const int64_t values[] = {d.N * d.Cin,
                            d.N * d.Cout,
                            d.H * d.W,
                            d.Hout * d.Wout,
                            d.N * d.H * d.W,
                            d.N * d.Hout * d.Wout,
                            d.Cin * d.K * d.K,
                            d.Cout * d.K * d.K,
                            d.Cout * d.Cin * d.K * d.K,
                            d.H + 2 * d.pad,
                            d.W + 2 * d.pad,
                            d.Hout * d.stride + d.K,
                            d.Wout * d.stride + d.K};
  for (int64_t v : values)
    if (v < 0 || v > INT_MAX)
      throw std::invalid_argument(std::string(op) + ": " + dims_str(d) +
                                  " is too large for the CUDA kernels (a pixel, channel or weight count "
                                  "exceeds 2^31 - 1)");
  Geom g{};
  g.N = static_cast<int>(d.N);
  g.Cin = static_cast<int>(d.Cin);
  g.H = static_cast<int>(d.H);
  g.W = static_cast<int>(d.W);
  g.Cout = static_cast<int>(d.Cout);
  g.K = static_cast<int>(d.K);
  g.stride = static_cast<int>(d.stride);
  g.pad = static_cast<int>(d.pad);
  g.Hout = static_cast<int>(d.Hout);
  g.Wout = static_cast<int>(d.Wout);
  g.KK = g.K * g.K;
  g.CKK = g.Cin * g.KK;
  g.CoKK = g.Cout * g.KK;
  g.HW = g.H * g.W;
  g.HWo = g.Hout * g.Wout;
  g.pix_in = g.N * g.HW;
  g.pix_out = g.N * g.HWo;
  return g;
}

__host__ __device__ inline int ceil_div(int a, int b) { return (a + b - 1) / b; }

int sm_count() {
  static const int count = [] {
    int dev = 0, n = 0;
    check(cudaGetDevice(&dev), "cudaGetDevice");
    check(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev), "cudaDeviceGetAttribute");
    return n > 0 ? n : 1;
  }();
  return count;
}

// Device scratch from the caching allocator, returned by release() (which
// may throw in guard mode) or, on an exception path, by the destructor.
class Scratch {
 public:
  explicit Scratch(size_t bytes) : bytes_(bytes), ptr_(static_cast<float*>(ddpm::cuda::alloc(bytes))) {}
  ~Scratch() {
    if (!ptr_) return;
    try {
      ddpm::cuda::free(ptr_, bytes_);
    } catch (...) {  // already unwinding from the error that matters
    }
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  float* get() const { return ptr_; }
  void release() {
    float* p = ptr_;
    ptr_ = nullptr;
    ddpm::cuda::free(p, bytes_);
  }

 private:
  size_t bytes_;
  float* ptr_;
};

// ---------------------------------------------------------------------------
// Compute cores: accumulate one shared-memory k-tile into per-thread results.
// ---------------------------------------------------------------------------

// FP32 SIMT: 4 x 8 accumulators per thread (see the file comment).
struct SimtCore {
  static constexpr int kLda = kBM + 4;  // row stride of As[k][m], in floats
  static constexpr int kLdb = kBN + 4;  // row stride of Bs[k][n]
  float acc[4][8];

  __device__ static float prep(float v) { return v; }

  __device__ void zero() {
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
      for (int j = 0; j < 8; ++j) acc[i][j] = 0.f;
  }

  __device__ void compute(const float (*as)[kLda], const float (*bs)[kLdb], int tid) {
    const int tm = tid / 16, tn = tid % 16;
#pragma unroll
    for (int k = 0; k < kBK; ++k) {
      const float4 a = *reinterpret_cast<const float4*>(&as[k][tm * 4]);
      const float4 b0 = *reinterpret_cast<const float4*>(&bs[k][tn * 4]);
      const float4 b1 = *reinterpret_cast<const float4*>(&bs[k][64 + tn * 4]);
      const float av[4] = {a.x, a.y, a.z, a.w};
      const float bv[8] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 8; ++j) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
    }
  }

  // f(row, col, value) for each accumulator; row < kBM, col < kBN.
  template <class F>
  __device__ void for_each(int tid, F&& f) const {
    const int tm = tid / 16, tn = tid % 16;
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
      for (int j = 0; j < 8; ++j) f(tm * 4 + i, (j / 4) * 64 + tn * 4 + (j % 4), acc[i][j]);
  }
};

__device__ __forceinline__ float round_tf32(float v) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  uint32_t r;
  asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(v));
  return __uint_as_float(r);
#else
  return v;
#endif
}

// d += a b for one m16n8k8 TF32 tile (PTX fragment layouts, with
// g = lane / 4, t = lane % 4):
//   a0 (g, t) a1 (g+8, t) a2 (g, t+4) a3 (g+8, t+4)     A is 16 x 8 (m, k)
//   b0 (t, g) b1 (t+4, g)                               B is 8 x 8 (k, n)
//   d0 (g, 2t) d1 (g, 2t+1) d2 (g+8, 2t) d3 (g+8, 2t+1) D is 16 x 8 (m, n)
__device__ __forceinline__ void mma_tf32(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile(
      "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#else
  (void)d;
  (void)a;
  (void)b;
  __trap();
#endif
}

// TF32 tensor cores: warp w = (wm, wn) = (w / 4, w % 4) owns rows 32wm..+32
// and columns 32wn..+32 of the block tile as 2 x 4 m16n8 tiles.
struct Tf32Core {
  // Strides = 8 (mod 32) words: the fragment loads As[t][m0 + g] and
  // Bs[t][n0 + g] (t = 0..3, g = 0..7) hit 32 different banks.
  static constexpr int kLda = kBM + 8;
  static constexpr int kLdb = kBN + 8;
  static_assert(kBK == 8, "one m16n8k8 step per k-tile");
  float acc[2][4][4];

  __device__ static float prep(float v) { return round_tf32(v); }

  __device__ void zero() {
#pragma unroll
    for (int i = 0; i < 2; ++i)
#pragma unroll
      for (int j = 0; j < 4; ++j)
#pragma unroll
        for (int q = 0; q < 4; ++q) acc[i][j][q] = 0.f;
  }

  __device__ void compute(const float (*as)[kLda], const float (*bs)[kLdb], int tid) {
    const int warp = tid / 32, lane = tid % 32;
    const int g = lane / 4, t = lane % 4;
    const int m0 = (warp / 4) * 32, n0 = (warp % 4) * 32;
    uint32_t a[2][4], b[4][2];
#pragma unroll
    for (int mi = 0; mi < 2; ++mi) {
      const int r = m0 + mi * 16 + g;
      a[mi][0] = __float_as_uint(as[t][r]);
      a[mi][1] = __float_as_uint(as[t][r + 8]);
      a[mi][2] = __float_as_uint(as[t + 4][r]);
      a[mi][3] = __float_as_uint(as[t + 4][r + 8]);
    }
#pragma unroll
    for (int ni = 0; ni < 4; ++ni) {
      const int c = n0 + ni * 8 + g;
      b[ni][0] = __float_as_uint(bs[t][c]);
      b[ni][1] = __float_as_uint(bs[t + 4][c]);
    }
#pragma unroll
    for (int mi = 0; mi < 2; ++mi)
#pragma unroll
      for (int ni = 0; ni < 4; ++ni) mma_tf32(acc[mi][ni], a[mi], b[ni]);
  }

  template <class F>
  __device__ void for_each(int tid, F&& f) const {
    const int warp = tid / 32, lane = tid % 32;
    const int g = lane / 4, t = lane % 4;
    const int m0 = (warp / 4) * 32, n0 = (warp % 4) * 32;
#pragma unroll
    for (int mi = 0; mi < 2; ++mi)
#pragma unroll
      for (int ni = 0; ni < 4; ++ni)
#pragma unroll
        for (int q = 0; q < 4; ++q)
          f(m0 + mi * 16 + g + (q / 2) * 8, n0 + ni * 8 + t * 2 + (q % 2), acc[mi][ni][q]);
  }
};

// ---------------------------------------------------------------------------
// The main loop, shared by the passes. A Loader, made per thread for the
// block's tile, has load(kt) (global -> its registers, zeros outside the
// problem) and store(As, Bs) (its registers -> the shared tiles, through
// Core::prep). Tiles kt_begin..kt_end-1 are accumulated into core.
// ---------------------------------------------------------------------------
template <class Core, class Loader>
__device__ void mainloop(Core& core, Loader& ld, int kt_begin, int kt_end) {
  __shared__ __align__(16) float as[2][kBK][Core::kLda];
  __shared__ __align__(16) float bs[2][kBK][Core::kLdb];
  const int tid = static_cast<int>(threadIdx.x);
  core.zero();
  if (kt_begin >= kt_end) return;  // uniform over the block
  ld.load(kt_begin);
  ld.template store<Core>(as[0], bs[0]);
  __syncthreads();
  for (int kt = kt_begin; kt < kt_end; ++kt) {
    const int buf = (kt - kt_begin) & 1;
    const bool more = kt + 1 < kt_end;  // uniform over the block
    if (more) ld.load(kt + 1);
    core.compute(as[buf], bs[buf], tid);
    // The other buffer was last read in the previous iteration, before the
    // barrier that ended it.
    if (more) ld.template store<Core>(as[buf ^ 1], bs[buf ^ 1]);
    __syncthreads();
  }
}

// ---- fwd: y[n,co,p] = b[co] + sum_k w[co,k] col[k,(n,p)] ----
struct FwdLoader {
  // A: row am = tid / 4 of the tile, k = kt*8 + ak + {0,1}, ak = 2 (tid % 4):
  //    a warp reads 8 rows x 32 contiguous bytes of w.
  const float* wrow;  // w row of this thread's co, or null past Cout
  int ak;
  int am;
  // B: column bj = tid % 128 (a warp: 32 consecutive pixels, contiguous in x
  //    for stride 1), k = kt*8 + bk + {0..3}, bk = 4 (tid / 128).
  const float* xn;  // image n of x
  int bj, bk;
  int ih0, iw0;     // top-left input pixel of this output pixel's window
  bool col_ok;      // the pixel exists
  int CKK, KK, K, H, W, HW;
  float ra[2], rb[4];

  __device__ FwdLoader(const float* x, const float* w, const Geom& g, int m0, int j0, int tid) {
    CKK = g.CKK;
    KK = g.KK;
    K = g.K;
    H = g.H;
    W = g.W;
    HW = g.HW;
    am = tid / 4;
    ak = (tid % 4) * 2;
    const int co = m0 + am;
    wrow = co < g.Cout ? w + static_cast<int64_t>(co) * g.CKK : nullptr;
    bj = tid % kBN;
    bk = (tid / kBN) * 4;
    const int j = j0 + bj;
    col_ok = j < g.pix_out;
    const int jj = col_ok ? j : 0;
    const int n = jj / g.HWo, p = jj - n * g.HWo;
    const int oh = p / g.Wout, ow = p - oh * g.Wout;
    ih0 = oh * g.stride - g.pad;
    iw0 = ow * g.stride - g.pad;
    xn = x + static_cast<int64_t>(n) * g.Cin * g.HW;
  }

  __device__ void load(int kt) {
    const int k0 = kt * kBK;
#pragma unroll
    for (int e = 0; e < 2; ++e) {
      const int k = k0 + ak + e;
      ra[e] = (wrow && k < CKK) ? wrow[k] : 0.f;
    }
    const int kb = k0 + bk;
    int ci = kb / KK;
    const int r = kb - ci * KK;
    int kh = r / K, kw = r - kh * K;
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int ih = ih0 + kh, iw = iw0 + kw;
      const bool ok = col_ok && kb + e < CKK && static_cast<unsigned>(ih) < static_cast<unsigned>(H) &&
                      static_cast<unsigned>(iw) < static_cast<unsigned>(W);
      rb[e] = ok ? xn[static_cast<int64_t>(ci) * HW + ih * W + iw] : 0.f;
      if (++kw == K) {
        kw = 0;
        if (++kh == K) {
          kh = 0;
          ++ci;
        }
      }
    }
  }

  template <class Core>
  __device__ void store(float (*as)[Core::kLda], float (*bs)[Core::kLdb]) const {
#pragma unroll
    for (int e = 0; e < 2; ++e) as[ak + e][am] = Core::prep(ra[e]);
#pragma unroll
    for (int e = 0; e < 4; ++e) bs[bk + e][bj] = Core::prep(rb[e]);
  }
};

template <class Core>
__global__ void __launch_bounds__(kThreads)
    conv2d_fwd_kernel(const float* __restrict__ x, const float* __restrict__ w, const float* __restrict__ bias,
                      float* __restrict__ y, Geom g) {
  const int m0 = static_cast<int>(blockIdx.y) * kBM;
  const int j0 = static_cast<int>(blockIdx.x) * kBN;
  const int tid = static_cast<int>(threadIdx.x);
  FwdLoader ld(x, w, g, m0, j0, tid);
  Core core;
  mainloop(core, ld, 0, ceil_div(g.CKK, kBK));
  core.for_each(tid, [&](int row, int col, float v) {
    const int co = m0 + row, j = j0 + col;
    if (co >= g.Cout || j >= g.pix_out) return;
    const int n = j / g.HWo, p = j - n * g.HWo;
    y[(static_cast<int64_t>(n) * g.Cout + co) * g.HWo + p] = bias ? v + bias[co] : v;
  });
}

// ---- bwd-data: gx[n,ci,q] = sum_{co,kh,kw} w[co,ci,kh,kw] gy[n,co,oh,ow] ----
// kUnitStride drops the divisibility tests of the general stride.
template <bool kUnitStride>
struct BwdDataLoader {
  // A(ci, k = (co,kh,kw)) = w[(co*Cin + ci)*KK + kh*K + kw]: row am = tid / 4,
  //   k = kt*8 + ak + {0,1}, ak = 2 (tid % 4).
  const float* w;
  int ci;     // this thread's A row, or -1 past Cin
  int ak, am;
  // B(k, (n,ih,iw)): column bj = tid % 128 (consecutive input pixels),
  //   k = kt*8 + bk + {0..3}, bk = 4 (tid / 128).
  const float* gyn;  // image n of gy
  int bj, bk;
  int ihp, iwp;  // ih + pad, iw + pad
  bool col_ok;
  int CoKK, KK, K, Cin, stride, Hout, Wout, HWo;
  float ra[2], rb[4];

  __device__ BwdDataLoader(const float* gy, const float* w_, const Geom& g, int m0, int j0, int tid) {
    w = w_;
    CoKK = g.CoKK;
    KK = g.KK;
    K = g.K;
    Cin = g.Cin;
    stride = g.stride;
    Hout = g.Hout;
    Wout = g.Wout;
    HWo = g.HWo;
    am = tid / 4;
    ak = (tid % 4) * 2;
    ci = m0 + am < g.Cin ? m0 + am : -1;
    bj = tid % kBN;
    bk = (tid / kBN) * 4;
    const int j = j0 + bj;
    col_ok = j < g.pix_in;
    const int jj = col_ok ? j : 0;
    const int n = jj / g.HW, q = jj - n * g.HW;
    const int ih = q / g.W, iw = q - ih * g.W;
    ihp = ih + g.pad;
    iwp = iw + g.pad;
    gyn = gy + static_cast<int64_t>(n) * g.Cout * g.HWo;
  }

  __device__ void load(int kt) {
    const int k0 = kt * kBK;
#pragma unroll
    for (int e = 0; e < 2; ++e) {
      const int k = k0 + ak + e;
      float v = 0.f;
      if (ci >= 0 && k < CoKK) {
        const int co = k / KK, r = k - co * KK;
        v = w[(static_cast<int64_t>(co) * Cin + ci) * KK + r];
      }
      ra[e] = v;
    }
    const int kb = k0 + bk;
    int co = kb / KK;
    const int r = kb - co * KK;
    int kh = r / K, kw = r - kh * K;
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      // Output pixel (oh, ow) with oh*s - pad + kh = ih, likewise ow.
      int oh = ihp - kh, ow = iwp - kw;
      bool ok = col_ok && kb + e < CoKK && oh >= 0 && ow >= 0;
      if (!kUnitStride) {
        ok = ok && oh % stride == 0 && ow % stride == 0;
        oh /= stride;
        ow /= stride;
      }
      ok = ok && oh < Hout && ow < Wout;
      rb[e] = ok ? gyn[static_cast<int64_t>(co) * HWo + oh * Wout + ow] : 0.f;
      if (++kw == K) {
        kw = 0;
        if (++kh == K) {
          kh = 0;
          ++co;
        }
      }
    }
  }

  template <class Core>
  __device__ void store(float (*as)[Core::kLda], float (*bs)[Core::kLdb]) const {
#pragma unroll
    for (int e = 0; e < 2; ++e) as[ak + e][am] = Core::prep(ra[e]);
#pragma unroll
    for (int e = 0; e < 4; ++e) bs[bk + e][bj] = Core::prep(rb[e]);
  }
};

template <class Core, bool kUnitStride>
__global__ void __launch_bounds__(kThreads)
    conv2d_bwd_data_kernel(const float* __restrict__ gy, const float* __restrict__ w, float* __restrict__ gx,
                           Geom g) {
  const int m0 = static_cast<int>(blockIdx.y) * kBM;
  const int j0 = static_cast<int>(blockIdx.x) * kBN;
  const int tid = static_cast<int>(threadIdx.x);
  BwdDataLoader<kUnitStride> ld(gy, w, g, m0, j0, tid);
  Core core;
  mainloop(core, ld, 0, ceil_div(g.CoKK, kBK));
  core.for_each(tid, [&](int row, int col, float v) {
    const int ci = m0 + row, j = j0 + col;
    if (ci >= g.Cin || j >= g.pix_in) return;
    const int n = j / g.HW, q = j - n * g.HW;
    gx[(static_cast<int64_t>(n) * g.Cin + ci) * g.HW + q] = v;
  });
}

// ---- bwd-weight: gw[co,k] = sum_j gy[co,j] col[k,j], over pixel range ----
struct BwdWeightLoader {
  // Both operands are read along the reduction (pixels j): r = tid % 8 is
  // this thread's pixel within the k-tile, for A and B alike, so one
  // decomposition j -> (n, oh, ow) per k-tile serves both.
  // A(co, j) = gy[n,co,p]: rows am and am + 32, am = tid / 8.
  // B(j, c) = x[n,ci,oh*s-pad+kh,ow*s-pad+kw]: columns bc + 32e, bc = tid / 8,
  //   e = 0..3, whose (ci, kh, kw) never change: decomposed once.
  const float* x;
  const float* gy;
  int r, am;
  int co0, co1;          // A rows, -1 past Cout
  int xoff[4];           // ci*HW of each B column, -1 past CKK
  int khs[4], kws[4];
  int pix, HWo, Wout, Cout, Cin, HW, H, W, stride, pad;
  float ra[2], rb[4];

  __device__ BwdWeightLoader(const float* x_, const float* gy_, const Geom& g, int m0, int c0, int tid) {
    x = x_;
    gy = gy_;
    pix = g.pix_out;
    HWo = g.HWo;
    Wout = g.Wout;
    Cout = g.Cout;
    Cin = g.Cin;
    HW = g.HW;
    H = g.H;
    W = g.W;
    stride = g.stride;
    pad = g.pad;
    r = tid % kBK;
    am = tid / kBK;
    co0 = m0 + am < g.Cout ? m0 + am : -1;
    co1 = m0 + am + 32 < g.Cout ? m0 + am + 32 : -1;
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int c = c0 + am + 32 * e;
      if (c < g.CKK) {
        const int ci = c / g.KK, rr = c - ci * g.KK;
        khs[e] = rr / g.K;
        kws[e] = rr - khs[e] * g.K;
        xoff[e] = ci * g.HW;
      } else {
        khs[e] = 0;
        kws[e] = 0;
        xoff[e] = -1;
      }
    }
  }

  __device__ void load(int kt) {
    const int j = kt * kBK + r;
    if (j >= pix) {
      ra[0] = ra[1] = 0.f;
#pragma unroll
      for (int e = 0; e < 4; ++e) rb[e] = 0.f;
      return;
    }
    const int n = j / HWo, p = j - n * HWo;
    const int oh = p / Wout, ow = p - oh * Wout;
    const float* gyn = gy + static_cast<int64_t>(n) * Cout * HWo + p;
    ra[0] = co0 >= 0 ? gyn[static_cast<int64_t>(co0) * HWo] : 0.f;
    ra[1] = co1 >= 0 ? gyn[static_cast<int64_t>(co1) * HWo] : 0.f;
    const float* xn = x + static_cast<int64_t>(n) * Cin * HW;
    const int ih0 = oh * stride - pad, iw0 = ow * stride - pad;
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int ih = ih0 + khs[e], iw = iw0 + kws[e];
      const bool ok = xoff[e] >= 0 && static_cast<unsigned>(ih) < static_cast<unsigned>(H) &&
                      static_cast<unsigned>(iw) < static_cast<unsigned>(W);
      rb[e] = ok ? xn[static_cast<int64_t>(xoff[e]) + ih * W + iw] : 0.f;
    }
  }

  template <class Core>
  __device__ void store(float (*as)[Core::kLda], float (*bs)[Core::kLdb]) const {
    as[r][am] = Core::prep(ra[0]);
    as[r][am + 32] = Core::prep(ra[1]);
#pragma unroll
    for (int e = 0; e < 4; ++e) bs[r][am + 32 * e] = Core::prep(rb[e]);
  }
};

// grid.z = split: k-tiles [z*tiles_per_split, (z+1)*tiles_per_split) of the
// pixel reduction; out = gw (one split) or partial + z*Cout*CKK.
template <class Core>
__global__ void __launch_bounds__(kThreads)
    conv2d_bwd_weight_kernel(const float* __restrict__ x, const float* __restrict__ gy, float* __restrict__ out,
                             Geom g, int tiles_per_split) {
  const int m0 = static_cast<int>(blockIdx.y) * kBM;
  const int c0 = static_cast<int>(blockIdx.x) * kBN;
  const int z = static_cast<int>(blockIdx.z);
  const int tid = static_cast<int>(threadIdx.x);
  BwdWeightLoader ld(x, gy, g, m0, c0, tid);
  Core core;
  const int tiles = ceil_div(g.pix_out, kBK);
  const int kt_begin = z * tiles_per_split;
  mainloop(core, ld, kt_begin, min(tiles, kt_begin + tiles_per_split));
  float* dst = out + static_cast<int64_t>(z) * g.Cout * g.CKK;
  core.for_each(tid, [&](int row, int col, float v) {
    const int co = m0 + row, c = c0 + col;
    if (co < g.Cout && c < g.CKK) dst[static_cast<int64_t>(co) * g.CKK + c] = v;
  });
}

// gw[i] = sum_z partial[z][i], z = 0..splits-1 in order.
__global__ void conv2d_bwd_weight_reduce_kernel(const float* __restrict__ partial, float* __restrict__ gw,
                                                int64_t size, int splits) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < size;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float acc = partial[i];
    for (int z = 1; z < splits; ++z) acc += partial[z * size + i];
    gw[i] = acc;
  }
}

// gb[co] = sum_{n,p} gy[n,co,p]: one block per channel; each thread sums a
// fixed strided subset in double, then a fixed-shape tree in shared memory.
constexpr int kBiasThreads = 256;
__global__ void __launch_bounds__(kBiasThreads)
    conv2d_bwd_bias_kernel(const float* __restrict__ gy, float* __restrict__ gb, int N, int C, int HW) {
  __shared__ double part[kBiasThreads];
  const int c = static_cast<int>(blockIdx.x);
  const int tid = static_cast<int>(threadIdx.x);
  double acc = 0;
  for (int n = 0; n < N; ++n) {
    const float* row = gy + (static_cast<int64_t>(n) * C + c) * HW;
    for (int i = tid; i < HW; i += kBiasThreads) acc += static_cast<double>(row[i]);
  }
  part[tid] = acc;
  __syncthreads();
  for (int s = kBiasThreads / 2; s > 0; s /= 2) {
    if (tid < s) part[tid] += part[tid + s];
    __syncthreads();
  }
  if (tid == 0) gb[c] = static_cast<float>(part[0]);
}

// ---- direct reference kernels ----

// One thread per y element, terms in (ci, kh, kw) order.
__global__ void conv2d_fwd_direct_kernel(const float* __restrict__ x, const float* __restrict__ w,
                                         const float* __restrict__ bias, float* __restrict__ y, Geom g) {
  const int64_t total = static_cast<int64_t>(g.N) * g.Cout * g.HWo;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t nc = i / g.HWo;
    const int p = static_cast<int>(i - nc * g.HWo);
    const int n = static_cast<int>(nc / g.Cout), co = static_cast<int>(nc - static_cast<int64_t>(n) * g.Cout);
    const int oh = p / g.Wout, ow = p - oh * g.Wout;
    float acc = 0.f;
    for (int ci = 0; ci < g.Cin; ++ci) {
      const float* xc = x + (static_cast<int64_t>(n) * g.Cin + ci) * g.HW;
      const float* wc = w + (static_cast<int64_t>(co) * g.Cin + ci) * g.KK;
      for (int kh = 0; kh < g.K; ++kh) {
        const int ih = oh * g.stride - g.pad + kh;
        if (ih < 0 || ih >= g.H) continue;
        for (int kw = 0; kw < g.K; ++kw) {
          const int iw = ow * g.stride - g.pad + kw;
          if (iw < 0 || iw >= g.W) continue;
          acc = fmaf(wc[kh * g.K + kw], xc[ih * g.W + iw], acc);
        }
      }
    }
    y[i] = bias ? acc + bias[co] : acc;
  }
}

// One thread per gx element, terms in (co, kh, kw) order.
__global__ void conv2d_bwd_data_direct_kernel(const float* __restrict__ gy, const float* __restrict__ w,
                                              float* __restrict__ gx, Geom g) {
  const int64_t total = static_cast<int64_t>(g.N) * g.Cin * g.HW;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t nc = i / g.HW;
    const int q = static_cast<int>(i - nc * g.HW);
    const int n = static_cast<int>(nc / g.Cin), ci = static_cast<int>(nc - static_cast<int64_t>(n) * g.Cin);
    const int ih = q / g.W, iw = q - ih * g.W;
    float acc = 0.f;
    for (int co = 0; co < g.Cout; ++co) {
      const float* gyc = gy + (static_cast<int64_t>(n) * g.Cout + co) * g.HWo;
      const float* wc = w + (static_cast<int64_t>(co) * g.Cin + ci) * g.KK;
      for (int kh = 0; kh < g.K; ++kh) {
        const int th = ih + g.pad - kh;  // = oh * stride
        if (th < 0 || th % g.stride != 0 || th / g.stride >= g.Hout) continue;
        for (int kw = 0; kw < g.K; ++kw) {
          const int tw = iw + g.pad - kw;
          if (tw < 0 || tw % g.stride != 0 || tw / g.stride >= g.Wout) continue;
          acc = fmaf(wc[kh * g.K + kw], gyc[(th / g.stride) * g.Wout + tw / g.stride], acc);
        }
      }
    }
    gx[i] = acc;
  }
}

// One block per gw element (co, ci, kh, kw): each thread sums a strided
// subset of the pixels, then a fixed tree.
constexpr int kDirectWeightThreads = 128;
__global__ void __launch_bounds__(kDirectWeightThreads)
    conv2d_bwd_weight_direct_kernel(const float* __restrict__ x, const float* __restrict__ gy,
                                    float* __restrict__ gw, Geom g) {
  __shared__ float part[kDirectWeightThreads];
  const int64_t idx = blockIdx.x;
  const int co = static_cast<int>(idx / g.CKK);
  const int c = static_cast<int>(idx - static_cast<int64_t>(co) * g.CKK);
  const int ci = c / g.KK, r = c - ci * g.KK;
  const int kh = r / g.K, kw = r - kh * g.K;
  const int tid = static_cast<int>(threadIdx.x);
  float acc = 0.f;
  for (int j = tid; j < g.pix_out; j += kDirectWeightThreads) {
    const int n = j / g.HWo, p = j - n * g.HWo;
    const int oh = p / g.Wout, ow = p - oh * g.Wout;
    const int ih = oh * g.stride - g.pad + kh, iw = ow * g.stride - g.pad + kw;
    if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
    acc = fmaf(gy[(static_cast<int64_t>(n) * g.Cout + co) * g.HWo + p],
               x[(static_cast<int64_t>(n) * g.Cin + ci) * g.HW + ih * g.W + iw], acc);
  }
  part[tid] = acc;
  __syncthreads();
  for (int s = kDirectWeightThreads / 2; s > 0; s /= 2) {
    if (tid < s) part[tid] += part[tid + s];
    __syncthreads();
  }
  if (tid == 0) gw[idx] = part[0];
}

// ---- host side ----

std::string launch_detail(const Conv2dDims& d, Conv2dCudaAlgo algo) {
  return dims_str(d) + ", " + conv2d_cuda_algo_name(algo);
}

dim3 gemm_grid(int rows, int cols, int splits = 1) {
  return dim3(static_cast<unsigned>(ceil_div(cols, kBN)), static_cast<unsigned>(ceil_div(rows, kBM)),
              static_cast<unsigned>(splits));
}

void check_grid_rows(int rows, const Conv2dDims& d, const char* op) {
  if (ceil_div(rows, kBM) > 65535)
    throw std::invalid_argument(std::string(op) + ": " + dims_str(d) + " has too many channels for the CUDA kernels");
}

}  // namespace

void conv2d_fwd(const float* x, const float* w, const float* bias, float* y, const Conv2dDims& d,
                Conv2dCudaAlgo algo) {
  const char* op = "conv2d";
  const Geom g = geometry(d, op);
  if (static_cast<int64_t>(g.N) * g.Cout * g.HWo == 0) return;
  const std::string detail = launch_detail(d, algo);
  cudaStream_t s = ddpm::cuda::stream();
  switch (algo) {
    case Conv2dCudaAlgo::direct:
      conv2d_fwd_direct_kernel<<<blocks_for(static_cast<int64_t>(g.N) * g.Cout * g.HWo), 256, 0, s>>>(x, w, bias,
                                                                                                      y, g);
      DDPM_CUDA_LAUNCHED("conv2d_fwd_direct_kernel", detail);
      return;
    case Conv2dCudaAlgo::implicit_gemm_tf32:
      check_grid_rows(g.Cout, d, op);
      conv2d_fwd_kernel<Tf32Core><<<gemm_grid(g.Cout, g.pix_out), kThreads, 0, s>>>(x, w, bias, y, g);
      DDPM_CUDA_LAUNCHED("conv2d_fwd_kernel<tf32>", detail);
      return;
    default:
      check_grid_rows(g.Cout, d, op);
      conv2d_fwd_kernel<SimtCore><<<gemm_grid(g.Cout, g.pix_out), kThreads, 0, s>>>(x, w, bias, y, g);
      DDPM_CUDA_LAUNCHED("conv2d_fwd_kernel<fp32>", detail);
      return;
  }
}

void conv2d_bwd_data(const float* grad_out, const float* w, float* grad_x, const Conv2dDims& d,
                     Conv2dCudaAlgo algo) {
  const char* op = "conv2d backward-data";
  const Geom g = geometry(d, op);
  if (static_cast<int64_t>(g.N) * g.Cin * g.HW == 0) return;
  const std::string detail = launch_detail(d, algo);
  cudaStream_t s = ddpm::cuda::stream();
  if (algo == Conv2dCudaAlgo::direct) {
    conv2d_bwd_data_direct_kernel<<<blocks_for(static_cast<int64_t>(g.N) * g.Cin * g.HW), 256, 0, s>>>(
        grad_out, w, grad_x, g);
    DDPM_CUDA_LAUNCHED("conv2d_bwd_data_direct_kernel", detail);
    return;
  }
  check_grid_rows(g.Cin, d, op);
  const dim3 grid = gemm_grid(g.Cin, g.pix_in);
  const bool unit = g.stride == 1;
  if (algo == Conv2dCudaAlgo::implicit_gemm_tf32) {
    if (unit)
      conv2d_bwd_data_kernel<Tf32Core, true><<<grid, kThreads, 0, s>>>(grad_out, w, grad_x, g);
    else
      conv2d_bwd_data_kernel<Tf32Core, false><<<grid, kThreads, 0, s>>>(grad_out, w, grad_x, g);
    DDPM_CUDA_LAUNCHED("conv2d_bwd_data_kernel<tf32>", detail);
  } else {
    if (unit)
      conv2d_bwd_data_kernel<SimtCore, true><<<grid, kThreads, 0, s>>>(grad_out, w, grad_x, g);
    else
      conv2d_bwd_data_kernel<SimtCore, false><<<grid, kThreads, 0, s>>>(grad_out, w, grad_x, g);
    DDPM_CUDA_LAUNCHED("conv2d_bwd_data_kernel<fp32>", detail);
  }
}

void conv2d_bwd_weight(const float* x, const float* grad_out, float* grad_w, float* grad_bias, const Conv2dDims& d,
                       Conv2dCudaAlgo algo) {
  const char* op = "conv2d backward-weight";
  const Geom g = geometry(d, op);
  const std::string detail = launch_detail(d, algo);
  cudaStream_t s = ddpm::cuda::stream();
  const int64_t wsize = static_cast<int64_t>(g.Cout) * g.CKK;
  if (g.pix_out == 0) {  // an empty batch: the sums are empty
    check(cudaMemsetAsync(grad_w, 0, static_cast<size_t>(wsize) * sizeof(float), s), op, detail);
    if (grad_bias) check(cudaMemsetAsync(grad_bias, 0, static_cast<size_t>(g.Cout) * sizeof(float), s), op, detail);
    return;
  }
  if (grad_bias) {
    conv2d_bwd_bias_kernel<<<static_cast<unsigned>(g.Cout), kBiasThreads, 0, s>>>(grad_out, grad_bias, g.N, g.Cout,
                                                                                 g.HWo);
    DDPM_CUDA_LAUNCHED("conv2d_bwd_bias_kernel", detail);
  }
  if (algo == Conv2dCudaAlgo::direct) {
    conv2d_bwd_weight_direct_kernel<<<static_cast<unsigned>(wsize), kDirectWeightThreads, 0, s>>>(x, grad_out,
                                                                                                  grad_w, g);
    DDPM_CUDA_LAUNCHED("conv2d_bwd_weight_direct_kernel", detail);
    return;
  }
  check_grid_rows(g.Cout, d, op);
  // Split the pixel reduction until the grid has about two blocks per SM,
  // keeping at least 16 k-tiles (128 pixels) per split.
  const int tiles = ceil_div(g.pix_out, kBK);
  const int mn_blocks = ceil_div(g.Cout, kBM) * ceil_div(g.CKK, kBN);
  const int want = ceil_div(2 * sm_count(), mn_blocks);
  const int most = std::max(1, std::min(tiles / 16, 256));
  const int tiles_per_split = ceil_div(tiles, std::clamp(want, 1, most));
  const int splits = ceil_div(tiles, tiles_per_split);  // no split is empty
  const dim3 grid = gemm_grid(g.Cout, g.CKK, splits);
  const bool tf32 = algo == Conv2dCudaAlgo::implicit_gemm_tf32;
  const char* kname = tf32 ? "conv2d_bwd_weight_kernel<tf32>" : "conv2d_bwd_weight_kernel<fp32>";
  if (splits == 1) {
    if (tf32)
      conv2d_bwd_weight_kernel<Tf32Core><<<grid, kThreads, 0, s>>>(x, grad_out, grad_w, g, tiles_per_split);
    else
      conv2d_bwd_weight_kernel<SimtCore><<<grid, kThreads, 0, s>>>(x, grad_out, grad_w, g, tiles_per_split);
    DDPM_CUDA_LAUNCHED(kname, detail);
    return;
  }
  Scratch partial(static_cast<size_t>(splits) * static_cast<size_t>(wsize) * sizeof(float));
  if (tf32)
    conv2d_bwd_weight_kernel<Tf32Core><<<grid, kThreads, 0, s>>>(x, grad_out, partial.get(), g, tiles_per_split);
  else
    conv2d_bwd_weight_kernel<SimtCore><<<grid, kThreads, 0, s>>>(x, grad_out, partial.get(), g, tiles_per_split);
  DDPM_CUDA_LAUNCHED(kname, detail + ", " + std::to_string(splits) + " splits");
  conv2d_bwd_weight_reduce_kernel<<<blocks_for(wsize), 256, 0, s>>>(partial.get(), grad_w, wsize, splits);
  DDPM_CUDA_LAUNCHED("conv2d_bwd_weight_reduce_kernel", detail);
  partial.release();  // later users of the block are ordered after the reduce on the one stream
}

}  // namespace ddpm::kernels::cuda
