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
//             The bias gradient is a separate per-channel reduction, over
//             image ranges when the channels alone leave SMs idle.
// fwd and bwd-data split their reductions the same way (partial y or gx per
// split, the same ordered second pass, which adds fwd's bias) when their
// output tiles give fewer blocks than there are SMs: small batches, and the
// 4x4 and 8x8 layers, whose few output tiles have the longest reductions.
//
// Block tile 64 (m) x 128 (n) x 8 (k), 256 threads, shared-memory tiles
// As[k][m] and Bs[k][n], double-buffered: while the block computes on one
// buffer, each thread's global loads of the next k-tile are in flight in
// registers, stored into the other buffer after the compute (one
// __syncthreads per k-tile). Each thread loads 2 elements of A and 4 of B per
// k-tile, along mappings chosen so a warp's global reads are contiguous where
// the layout allows and its shared-memory stores are bank-conflict free.
//
// Three compute cores share the loaders and the epilogues:
//   simt (FP32, default): thread (tm, tn) = (tid / 16, tid % 16) owns rows
//     4tm..4tm+3 and columns 4tn..4tn+3 and 64+4tn..64+4tn+3: 32 accumulators,
//     per k one float4 of As and two of Bs, 32 FMAs.
//   tf32 (tensor cores): 8 warps as 2 (m) x 4 (n), each a 32 x 32 warp tile of
//     2 x 4 mma.sync.m16n8k8 tf32 tiles (FP32 accumulate). Operands are
//     rounded to TF32 (cvt.rna) as they are stored into shared memory, or, in
//     the pipelined loop, as the fragments are read (same bits).
//   bf16 (tensor cores): the same warp tiling with mma.sync.m16n8k8 bf16;
//     operands rounded to BF16 (cvt.rn) and packed in pairs as the fragments
//     are read.
// and two main loops: the register-staged double buffer above, and a 3-stage
// cp.async pipeline (mainloop_pipelined). Both feed a core the same values in
// the same order, so a core gives the same bits in either; the autotuner
// (Conv2dCudaAlgo::automatic) picks the faster per pass, shape and precision.
// The wide tile (the *_wide variants): 128 x 128 x 16 blocks of 256 threads,
// filled by the same loaders four gathers per k-tile (WideLoader), cp.async
// only; an FP32 core register-blocked 8 x 8 per thread, and TF32 / BF16
// cores whose fragments come from swizzled k-contiguous shared memory by
// ldmatrix (BF16 as m16n8k16). kernels/cuda/conv2d_igemm.h has the layouts.
// The summation order over k of every core is fixed, so a variant's results
// are bitwise reproducible run to run. Which variant automatic runs is the
// autotuner's timing choice, fixed for the process and logged; across
// processes DDPM_AUTOTUNE=0 (the register-staged GEMM everywhere) or a
// DDPM_AUTOTUNE_CACHE file keeps the bits (kernels/autotune.h).
//
// direct (Conv2dCudaAlgo::direct): one thread per y / gx element looping over
// its terms, one block per gW element reducing over the pixels: slow, simple,
// kept as a reference for the GEMM paths.
//
// Indices: pixel, channel and K*K counts are 32-bit (below 2^30, checked on
// the host, see geometry()); element offsets into x, y, w are 64-bit.
//
// The tile sizes, cores, loaders and epilogues are in kernels/cuda/conv2d_igemm.h,
// which also compiles as plain C++ so that a CPU test can emulate the blocks;
// this file has the main loop, the kernels and the launches.
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/autotune.h"
#include "kernels/conv2d.h"
#include "kernels/cuda/conv2d_igemm.h"
#include "kernels/cuda/conv2d_winograd.cuh"
#include "kernels/cuda/device_info.cuh"
#include "kernels/cuda/scratch.cuh"
#include "kernels/math_mode.h"
#include "tensor/cuda/launch.cuh"
#include "tensor/cuda_backend.h"

namespace ddpm::kernels::cuda {

namespace {

using ddpm::cuda::blocks_for;
using ddpm::cuda::check;

using namespace igemm;  // tile sizes, Geom, cores, loaders, epilogues (kernels/cuda/conv2d_igemm.h)

std::string dims_str(const Conv2dDims& d) {
  return "x [" + std::to_string(d.N) + ", " + std::to_string(d.Cin) + ", " + std::to_string(d.H) + ", " +
         std::to_string(d.W) + "], w [" + std::to_string(d.Cout) + ", " + std::to_string(d.Cin) + ", " +
         std::to_string(d.K) + ", " + std::to_string(d.K) + "], stride " + std::to_string(d.stride) +
         ", padding " + std::to_string(d.pad);
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
                            d.Cin * d.H * d.W,
                            d.Cout * d.Hout * d.Wout,
                            d.H + 2 * d.pad,
                            d.W + 2 * d.pad,
                            d.Hout * d.stride + d.K,
                            d.Wout * d.stride + d.K};
  // Half of INT_MAX leaves room for a tile's overhang past the end (j0 + 127,
  // k0 + 7) and for ih0 + kh.
  for (int64_t v : values)
    if (v < 0 || v > INT_MAX / 2)
      throw std::invalid_argument(std::string(op) + ": " + dims_str(d) +
                                  " is too large for the CUDA kernels (a pixel, channel or weight count "
                                  "exceeds 2^30)");
  const auto i = [](int64_t v) { return static_cast<int>(v); };
  return make_geom(i(d.N), i(d.Cin), i(d.H), i(d.W), i(d.Cout), i(d.K), i(d.stride), i(d.pad));
}

// ---------------------------------------------------------------------------
// The main loop, shared by the passes. A Loader, made per thread for the
// block's tile, has load(kt) (global -> its registers, zeros outside the
// problem) and store(As, Bs) (its registers -> the shared tiles, through
// Core::prep). Tiles kt_begin..kt_end-1 are accumulated into core.
// ---------------------------------------------------------------------------
template <class Core, class Loader>
__device__ void mainloop(Core& core, Loader& ld, int kt_begin, int kt_end) {
  __shared__ __align__(16) float as[2][Core::kAStage];
  __shared__ __align__(16) float bs[2][Core::kBStage];
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

// The multi-stage main loop: kStages shared-memory stages filled by cp.async
// (no register staging), kStages - 1 k-tiles in flight while one is computed.
// Iteration kt waits for its own copies of tile kt (all but the newest
// kStages - 2 groups), then a barrier makes every thread's copies of tile kt
// visible and ends every thread's reads of tile kt - 1, whose stage is then
// refilled with tile kt + kStages - 1. One commit per iteration, empty past
// the end, keeps the group count the wait relies on. The cores' prep() must
// be the identity (copies cannot round): SimtCore, Tf32ReadCore, Bf16Core and
// the wide cores, whose tiles only this loop fills (WideLoader).
template <int kStages, class Core, class Loader>
__device__ void mainloop_pipelined(Core& core, Loader& ld, int kt_begin, int kt_end) {
  static_assert(kStages >= 2, "a pipeline needs two stages");
  static_assert(Core::kCopyable, "cp.async cannot apply the core's prep()");
  __shared__ __align__(16) float as[kStages][Core::kAStage];
  __shared__ __align__(16) float bs[kStages][Core::kBStage];
  const int tid = static_cast<int>(threadIdx.x);
  core.zero();
  if (kt_begin >= kt_end) return;  // uniform over the block
  DDPM_UNROLL
  for (int s = 0; s < kStages - 1; ++s) {
    if (kt_begin + s < kt_end) ld.template issue<Core>(kt_begin + s, as[s], bs[s]);
    cp_async_commit();
  }
  int stage = 0;  // (kt - kt_begin) % kStages
  for (int kt = kt_begin; kt < kt_end; ++kt) {
    cp_async_wait<kStages - 2>();
    __syncthreads();
    const int refill = stage == 0 ? kStages - 1 : stage - 1;  // tile kt - 1's stage
    if (kt + kStages - 1 < kt_end) ld.template issue<Core>(kt + kStages - 1, as[refill], bs[refill]);
    cp_async_commit();
    core.compute(as[stage], bs[stage], tid);
    stage = stage == kStages - 1 ? 0 : stage + 1;
  }
  cp_async_wait<0>();  // nothing real is left in flight; the groups are empty
}

// kStages 0: the register-staged double buffer; else the cp.async pipeline.
template <int kStages, class Core, class Loader>
__device__ void run_mainloop(Core& core, Loader& ld, int kt_begin, int kt_end) {
  if constexpr (kStages == 0)
    mainloop(core, ld, kt_begin, kt_end);
  else
    mainloop_pipelined<kStages>(core, ld, kt_begin, kt_end);
}

// Writes y = conv(x, w) + b (+ add[n, co]) for the block's 64 x 128 tile of
// (co, pixel), summed over the k-tiles [z*tiles_per_split, (z+1)*
// tiles_per_split) of the (ci,kh,kw) reduction, z = blockIdx.z, into out = y
// (one split, with the bias and the add) or partial + z*N*Cout*Ho*Wo (bias
// and add null; the reduce kernel adds them).
// kSplit false compiles the one-split case with constant bounds: on the H100
// the run-time bounds cost the unsplit batch-128 launches 3-5% (run B,
// docs/gpu-runs/2026-11-26-h100-b).
template <class Core, int kStages, bool kSplit>
__global__ void __launch_bounds__(kThreads, Core::kMinBlocks)
    conv2d_fwd_kernel(const float* __restrict__ x, const float* __restrict__ w,
                      const float* __restrict__ bias, float* __restrict__ out, Geom g, int tiles_per_split,
                      const float* __restrict__ add) {
  const int m0 = static_cast<int>(blockIdx.y) * Core::kTileM;
  const int j0 = static_cast<int>(blockIdx.x) * Core::kTileN;
  const int tid = static_cast<int>(threadIdx.x);
  LoaderFor<Core, FwdLoader> ld(x, w, g, m0, j0, tid);
  Core core;
  const int tiles = ceil_div(g.CKK, Core::kTileK);
  if constexpr (kSplit) {
    const int z = static_cast<int>(blockIdx.z);
    const int kt_begin = z * tiles_per_split;
    run_mainloop<kStages>(core, ld, kt_begin, imin(tiles, kt_begin + tiles_per_split));
    core.for_each(tid, FwdEpilogue{out + static_cast<int64_t>(z) * g.pix_out * g.Cout, bias, g, m0, j0, add});
  } else {
    (void)tiles_per_split;
    run_mainloop<kStages>(core, ld, 0, tiles);
    core.for_each(tid, FwdEpilogue{out, bias, g, m0, j0, add});
  }
}

// Writes gx for the block's 64 x 128 tile of (ci, input pixel), over the
// k-tiles of split z = blockIdx.z of the (co,kh,kw) reduction, into out = gx
// (one split) or partial + z*N*Cin*H*W.
template <class Core, int kStages, bool kUnitStride>
__global__ void __launch_bounds__(kThreads, kUnitStride || !Core::kWide ? Core::kMinBlocks : 1)
    conv2d_bwd_data_kernel(const float* __restrict__ gy, const float* __restrict__ w, float* __restrict__ out,
                           Geom g, int tiles_per_split) {
  const int m0 = static_cast<int>(blockIdx.y) * Core::kTileM;
  const int j0 = static_cast<int>(blockIdx.x) * Core::kTileN;
  const int z = static_cast<int>(blockIdx.z);
  const int tid = static_cast<int>(threadIdx.x);
  LoaderFor<Core, BwdDataLoader<kUnitStride>> ld(gy, w, g, m0, j0, tid);
  Core core;
  const int kt_begin = z * tiles_per_split;
  run_mainloop<kStages>(core, ld, kt_begin, imin(ceil_div(g.CoKK, Core::kTileK), kt_begin + tiles_per_split));
  core.for_each(tid, BwdDataEpilogue{out + static_cast<int64_t>(z) * g.pix_in * g.Cin, g, m0, j0});
}

// The block's 64 x 128 tile of gw (co, (ci,kh,kw)) summed over the pixels of
// k-tiles [z*tiles_per_split, (z+1)*tiles_per_split), z = blockIdx.z, into
// out = gw (one split) or partial + z*Cout*CKK.
template <class Core, int kStages>
__global__ void __launch_bounds__(kThreads, Core::kMinBlocks)
    conv2d_bwd_weight_kernel(const float* __restrict__ x, const float* __restrict__ gy,
                             float* __restrict__ out, Geom g, int tiles_per_split) {
  const int m0 = static_cast<int>(blockIdx.y) * Core::kTileM;
  const int c0 = static_cast<int>(blockIdx.x) * Core::kTileN;
  const int z = static_cast<int>(blockIdx.z);
  const int tid = static_cast<int>(threadIdx.x);
  LoaderFor<Core, BwdWeightLoader> ld(x, gy, g, m0, c0, tid);
  Core core;
  const int kt_begin = z * tiles_per_split;
  run_mainloop<kStages>(core, ld, kt_begin,
                        imin(ceil_div(g.pix_out, Core::kTileK), kt_begin + tiles_per_split));
  core.for_each(tid, BwdWeightEpilogue{out + static_cast<int64_t>(z) * g.Cout * g.CKK, g, m0, c0});
}

// out[i] = sum_z partial[z][i] (+ bias[(i / HW) % C]) (+ add[i / HW]),
// z = 0..splits-1 in order: the second pass of every split reduction (fwd,
// bwd-data, bwd-weight).
__global__ void conv2d_split_reduce_kernel(const float* __restrict__ partial, float* __restrict__ out,
                                           int64_t size, int splits, const float* __restrict__ bias, int C,
                                           int HW, const float* __restrict__ add) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < size;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float acc = partial[i];
    for (int z = 1; z < splits; ++z) acc += partial[z * size + i];
    if (bias) acc += bias[(i / HW) % C];
    if (add) acc += add[i / HW];
    out[i] = acc;
  }
}

// gb[co] = sum_{n,p} gy[n,co,p] in two passes. Pass 1: block (c, s) sums
// images [s*per, (s+1)*per) of channel c (each thread a fixed strided
// subset in double, then a fixed-shape tree in shared memory) into
// part[s*C + c]; blockIdx.y = s spreads a few channels over all SMs. Pass 2
// adds the S partials of each channel in order.
constexpr int kBiasThreads = 256;
__global__ void __launch_bounds__(kBiasThreads)
    conv2d_bwd_bias_kernel(const float* __restrict__ gy, double* __restrict__ part, int N, int C, int HW,
                           int per) {
  __shared__ double tree[kBiasThreads];
  const int c = static_cast<int>(blockIdx.x);
  const int s = static_cast<int>(blockIdx.y);
  const int tid = static_cast<int>(threadIdx.x);
  const int n_end = imin(N, (s + 1) * per);
  double acc = 0;
  for (int n = s * per; n < n_end; ++n) {
    const float* row = gy + (static_cast<int64_t>(n) * C + c) * HW;
    for (int i = tid; i < HW; i += kBiasThreads) acc += static_cast<double>(row[i]);
  }
  tree[tid] = acc;
  __syncthreads();
  for (int h = kBiasThreads / 2; h > 0; h /= 2) {
    if (tid < h) tree[tid] += tree[tid + h];
    __syncthreads();
  }
  if (tid == 0) part[static_cast<int64_t>(s) * C + c] = tree[0];
}

__global__ void conv2d_bwd_bias_reduce_kernel(const double* __restrict__ part, float* __restrict__ gb, int C,
                                              int splits) {
  for (int c = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x); c < C;
       c += static_cast<int>(gridDim.x * blockDim.x)) {
    double acc = 0;
    for (int s = 0; s < splits; ++s) acc += part[static_cast<int64_t>(s) * C + c];
    gb[c] = static_cast<float>(acc);
  }
}

// ---- direct reference kernels ----

// One thread per y element, terms in (ci, kh, kw) order.
__global__ void conv2d_fwd_direct_kernel(const float* __restrict__ x, const float* __restrict__ w,
                                         const float* __restrict__ bias, float* __restrict__ y, Geom g,
                                         const float* __restrict__ add) {
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
    if (bias) acc += bias[co];
    if (add) acc += add[nc];
    y[i] = acc;
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

template <class Core>
dim3 gemm_grid(int rows, int cols, int splits = 1) {
  return dim3(static_cast<unsigned>(ceil_div(cols, Core::kTileN)),
              static_cast<unsigned>(ceil_div(rows, Core::kTileM)), static_cast<unsigned>(splits));
}

// A core's output blocks for a rows x cols GEMM, and its k-tiles for reduction k.
template <class Core>
int mn_blocks(int rows, int cols) {
  return ceil_div(rows, Core::kTileM) * ceil_div(cols, Core::kTileN);
}
template <class Core>
int k_tiles(int k) {
  return ceil_div(k, Core::kTileK);
}

// The split of a fwd or bwd-data reduction of `tiles` k-tiles: none when the
// output tiles alone give every SM a block, else split_plan's (about two
// blocks per SM); small batches and the 4x4 / 8x8 layers need it.
SplitPlan output_split(int tiles, int mn_blocks) {
  if (mn_blocks >= sm_count()) return SplitPlan{tiles, 1};
  return split_plan(tiles, mn_blocks, sm_count());
}

// Runs one implicit-GEMM pass under `plan`: launch(out, split) launches its
// kernel writing to out. One split: straight into dst. More: each split's
// partial into scratch, then the ordered second pass into dst, which adds
// bias[(i / HW) % C] when bias is set and add[i / HW] when add is (fwd's bias
// and per-plane add, left out of the partials).
template <class Launch>
void run_splits(const SplitPlan& plan, int64_t size, float* dst, const float* bias, int C, int HW,
                const char* kname, const std::string& detail, cudaStream_t s, const Launch& launch,
                const float* add = nullptr) {
  if (plan.splits == 1) {
    launch(dst, false);
    DDPM_CUDA_LAUNCHED(kname, detail);
    return;
  }
  Scratch partial(static_cast<size_t>(plan.splits) * static_cast<size_t>(size) * sizeof(float));
  launch(partial.as<float>(), true);
  DDPM_CUDA_LAUNCHED(kname, detail + ", " + std::to_string(plan.splits) + " splits");
  conv2d_split_reduce_kernel<<<blocks_for(size), 256, 0, s>>>(partial.as<float>(), dst, size, plan.splits,
                                                              bias, C, HW, add);
  DDPM_CUDA_LAUNCHED("conv2d_split_reduce_kernel", detail);
  partial.release();  // later users of the block are ordered after the reduce on the one stream
}

void check_grid_rows(int rows, const Conv2dDims& d, const char* op) {
  if (ceil_div(rows, kBM) > 65535)
    throw std::invalid_argument(std::string(op) + ": " + dims_str(d) +
                                " has too many channels for the CUDA kernels");
}

// The GEMM variants: a core and a main loop (kStages 0: register-staged
// double buffer; kPipeStages: the cp.async pipeline).
constexpr int kPipeStages = 3;
template <class C, int S>
struct Cfg {
  using Core = C;
  static constexpr int kStages = S;
};

// Calls f(Cfg<...>{}) for a GEMM algorithm (not automatic, not direct).
template <class F>
void with_cfg(Conv2dCudaAlgo algo, const F& f) {
  switch (algo) {
    case Conv2dCudaAlgo::implicit_gemm_fp32:
      return f(Cfg<SimtCore, 0>{});
    case Conv2dCudaAlgo::implicit_gemm_tf32:
      return f(Cfg<Tf32Core, 0>{});
    case Conv2dCudaAlgo::implicit_gemm_fp32_pipelined:
      return f(Cfg<SimtCore, kPipeStages>{});
    case Conv2dCudaAlgo::implicit_gemm_tf32_pipelined:
      return f(Cfg<Tf32ReadCore, kPipeStages>{});
    case Conv2dCudaAlgo::implicit_gemm_bf16:
      return f(Cfg<Bf16Core, 0>{});
    case Conv2dCudaAlgo::implicit_gemm_bf16_pipelined:
      return f(Cfg<Bf16Core, kPipeStages>{});
    case Conv2dCudaAlgo::implicit_gemm_fp32_wide:  // 2 x 16.5 KB of padded [k][m] stages
      return f(Cfg<WideSimtCore, 2>{});
    case Conv2dCudaAlgo::implicit_gemm_tf32_wide:  // 3 x 16 KB: the 48 KB of static shared memory
      return f(Cfg<WideTf32Core, kPipeStages>{});
    case Conv2dCudaAlgo::implicit_gemm_bf16_wide:
      return f(Cfg<WideBf16Core, kPipeStages>{});
    default:
      throw std::logic_error(std::string("conv2d: ") + conv2d_cuda_algo_name(algo) +
                             " is not a GEMM variant");
  }
}

bool is_winograd(Conv2dCudaAlgo algo) {
  return algo == Conv2dCudaAlgo::winograd_fp32 || algo == Conv2dCudaAlgo::winograd_tf32;
}
// What a Winograd variant runs where Winograd does not apply.
Conv2dCudaAlgo winograd_fallback(Conv2dCudaAlgo algo) {
  return algo == Conv2dCudaAlgo::winograd_tf32 ? Conv2dCudaAlgo::implicit_gemm_tf32
                                               : Conv2dCudaAlgo::implicit_gemm_fp32;
}

std::string kernel_name(const char* kernel, Conv2dCudaAlgo algo) {
  return std::string(kernel) + "<" + conv2d_cuda_algo_name(algo) + ">";
}

// One run of `launch` on the stream, timed by events, in seconds.
double time_on_stream(cudaStream_t s, const std::function<void()>& launch) {
  const char* op = "conv2d autotune";
  cudaEvent_t start = nullptr, stop = nullptr;
  check(cudaEventCreate(&start), op, "cudaEventCreate");
  check(cudaEventCreate(&stop), op, "cudaEventCreate");
  float ms = 0;
  try {
    check(cudaEventRecord(start, s), op, "cudaEventRecord");
    launch();
    check(cudaEventRecord(stop, s), op, "cudaEventRecord");
    check(cudaEventSynchronize(stop), op, "cudaEventSynchronize");
    check(cudaEventElapsedTime(&ms, start, stop), op, "cudaEventElapsedTime");
  } catch (...) {
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
    throw;
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return static_cast<double>(ms) * 1e-3;
}

// Conv2dCudaAlgo::automatic: the GEMM variants of the math mode (TF32 tensor
// cores when it is tf32, BF16 ones when it is bf16, FP32 SIMT otherwise), the
// register-staged one first (the default), timed by conv2d_autotuner() per
// (pass, shape, precision). While the stream is being captured into a CUDA
// graph nothing is timed: a key chosen before keeps its choice, a new one
// gets the default.
Conv2dCudaAlgo tuned(const char* pass, const Conv2dDims& d, const std::function<void(Conv2dCudaAlgo)>& run) {
  const MathMode mode = math_mode();
  const char* precision = mode == MathMode::tf32 ? "tf32" : mode == MathMode::bf16 ? "bf16" : "fp32";
  const std::vector<Conv2dCudaAlgo> algos = conv2d_candidates(d, mode);
  std::vector<std::string> names;
  for (Conv2dCudaAlgo a : algos) names.emplace_back(conv2d_cuda_algo_name(a));
  const std::string key = conv2d_autotune_key(pass, d, precision);
  cudaStream_t s = ddpm::cuda::stream();
  cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
  check(cudaStreamIsCapturing(s, &capture), "conv2d autotune", "cudaStreamIsCapturing");
  Autotuner& tuner = conv2d_autotuner();
  if (capture != cudaStreamCaptureStatusNone) return algos[static_cast<size_t>(tuner.peek(key, names))];
  const int i = tuner.pick(
      key, names, [&](int v) { return time_on_stream(s, [&] { run(algos[static_cast<size_t>(v)]); }); });
  return algos[static_cast<size_t>(i)];
}

}  // namespace

std::vector<Conv2dCudaAlgo> conv2d_candidates(const Conv2dDims& d, MathMode mode) {
  if (mode == MathMode::tf32) {
    std::vector<Conv2dCudaAlgo> algos = {Conv2dCudaAlgo::implicit_gemm_tf32,
                                         Conv2dCudaAlgo::implicit_gemm_tf32_pipelined,
                                         Conv2dCudaAlgo::implicit_gemm_tf32_wide};
    if (winograd_applies(d)) algos.push_back(Conv2dCudaAlgo::winograd_tf32);
    return algos;
  }
  if (mode == MathMode::bf16)
    return {Conv2dCudaAlgo::implicit_gemm_bf16, Conv2dCudaAlgo::implicit_gemm_bf16_pipelined,
            Conv2dCudaAlgo::implicit_gemm_bf16_wide};
  std::vector<Conv2dCudaAlgo> algos = {Conv2dCudaAlgo::implicit_gemm_fp32,
                                       Conv2dCudaAlgo::implicit_gemm_fp32_pipelined,
                                       Conv2dCudaAlgo::implicit_gemm_fp32_wide};
  if (winograd_applies(d)) algos.push_back(Conv2dCudaAlgo::winograd_fp32);
  return algos;
}

void conv2d_fwd(const float* x, const float* w, const float* bias, float* y, const Conv2dDims& d,
                Conv2dCudaAlgo algo, const float* add) {
  const char* op = "conv2d";
  const Geom g = geometry(d, op);
  const int64_t ysize = static_cast<int64_t>(g.N) * g.Cout * g.HWo;
  if (ysize == 0) return;
  if (algo == Conv2dCudaAlgo::automatic)
    algo = tuned("fwd", d, [&](Conv2dCudaAlgo a) { conv2d_fwd(x, w, bias, y, d, a, add); });
  if (is_winograd(algo)) {
    if (winograd_applies(d))
      return conv2d_fwd_winograd(x, w, bias, y, d, algo == Conv2dCudaAlgo::winograd_tf32, add);
    algo = winograd_fallback(algo);
  }
  const std::string detail = launch_detail(d, algo);
  cudaStream_t s = ddpm::cuda::stream();
  if (algo == Conv2dCudaAlgo::direct) {
    conv2d_fwd_direct_kernel<<<blocks_for(ysize), 256, 0, s>>>(x, w, bias, y, g, add);
    DDPM_CUDA_LAUNCHED("conv2d_fwd_direct_kernel", detail);
    return;
  }
  check_grid_rows(g.Cout, d, op);
  const std::string kname = kernel_name("conv2d_fwd_kernel", algo);
  with_cfg(algo, [&](auto cfg) {
    using C = decltype(cfg);
    using Core = typename C::Core;
    const SplitPlan plan = output_split(k_tiles<Core>(g.CKK), mn_blocks<Core>(g.Cout, g.pix_out));
    const dim3 grid = gemm_grid<Core>(g.Cout, g.pix_out, plan.splits);
    const int tps = plan.tiles_per_split;
    run_splits(
        plan, ysize, y, bias, g.Cout, g.HWo, kname.c_str(), detail, s,
        [&](float* out, bool split) {
          if (split)  // the bias and the add are added by the second pass
            conv2d_fwd_kernel<typename C::Core, C::kStages, true>
                <<<grid, kThreads, 0, s>>>(x, w, nullptr, out, g, tps, nullptr);
          else
            conv2d_fwd_kernel<typename C::Core, C::kStages, false>
                <<<grid, kThreads, 0, s>>>(x, w, bias, out, g, tps, add);
        },
        add);
  });
}

void conv2d_bwd_data(const float* grad_out, const float* w, float* grad_x, const Conv2dDims& d,
                     Conv2dCudaAlgo algo) {
  const char* op = "conv2d backward-data";
  const Geom g = geometry(d, op);
  const int64_t xsize = static_cast<int64_t>(g.N) * g.Cin * g.HW;
  if (xsize == 0) return;
  if (algo == Conv2dCudaAlgo::automatic)
    algo = tuned("bwd-data", d, [&](Conv2dCudaAlgo a) { conv2d_bwd_data(grad_out, w, grad_x, d, a); });
  if (is_winograd(algo)) {
    if (winograd_applies(d))
      return conv2d_bwd_data_winograd(grad_out, w, grad_x, d, algo == Conv2dCudaAlgo::winograd_tf32);
    algo = winograd_fallback(algo);
  }
  const std::string detail = launch_detail(d, algo);
  cudaStream_t s = ddpm::cuda::stream();
  if (algo == Conv2dCudaAlgo::direct) {
    conv2d_bwd_data_direct_kernel<<<blocks_for(xsize), 256, 0, s>>>(grad_out, w, grad_x, g);
    DDPM_CUDA_LAUNCHED("conv2d_bwd_data_direct_kernel", detail);
    return;
  }
  check_grid_rows(g.Cin, d, op);
  const bool unit = g.stride == 1;
  const std::string kname = kernel_name("conv2d_bwd_data_kernel", algo);
  with_cfg(algo, [&](auto cfg) {
    using C = decltype(cfg);
    using Core = typename C::Core;
    const SplitPlan plan = output_split(k_tiles<Core>(g.CoKK), mn_blocks<Core>(g.Cin, g.pix_in));
    const dim3 grid = gemm_grid<Core>(g.Cin, g.pix_in, plan.splits);
    const int tps = plan.tiles_per_split;
    run_splits(plan, xsize, grad_x, nullptr, 1, 1, kname.c_str(), detail, s, [&](float* out, bool) {
      if (unit)
        conv2d_bwd_data_kernel<typename C::Core, C::kStages, true>
            <<<grid, kThreads, 0, s>>>(grad_out, w, out, g, tps);
      else
        conv2d_bwd_data_kernel<typename C::Core, C::kStages, false>
            <<<grid, kThreads, 0, s>>>(grad_out, w, out, g, tps);
    });
  });
}

void conv2d_bwd_weight(const float* x, const float* grad_out, float* grad_w, float* grad_bias,
                       const Conv2dDims& d, Conv2dCudaAlgo algo) {
  const char* op = "conv2d backward-weight";
  const Geom g = geometry(d, op);
  cudaStream_t s = ddpm::cuda::stream();
  const int64_t wsize = static_cast<int64_t>(g.Cout) * g.CKK;
  if (g.pix_out == 0) {  // an empty batch: the sums are empty
    const std::string detail = launch_detail(d, algo);
    check(cudaMemsetAsync(grad_w, 0, static_cast<size_t>(wsize) * sizeof(float), s), op, detail);
    if (grad_bias)
      check(cudaMemsetAsync(grad_bias, 0, static_cast<size_t>(g.Cout) * sizeof(float), s), op, detail);
    return;
  }
  if (algo == Conv2dCudaAlgo::automatic)  // timed without the bias gradient, which every variant shares
    algo = tuned("bwd-weight", d,
                 [&](Conv2dCudaAlgo a) { conv2d_bwd_weight(x, grad_out, grad_w, nullptr, d, a); });
  const bool winograd = is_winograd(algo) && winograd_applies(d);
  const bool winograd_tf32 = algo == Conv2dCudaAlgo::winograd_tf32;
  if (is_winograd(algo) && !winograd) algo = winograd_fallback(algo);
  const std::string detail = launch_detail(d, algo);
  if (grad_bias && g.Cout > 0) {
    // Enough image ranges for about two blocks per SM (one per channel when
    // the channels alone fill them).
    const int want = std::clamp(ceil_div(2 * sm_count(), g.Cout), 1, g.N);
    const int per = ceil_div(g.N, want), splits = ceil_div(g.N, per);
    Scratch part(static_cast<size_t>(splits) * static_cast<size_t>(g.Cout) * sizeof(double));
    conv2d_bwd_bias_kernel<<<dim3(static_cast<unsigned>(g.Cout), static_cast<unsigned>(splits)), kBiasThreads,
                             0, s>>>(grad_out, part.as<double>(), g.N, g.Cout, g.HWo, per);
    DDPM_CUDA_LAUNCHED("conv2d_bwd_bias_kernel", detail);
    conv2d_bwd_bias_reduce_kernel<<<static_cast<unsigned>(ceil_div(g.Cout, 256)), 256, 0, s>>>(
        part.as<double>(), grad_bias, g.Cout, splits);
    DDPM_CUDA_LAUNCHED("conv2d_bwd_bias_reduce_kernel", detail);
    part.release();
  }
  if (winograd) return conv2d_bwd_weight_winograd(x, grad_out, grad_w, d, winograd_tf32);
  if (algo == Conv2dCudaAlgo::direct) {
    conv2d_bwd_weight_direct_kernel<<<static_cast<unsigned>(wsize), kDirectWeightThreads, 0, s>>>(x, grad_out,
                                                                                                  grad_w, g);
    DDPM_CUDA_LAUNCHED("conv2d_bwd_weight_direct_kernel", detail);
    return;
  }
  check_grid_rows(g.Cout, d, op);
  const std::string kname = kernel_name("conv2d_bwd_weight_kernel", algo);
  with_cfg(algo, [&](auto cfg) {
    using C = decltype(cfg);
    using Core = typename C::Core;
    const SplitPlan plan = split_plan(k_tiles<Core>(g.pix_out), mn_blocks<Core>(g.Cout, g.CKK), sm_count());
    const int tps = plan.tiles_per_split;
    const dim3 grid = gemm_grid<Core>(g.Cout, g.CKK, plan.splits);
    run_splits(plan, wsize, grad_w, nullptr, 1, 1, kname.c_str(), detail, s, [&](float* out, bool) {
      conv2d_bwd_weight_kernel<typename C::Core, C::kStages>
          <<<grid, kThreads, 0, s>>>(x, grad_out, out, g, tps);
    });
  });
}

}  // namespace ddpm::kernels::cuda
