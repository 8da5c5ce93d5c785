// The pieces of conv2d's implicit GEMMs (kernels/cuda/conv2d.cu has the
// design): tile sizes, the geometry, the two compute cores, the per-pass
// operand loaders and epilogues, and the split plan of the weight gradient.
//
// Everything here except the device-only parts marked below also compiles as
// plain C++: tests/test_conv2d_igemm_emulation.cpp runs these loaders, cores
// and epilogues for every thread of every block on the CPU, k-tile by k-tile,
// and checks the result against the CPU conv2d. What the GPU alone runs is the
// main loop (shared memory, double buffering, barriers) in conv2d.cu, and the
// mma.sync instruction, which the emulation replaces by the PTX fragment
// layout written down in Tf32Core. ldmatrix (the wide cores) runs on the CPU
// from its PTX definition (ldsm_x4), cp.async through a per-thread queue.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <type_traits>

#if defined(__CUDACC__)
#include <cuda_runtime.h>
#endif
#include "tensor/bf16.h"
#include "tensor/host_device.h"
#if defined(__CUDA_ARCH__)
#define DDPM_UNROLL _Pragma("unroll")
#else
#define DDPM_UNROLL
#endif

namespace ddpm::kernels::cuda::igemm {

constexpr int kBM = 64;   // block tile rows (m)
constexpr int kBN = 128;  // block tile columns (n)
constexpr int kBK = 8;    // k per tile
constexpr int kThreads = 256;

DDPM_HD int ceil_div(int a, int b) { return (a + b - 1) / b; }
DDPM_HD int imin(int a, int b) { return a < b ? a : b; }

// The convolution's sizes as the kernels use them (all < 2^31, checked by
// the host code before a launch).
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

// The derived sizes; the caller has checked that every count fits in int.
inline Geom make_geom(int N, int Cin, int H, int W, int Cout, int K, int stride, int pad) {
  Geom g{};
  g.N = N;
  g.Cin = Cin;
  g.H = H;
  g.W = W;
  g.Cout = Cout;
  g.K = K;
  g.stride = stride;
  g.pad = pad;
  g.Hout = (H + 2 * pad - K) / stride + 1;
  g.Wout = (W + 2 * pad - K) / stride + 1;
  g.KK = K * K;
  g.CKK = Cin * g.KK;
  g.CoKK = Cout * g.KK;
  g.HW = H * W;
  g.HWo = g.Hout * g.Wout;
  g.pix_in = N * g.HW;
  g.pix_out = N * g.HWo;
  return g;
}

// The weight gradient's split of its pixel reduction: `tiles` k-tiles over
// `splits` consecutive ranges of tiles_per_split (the last may be shorter,
// none is empty). Enough splits for about two blocks per SM, with at least
// 16 k-tiles (128 pixels) per split and at most 256 splits.
struct SplitPlan {
  int tiles_per_split, splits;
};
inline SplitPlan split_plan(int tiles, int mn_blocks, int sms) {
  const int want = ceil_div(2 * sms, mn_blocks);
  const int most = tiles / 16 < 1 ? 1 : (tiles / 16 > 256 ? 256 : tiles / 16);
  const int s = want < 1 ? 1 : (want > most ? most : want);
  SplitPlan p{};
  p.tiles_per_split = ceil_div(tiles, s);
  p.splits = ceil_div(tiles, p.tiles_per_split);
  return p;
}

// 16-byte vector for the SIMT core's shared-memory reads (p 16-byte aligned).
#if defined(__CUDACC__)
using Vec4 = float4;
#else
struct alignas(16) Vec4 {
  float x, y, z, w;
};
#endif
DDPM_HD Vec4 load4(const float* p) {
#if defined(__CUDA_ARCH__)
  return *reinterpret_cast<const Vec4*>(p);
#else
  Vec4 v;
  std::memcpy(&v, p, sizeof v);
  return v;
#endif
}

DDPM_HD float fma32(float a, float b, float c) {
#if defined(__CUDA_ARCH__)
  return fmaf(a, b, c);
#else
  return std::fma(a, b, c);
#endif
}

DDPM_HD uint32_t f32_bits(float v) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(v);
#else
  uint32_t u;
  std::memcpy(&u, &v, sizeof u);
  return u;
#endif
}

// v rounded to TF32 (10 explicit mantissa bits, nearest, ties away from
// zero), as cvt.rna.tf32.f32; the low 13 bits of the result are zero.
DDPM_HD float round_tf32(float v) {
#if defined(__CUDA_ARCH__)
  uint32_t r;
  asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(v));
  return __uint_as_float(r);
#else
  uint32_t u = f32_bits(v);
  if ((u & 0x7f800000u) != 0x7f800000u) u = (u + 0x1000u) & 0xffffe000u;  // not inf / nan
  float r;
  std::memcpy(&r, &u, sizeof r);
  return r;
#endif
}

// ---------------------------------------------------------------------------
// cp.async (sm_80+): a thread copies one float from global to shared memory
// without passing through its registers; the copy lands when the thread waits
// for the group that holds it. Copies are grouped by commit(); wait<N>() waits
// until at most the N newest groups of this thread are still in flight.
// `valid` false fills the slot with zero (src-size 0; src is not read but must
// be a valid global address). Off the GPU (the CPU emulations) the copies are
// queued per thread and land only at the wait, as late as the GPU may land
// them, so a tile read before its wait reads the previous tile, and a stage
// refilled while another thread still reads it races (ThreadSanitizer).
// ---------------------------------------------------------------------------
#if !defined(__CUDA_ARCH__)
struct CpAsyncQueue {
  struct Copy {
    float* dst;
    const float* src;
    bool valid;
  };
  Copy pending[64];  // at most 16 copies per k-tile (the wide tiles), 2 k-tiles in flight
  int count = 0;
  int group_end[8] = {};  // copies [0, group_end[i]) belong to groups 0..i
  int groups = 0;
};
inline thread_local CpAsyncQueue t_cp_async;
#endif

DDPM_HD void cp_async_f32(float* dst, const float* src, bool valid) {
#if defined(__CUDA_ARCH__)
#if __CUDA_ARCH__ >= 800
  const unsigned saddr = static_cast<unsigned>(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(saddr), "l"(src), "r"(valid ? 4 : 0)
               : "memory");
#else
  (void)dst;
  (void)src;
  (void)valid;
  __trap();
#endif
#else
  CpAsyncQueue& q = t_cp_async;
  if (q.count == static_cast<int>(sizeof q.pending / sizeof q.pending[0])) std::abort();
  q.pending[q.count++] = CpAsyncQueue::Copy{dst, src, valid};
#endif
}

DDPM_HD void cp_async_commit() {
#if defined(__CUDA_ARCH__)
#if __CUDA_ARCH__ >= 800
  asm volatile("cp.async.commit_group;\n" ::: "memory");
#endif
#else
  CpAsyncQueue& q = t_cp_async;
  if (q.groups == static_cast<int>(sizeof q.group_end / sizeof q.group_end[0])) std::abort();
  q.group_end[q.groups++] = q.count;
#endif
}

template <int N>
DDPM_HD void cp_async_wait() {
#if defined(__CUDA_ARCH__)
#if __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
#endif
#else
  CpAsyncQueue& q = t_cp_async;
  if (q.groups <= N) return;
  const int done = q.groups - N;  // the oldest `done` groups land
  const int landed = q.group_end[done - 1];
  for (int i = 0; i < landed; ++i) {
    const CpAsyncQueue::Copy& c = q.pending[i];
    *c.dst = c.valid ? *c.src : 0.f;
  }
  for (int i = landed; i < q.count; ++i) q.pending[i - landed] = q.pending[i];
  q.count -= landed;
  for (int i = done; i < q.groups; ++i) q.group_end[i - done] = q.group_end[i] - landed;
  q.groups -= done;
#endif
}

// ---------------------------------------------------------------------------
// Compute cores: accumulate one shared-memory k-tile into per-thread results;
// for_each(tid, f) hands f(row, col, value) each result. Every core says its
// block tile (kTileM x kTileN x kTileK), its shared-memory layout (a stage
// holds kAStage floats of A and kBStage of B; element (k, m) of A is at
// a_off(k, m), element (k, n) of B at b_off(k, n)), and compute(as, bs, tid)
// reads one stage. The narrow cores (64 x 128 x 8) keep As[k][m] and Bs[k][n]
// with padded rows; the wide ones (128 x 128 x 16, further below) their own.
// ---------------------------------------------------------------------------

// The 64 x 128 x 8 tile with row strides kLda, kLdb (a base of the cores).
template <int kLda_, int kLdb_>
struct NarrowTile {
  static constexpr bool kWide = false;
  // Blocks per SM the kernels are compiled for (__launch_bounds__): 2 caps
  // them at 128 registers (they use 64-80); with no minimum ptxas cut one
  // to 64 and spilled, with 3 (80 registers) the SIMT kernels spilled.
  static constexpr int kMinBlocks = 2;
  static constexpr int kTileM = kBM, kTileN = kBN, kTileK = kBK;
  static constexpr int kLda = kLda_, kLdb = kLdb_;
  static constexpr int kAStage = kBK * kLda, kBStage = kBK * kLdb;
  DDPM_HD static int a_off(int k, int m) { return k * kLda + m; }
  DDPM_HD static int b_off(int k, int n) { return k * kLdb + n; }
};

// FP32 SIMT: thread (tm, tn) = (tid / 16, tid % 16) owns rows 4tm..4tm+3 and
// columns 4tn..4tn+3 and 64+4tn..64+4tn+3: per k one float4 of As and two of
// Bs, 32 FMAs.
struct SimtCore : NarrowTile<kBM + 4, kBN + 4> {
  static constexpr bool kCopyable = true;  // prep() is the identity: cp.async can fill the tiles
  float acc[4][8];

  DDPM_HD static float prep(float v) { return v; }

  DDPM_HD void zero() {
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 8; ++j) acc[i][j] = 0.f;
  }

  DDPM_HD void compute(const float* as, const float* bs, int tid) {
    const int tm = tid / 16, tn = tid % 16;
    DDPM_UNROLL
    for (int k = 0; k < kBK; ++k) {
      const Vec4 a = load4(as + a_off(k, tm * 4));
      const Vec4 b0 = load4(bs + b_off(k, tn * 4));
      const Vec4 b1 = load4(bs + b_off(k, 64 + tn * 4));
      const float av[4] = {a.x, a.y, a.z, a.w};
      const float bv[8] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
      DDPM_UNROLL
      for (int i = 0; i < 4; ++i) DDPM_UNROLL
      for (int j = 0; j < 8; ++j) acc[i][j] = fma32(av[i], bv[j], acc[i][j]);
    }
  }

  template <class F>
  DDPM_HD void for_each(int tid, const F& f) const {
    const int tm = tid / 16, tn = tid % 16;
    DDPM_UNROLL
    for (int i = 0; i < 4; ++i) DDPM_UNROLL
    for (int j = 0; j < 8; ++j) f(tm * 4 + i, (j / 4) * 64 + tn * 4 + (j % 4), acc[i][j]);
  }
};

// The warp-wide mma.sync instructions of the tensor-core cores (FP32
// accumulate, d += a b; PTX fragment layouts at each core). GPU only: the CPU
// tests emulate them from the cores' fragments, and a host call aborts.
DDPM_HD void mma_tf32_m16n8k8(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile(
      "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#elif defined(__CUDA_ARCH__)
  (void)d, (void)a, (void)b0, (void)b1;
  __trap();
#else
  (void)d, (void)a, (void)b0, (void)b1;
  std::abort();
#endif
}
DDPM_HD void mma_bf16_m16n8k8(float (&d)[4], const uint32_t (&a)[2], uint32_t b) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile(
      "mma.sync.aligned.m16n8k8.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5}, {%6}, {%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(b));
#elif defined(__CUDA_ARCH__)
  (void)d, (void)a, (void)b;
  __trap();
#else
  (void)d, (void)a, (void)b;
  std::abort();
#endif
}
DDPM_HD void mma_bf16_m16n8k16(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#elif defined(__CUDA_ARCH__)
  (void)d, (void)a, (void)b0, (void)b1;
  __trap();
#else
  (void)d, (void)a, (void)b0, (void)b1;
  std::abort();
#endif
}

// The accumulators of the tensor-core cores: warp w = (w / 4, w % 4) owns
// rows 32 (w / 4) .. +32 and columns 32 (w % 4) .. +32 of the block tile as
// 2 x 4 m16n8 tiles, whose D fragments (g = lane / 4, t = lane % 4) are
//   d0 (g, 2t) d1 (g, 2t+1) d2 (g+8, 2t) d3 (g+8, 2t+1).
struct MmaWarpTiles {
  float acc[2][4][4];  // [m16 tile][n8 tile][d0..d3]

  DDPM_HD void zero() {
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 4; ++j)
        for (int q = 0; q < 4; ++q) acc[i][j][q] = 0.f;
  }

  template <class F>
  DDPM_HD void for_each(int tid, const F& f) const {
    const int warp = tid / 32, lane = tid % 32;
    const int g = lane / 4, t = lane % 4;
    const int m0 = (warp / 4) * 32, n0 = (warp % 4) * 32;
    DDPM_UNROLL
    for (int mi = 0; mi < 2; ++mi) DDPM_UNROLL
    for (int ni = 0; ni < 4; ++ni) DDPM_UNROLL
    for (int q = 0; q < 4; ++q)
      f(m0 + mi * 16 + g + (q / 2) * 8, n0 + ni * 8 + t * 2 + (q % 2), acc[mi][ni][q]);
  }
};

// TF32 tensor cores: warp w = (wm, wn) = (w / 4, w % 4) owns rows 32wm..+32
// and columns 32wn..+32 of the block tile as 2 x 4 tiles of m16n8k8.
// PTX fragment layouts of mma.sync.m16n8k8 .tf32 (g = lane / 4, t = lane % 4):
//   A 16 x 8 (m, k):  a0 (g, t)  a1 (g+8, t)  a2 (g, t+4)  a3 (g+8, t+4)
//   B 8 x 8 (k, n):   b0 (t, g)  b1 (t+4, g)
//   D 16 x 8 (m, n):  d0 (g, 2t) d1 (g, 2t+1) d2 (g+8, 2t) d3 (g+8, 2t+1)
// kRoundOnRead false: operands are rounded to TF32 as the loaders store them
// into shared memory (the register-staged main loop). true: shared memory
// holds them as loaded (cp.async copies bytes, it cannot round) and each
// fragment element is rounded as it is read. Either way the mma sees the same
// rounded operands in the same k order, so both give the same bits.
// Strides = 8 (mod 32) words: the fragment reads As[t][m0 + g] and
// Bs[t][n0 + g] (t = 0..3, g = 0..7) hit 32 different banks.
template <bool kRoundOnRead>
struct Tf32CoreT : MmaWarpTiles, NarrowTile<kBM + 8, kBN + 8> {
  static_assert(kBK == 8, "one m16n8k8 step per k-tile");
  static constexpr bool kCopyable = kRoundOnRead;

  DDPM_HD static float prep(float v) { return kRoundOnRead ? v : round_tf32(v); }
  DDPM_HD static uint32_t operand(float v) { return f32_bits(kRoundOnRead ? round_tf32(v) : v); }

  // This lane's A and B fragments of the k-tile.
  DDPM_HD static void fragments(const float* as, const float* bs, int tid, uint32_t (&a)[2][4],
                                uint32_t (&b)[4][2]) {
    using T = NarrowTile<kBM + 8, kBN + 8>;
    const int warp = tid / 32, lane = tid % 32;
    const int g = lane / 4, t = lane % 4;
    const int m0 = (warp / 4) * 32, n0 = (warp % 4) * 32;
    DDPM_UNROLL
    for (int mi = 0; mi < 2; ++mi) {
      const int r = m0 + mi * 16 + g;
      a[mi][0] = operand(as[T::a_off(t, r)]);
      a[mi][1] = operand(as[T::a_off(t, r + 8)]);
      a[mi][2] = operand(as[T::a_off(t + 4, r)]);
      a[mi][3] = operand(as[T::a_off(t + 4, r + 8)]);
    }
    DDPM_UNROLL
    for (int ni = 0; ni < 4; ++ni) {
      const int c = n0 + ni * 8 + g;
      b[ni][0] = operand(bs[T::b_off(t, c)]);
      b[ni][1] = operand(bs[T::b_off(t + 4, c)]);
    }
  }

  // The warp-wide mma.sync: GPU only (the CPU tests emulate it from fragments()).
  DDPM_HD void compute(const float* as, const float* bs, int tid) {
    uint32_t a[2][4], b[4][2];
    fragments(as, bs, tid, a, b);
    DDPM_UNROLL
    for (int mi = 0; mi < 2; ++mi) DDPM_UNROLL
    for (int ni = 0; ni < 4; ++ni) mma_tf32_m16n8k8(acc[mi][ni], a[mi], b[ni][0], b[ni][1]);
  }
};
using Tf32Core = Tf32CoreT<false>;     // the register-staged main loop's
using Tf32ReadCore = Tf32CoreT<true>;  // the cp.async main loop's

// BF16 tensor cores: the warp tiling of the TF32 core (warp w = (w / 4, w % 4)
// owns a 32 x 32 tile as 2 x 4 tiles of m16n8k8) with
// mma.sync.m16n8k8.row.col.f32.bf16.bf16.f32 (FP32 accumulate). Shared memory
// holds the operands as FP32, as loaded; each fragment rounds them to BF16
// (nearest, ties to even: cvt.rn.bf16x2.f32) and packs two per register, the
// lower k in the lower half. PTX fragment layouts (g = lane / 4, t = lane % 4):
//   A 16 x 8 (m, k):  a0 = {(g, 2t), (g, 2t+1)}  a1 = {(g+8, 2t), (g+8, 2t+1)}
//   B 8 x 8 (k, n):   b0 = {(2t, g), (2t+1, g)}
//   D 16 x 8 (m, n):  as the TF32 core's.
// The SIMT strides (4 mod 32 words) make the fragment reads As[2t][m0 + g]
// (t = 0..3, g = 0..7) hit banks 8t + g: 32 different ones (likewise Bs).
struct Bf16Core : MmaWarpTiles, NarrowTile<kBM + 4, kBN + 4> {
  static constexpr bool kCopyable = true;
  static_assert(kBK == 8, "one m16n8k8 step per k-tile");

  DDPM_HD static float prep(float v) { return v; }

  // {lo, hi} rounded to BF16 and packed: lo in bits 0..15.
  DDPM_HD static uint32_t pack(float lo, float hi) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    uint32_t r;
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
    return r;
#else
    return static_cast<uint32_t>(float_to_bf16_bits(lo)) |
           (static_cast<uint32_t>(float_to_bf16_bits(hi)) << 16);
#endif
  }

  DDPM_HD static void fragments(const float* as, const float* bs, int tid, uint32_t (&a)[2][2],
                                uint32_t (&b)[4]) {
    const int warp = tid / 32, lane = tid % 32;
    const int g = lane / 4, t = lane % 4;
    const int m0 = (warp / 4) * 32, n0 = (warp % 4) * 32;
    DDPM_UNROLL
    for (int mi = 0; mi < 2; ++mi) {
      const int r = m0 + mi * 16 + g;
      a[mi][0] = pack(as[a_off(2 * t, r)], as[a_off(2 * t + 1, r)]);
      a[mi][1] = pack(as[a_off(2 * t, r + 8)], as[a_off(2 * t + 1, r + 8)]);
    }
    DDPM_UNROLL
    for (int ni = 0; ni < 4; ++ni) {
      const int c = n0 + ni * 8 + g;
      b[ni] = pack(bs[b_off(2 * t, c)], bs[b_off(2 * t + 1, c)]);
    }
  }

  // The warp-wide mma.sync: GPU only (the CPU tests emulate it from fragments()).
  DDPM_HD void compute(const float* as, const float* bs, int tid) {
    uint32_t a[2][2], b[4];
    fragments(as, bs, tid, a, b);
    DDPM_UNROLL
    for (int mi = 0; mi < 2; ++mi) DDPM_UNROLL
    for (int ni = 0; ni < 4; ++ni) mma_bf16_m16n8k8(acc[mi][ni], a[mi], b[ni]);
  }
};

// ===========================================================================
// The wide tiles (the *_wide variants): 128 (m) x 128 (n) x 16 (k) per
// block of 256 threads, filled by cp.async only (WideLoader, below). Per
// k-tile a block does four times the math of the narrow tile for twice its
// loads, and per barrier two k-steps of the tensor cores instead of one.
// ===========================================================================
constexpr int kWM = 128, kWN = 128, kWK = 16;

// FP32 SIMT, register-blocked 8 x 8 per thread: thread (tm, tn) = (tid / 16,
// tid % 16) owns rows 4tm..+3 and 64+4tm..+3 and columns 4tn..+3 and
// 64+4tn..+3: per k two float4 of As and two of Bs (one broadcast pair and
// 16 consecutive float4 per warp: no bank conflicts), 64 FMAs; twice the
// narrow SIMT core's math per shared-memory read. As[k][m], Bs[k][n] with
// rows padded to 132 floats (4 mod 32 words: the loaders' stores fall in 32
// banks, as for the narrow cores). Its sums run over k in the narrow SIMT
// core's order, from the same zero: unsplit, the two give the same bits.
struct WideSimtCore {
  static constexpr bool kWide = true;
  static constexpr int kMinBlocks = 2;  // <= 128 registers: 16 warps per SM
  static constexpr bool kCopyable = true;
  static constexpr int kTileM = kWM, kTileN = kWN, kTileK = kWK;
  static constexpr int kLd = kWM + 4;
  static constexpr int kAStage = kWK * kLd, kBStage = kWK * kLd;
  DDPM_HD static int a_off(int k, int m) { return k * kLd + m; }
  DDPM_HD static int b_off(int k, int n) { return k * kLd + n; }
  float acc[8][8];

  DDPM_HD void zero() {
    for (int i = 0; i < 8; ++i)
      for (int j = 0; j < 8; ++j) acc[i][j] = 0.f;
  }

  DDPM_HD void compute(const float* as, const float* bs, int tid) {
    const int tm = tid / 16, tn = tid % 16;
    DDPM_UNROLL
    for (int k = 0; k < kWK; ++k) {
      const Vec4 a0 = load4(as + a_off(k, tm * 4)), a1 = load4(as + a_off(k, 64 + tm * 4));
      const Vec4 b0 = load4(bs + b_off(k, tn * 4)), b1 = load4(bs + b_off(k, 64 + tn * 4));
      const float av[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
      const float bv[8] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
      DDPM_UNROLL
      for (int i = 0; i < 8; ++i) DDPM_UNROLL
      for (int j = 0; j < 8; ++j) acc[i][j] = fma32(av[i], bv[j], acc[i][j]);
    }
  }

  template <class F>
  DDPM_HD void for_each(int tid, const F& f) const {
    const int tm = tid / 16, tn = tid % 16;
    DDPM_UNROLL
    for (int i = 0; i < 8; ++i) DDPM_UNROLL
    for (int j = 0; j < 8; ++j) f((i / 4) * 64 + tm * 4 + i % 4, (j / 4) * 64 + tn * 4 + j % 4, acc[i][j]);
  }
};

// ldmatrix.sync.aligned.m8n8.x4.shared.b16 on 32-bit words: it loads four
// 8 x 4 matrices of words (each row 16 contiguous bytes). Lane l supplies the
// address of row l % 8 of matrix l / 8, as row(l), an offset in floats from
// base (a multiple of 4); lane l receives r[i] = word l % 4 of row l / 4 of
// matrix i. Off the GPU the warp's exchange is done from that definition,
// calling row() for the lane that supplies each row (row must depend on the
// lane alone), so a wrong address or layout gives wrong fragments on the CPU.
template <class Row>
DDPM_HD void ldsm_x4(const float* base, const Row& row, int lane, uint32_t (&r)[4]) {
#if defined(__CUDA_ARCH__)
#if __CUDA_ARCH__ >= 800
  const unsigned addr = static_cast<unsigned>(__cvta_generic_to_shared(base + row(lane)));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
#else
  (void)base;
  (void)row;
  (void)lane;
  r[0] = r[1] = r[2] = r[3] = 0;
  __trap();
#endif
#else
  for (int i = 0; i < 4; ++i) r[i] = f32_bits(base[row(8 * i + lane / 4) + lane % 4]);
#endif
}

// The tensor-core wide tiles' shared memory: As[m][k] and Bs[n][k], k
// contiguous (what ldmatrix needs: a fragment's 8 x 4 word matrix is 8 rows
// of 4 consecutive k), 16 floats per row = four 16-byte chunks, chunk c of
// row r stored at chunk c ^ ((r >> 1) & 3). Unswizzled, rows r and r + 2 of
// an 8-row ldmatrix share banks (the row stride is 16 words); swizzled, the
// 8 rows of every matrix a fragment load reads fall in 8 different 4-bank
// groups (r & 1 picks the half of the 32 banks, c ^ ((r >> 1) & 3) the group
// in it): conflict-free, with no padding (3 stages of 2 x 8 KB fit 48 KB).
DDPM_HD constexpr int swizzled(int row, int k) {
  return row * kWK + ((((k >> 2) ^ (row >> 1)) & 3) << 2) + (k & 3);
}

// The accumulators of the tensor-core wide cores: 8 warps as 2 (m) x 4 (n),
// warp w owns rows 64 (w / 4) .. +64 and columns 32 (w % 4) .. +32 of the
// block tile as 4 x 4 m16n8 tiles (D fragments as in MmaWarpTiles).
struct MmaWideTiles {
  static constexpr bool kWide = true;
  static constexpr bool kCopyable = true;  // fragments round or pack as they are read
  static constexpr int kTileM = kWM, kTileN = kWN, kTileK = kWK;
  static constexpr int kAStage = kWM * kWK, kBStage = kWN * kWK;
  DDPM_HD static int a_off(int k, int m) { return swizzled(m, k); }
  DDPM_HD static int b_off(int k, int n) { return swizzled(n, k); }
  float acc[4][4][4];  // [m16 tile][n8 tile][d0..d3]

  DDPM_HD void zero() {
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 4; ++j)
        for (int q = 0; q < 4; ++q) acc[i][j][q] = 0.f;
  }

  template <class F>
  DDPM_HD void for_each(int tid, const F& f) const {
    const int warp = tid / 32, lane = tid % 32;
    const int g = lane / 4, t = lane % 4;
    const int m0 = (warp / 4) * 64, n0 = (warp % 4) * 32;
    DDPM_UNROLL
    for (int mi = 0; mi < 4; ++mi) DDPM_UNROLL
    for (int ni = 0; ni < 4; ++ni) DDPM_UNROLL
    for (int q = 0; q < 4; ++q)
      f(m0 + mi * 16 + g + (q / 2) * 8, n0 + ni * 8 + t * 2 + (q % 2), acc[mi][ni][q]);
  }

  // This lane's words of the k-tile by ldmatrix (g = lane / 4, t = lane % 4),
  // one x4 load each:
  //   a_words(ks, mi): A(g, 8ks+t), A(g+8, 8ks+t), A(g, 8ks+t+4),
  //     A(g+8, 8ks+t+4) of the warp's m16 tile mi (rows relative to it): the
  //     m16n8k8 TF32 A fragment of k-step ks;
  //   b_words(ks, np): B(8ks+t, g), B(8ks+t+4, g) of the warp's n8 tile 2np,
  //     then of tile 2np+1: the TF32 B fragments of k-step ks of both.
  // The shared-memory offset (floats) of the row lane l supplies to those
  // loads: A's m16 tile mi at k-step ks, B's n8 tile pair np at k-step ks.
  DDPM_HD static int a_row(int tid, int ks, int mi, int l) {
    return swizzled((tid / 128) * 64 + mi * 16 + (l & 7) + ((l >> 3) & 1) * 8, ks * 8 + (l >> 4) * 4);
  }
  DDPM_HD static int b_row(int tid, int ks, int np, int l) {
    return swizzled(((tid / 32) % 4) * 32 + np * 16 + (l >> 4) * 8 + (l & 7), ks * 8 + ((l >> 3) & 1) * 4);
  }
  DDPM_HD static void a_words(const float* as, int tid, int ks, int mi, uint32_t (&r)[4]) {
    ldsm_x4(
        as, [&](int l) { return a_row(tid, ks, mi, l); }, tid % 32, r);
  }
  DDPM_HD static void b_words(const float* bs, int tid, int ks, int np, uint32_t (&r)[4]) {
    ldsm_x4(
        bs, [&](int l) { return b_row(tid, ks, np, l); }, tid % 32, r);
  }
};

DDPM_HD float bits_f32(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
#endif
}

// TF32 on the wide tile: per k-tile two m16n8k8 steps per (m16, n8) tile,
// each operand word rounded to TF32 (cvt.rna) as it leaves ldmatrix. Each
// accumulator sees the narrow TF32 cores' mma sequence (k-steps of 8 in
// ascending k, the same rounded operands): unsplit, the same bits.
struct WideTf32Core : MmaWideTiles {
  static constexpr int kMinBlocks = 2;  // <= 128 registers: 16 warps per SM, not 8
  DDPM_HD static uint32_t operand(uint32_t u) { return f32_bits(round_tf32(bits_f32(u))); }

  // The m16n8k8 fragments of k-step ks: B of all four n8 tiles, b[ni][0..1],
  // and A of m16 tile mi, a[0..3] (PTX layouts, as Tf32CoreT).
  DDPM_HD static void b_fragments(const float* bs, int tid, int ks, uint32_t (&b)[4][2]) {
    DDPM_UNROLL
    for (int np = 0; np < 2; ++np) {
      uint32_t w[4];
      b_words(bs, tid, ks, np, w);
      DDPM_UNROLL
      for (int q = 0; q < 4; ++q) b[2 * np + q / 2][q % 2] = operand(w[q]);
    }
  }
  DDPM_HD static void a_fragment(const float* as, int tid, int ks, int mi, uint32_t (&a)[4]) {
    a_words(as, tid, ks, mi, a);
    DDPM_UNROLL
    for (int q = 0; q < 4; ++q) a[q] = operand(a[q]);
  }

  // Per k-step: B's fragments, then A's one m16 tile at a time (what is
  // live: 8 + 4 words beside the 64 accumulators).
  DDPM_HD void compute(const float* as, const float* bs, int tid) {
    DDPM_UNROLL
    for (int ks = 0; ks < 2; ++ks) {
      uint32_t b[4][2];
      b_fragments(bs, tid, ks, b);
      DDPM_UNROLL
      for (int mi = 0; mi < 4; ++mi) {
        uint32_t a[4];
        a_fragment(as, tid, ks, mi, a);
        DDPM_UNROLL
        for (int ni = 0; ni < 4; ++ni) mma_tf32_m16n8k8(acc[mi][ni], a, b[ni][0], b[ni][1]);
      }
    }
  }
};

// BF16 on the wide tile: one mma.sync.m16n8k16 bf16 per (m16, n8) tile per
// k-tile (twice the k of the narrow BF16 core's m16n8k8, the shape the
// tensor cores run at full rate). Its PTX fragments (g = lane / 4, t = lane % 4;
// pairs packed lower k in the lower half):
//   A 16 x 16: a0 = A(g, 2t..2t+1)  a1 = A(g+8, 2t..2t+1)  a2 = A(g, 2t+8..2t+9)  a3 = A(g+8, 2t+8..2t+9)
//   B 16 x 8:  b0 = B(2t..2t+1, g)  b1 = B(2t+8..2t+9, g)
// A k-tile's 16 k are handed to the mma in the order pi: mma k 2t, 2t+1,
// 2t+8, 2t+9 hold tile k t, t+4, t+8, t+12, for A and B alike (a reduction
// may run over its k in any order), so the words ldmatrix gives for the TF32
// layout pack straight into BF16 pairs: a0 = {A(g, t), A(g, t+4)}, ...
struct WideBf16Core : MmaWideTiles {
  // No register cap (one block, 8 warps, per SM): capped at 128 registers
  // every BF16 wide kernel spilled 24-48 bytes (the packing's temporaries).
  static constexpr int kMinBlocks = 1;
  DDPM_HD static uint32_t pack(uint32_t lo, uint32_t hi) {
    return Bf16Core::pack(bits_f32(lo), bits_f32(hi));
  }

  // The m16n8k16 fragments: B of all four n8 tiles, b[ni][0..1], and A of
  // m16 tile mi, a[0..3].
  DDPM_HD static void b_fragments(const float* bs, int tid, uint32_t (&b)[4][2]) {
    DDPM_UNROLL
    for (int ks = 0; ks < 2; ++ks) DDPM_UNROLL
    for (int np = 0; np < 2; ++np) {
      uint32_t w[4];
      b_words(bs, tid, ks, np, w);
      b[2 * np][ks] = pack(w[0], w[1]);      // B(8ks+t, g), B(8ks+t+4, g) of tile 2np
      b[2 * np + 1][ks] = pack(w[2], w[3]);  // and of tile 2np+1
    }
  }
  DDPM_HD static void a_fragment(const float* as, int tid, int mi, uint32_t (&a)[4]) {
    uint32_t w[4], v[4];
    a_words(as, tid, 0, mi, w);
    a_words(as, tid, 1, mi, v);
    a[0] = pack(w[0], w[2]);  // A(g, t), A(g, t+4)
    a[1] = pack(w[1], w[3]);  // A(g+8, t), A(g+8, t+4)
    a[2] = pack(v[0], v[2]);  // A(g, t+8), A(g, t+12)
    a[3] = pack(v[1], v[3]);  // A(g+8, t+8), A(g+8, t+12)
  }

  DDPM_HD void compute(const float* as, const float* bs, int tid) {
    uint32_t b[4][2];
    b_fragments(bs, tid, b);
    DDPM_UNROLL
    for (int mi = 0; mi < 4; ++mi) {
      uint32_t a[4];
      a_fragment(as, tid, mi, a);
      DDPM_UNROLL
      for (int ni = 0; ni < 4; ++ni) mma_bf16_m16n8k16(acc[mi][ni], a, b[ni][0], b[ni][1]);
    }
  }
};

// ---------------------------------------------------------------------------
// Loaders: made per thread for its block's tile. A loader says, for k-tile
// kt, where its thread's 2 elements of A and 4 of B are in global memory
// (gather(kt, fa, fb) calls fa(e, address) for A's e = 0, 1 and fb(e,
// address) for B's e = 0..3, in order; the address is null where the element
// is a zero: padding, past the problem) and which shared-memory slots they go
// to (a_slot(e) = (k, m), b_slot(e) =
// (k, n)). LoaderBase turns that into the two ways of filling a tile:
//   load(kt) then store<Core>(As, Bs): through registers (the register-staged
//     main loop: the loads of tile kt+1 are in flight during tile kt's math);
//   issue<Core>(kt, As, Bs): cp.async straight into shared memory (the
//     multi-stage main loop), landing at the thread's cp_async_wait.
// ---------------------------------------------------------------------------

struct Slot {
  int k, mn;
};

template <class Derived>
struct LoaderBase {
  float ra[2] = {0.f, 0.f}, rb[4] = {0.f, 0.f, 0.f, 0.f};
  const float* any_a = nullptr;  // a valid global address for zero-filled A copies
  const float* any_b = nullptr;  // and for B copies

  DDPM_HD const Derived& self() const { return *static_cast<const Derived*>(this); }

  DDPM_HD void load(int kt) {
    self().gather(
        kt, [&](int e, const float* p) { ra[e] = p ? *p : 0.f; },
        [&](int e, const float* p) { rb[e] = p ? *p : 0.f; });
  }

  template <class Core>
  DDPM_HD void store(float* as, float* bs) const {
    static_assert(!Core::kWide, "the wide tiles are filled by cp.async only (WideLoader)");
    DDPM_UNROLL
    for (int e = 0; e < 2; ++e) {
      const Slot s = self().a_slot(e);
      as[Core::a_off(s.k, s.mn)] = Core::prep(ra[e]);
    }
    DDPM_UNROLL
    for (int e = 0; e < 4; ++e) {
      const Slot s = self().b_slot(e);
      bs[Core::b_off(s.k, s.mn)] = Core::prep(rb[e]);
    }
  }

  // cp.async copies of k-tile kt (of this loader's 64 x 128 x 8 tiling) into
  // the stage (as, bs), A's slots moved by (dk, dm) and B's by dk (the wide
  // tile's quarters: WideLoader). Cores whose prep() is not the identity
  // (Tf32Core) cannot take this path. kWithB false leaves B out (the wide
  // tile's lower half, whose B is the upper half's).
  template <class Core, bool kWithB = true>
  DDPM_HD void issue(int kt, float* as, float* bs, int dk = 0, int dm = 0) const {
    static_assert(Core::kCopyable, "cp.async cannot apply the core's prep()");
    self().gather(
        kt,
        [&](int e, const float* p) {
          const Slot s = self().a_slot(e);
          cp_async_f32(as + Core::a_off(s.k + dk, s.mn + dm), p ? p : any_a, p != nullptr);
        },
        [&](int e, const float* p) {
          if constexpr (kWithB) {
            const Slot s = self().b_slot(e);
            cp_async_f32(bs + Core::b_off(s.k + dk, s.mn), p ? p : any_b, p != nullptr);
          } else {
            (void)e;
            (void)p;
          }
        });
  }
};

// ---- fwd: y[n,co,p] = b[co] + sum_k w[co,k] col[k,(n,p)] ----
struct FwdLoader : LoaderBase<FwdLoader> {
  // A: row am = tid / 4 of the tile, k = kt*8 + ak + {0,1}, ak = 2 (tid % 4):
  //    a warp reads 8 rows x 32 contiguous bytes of w; the stores
  //    As[ak+e][am] fall in 32 different banks.
  const float* wrow;  // w row of this thread's co, or null past Cout
  int ak, am;
  // B: column bj = tid % 128 (a warp: 32 consecutive pixels, contiguous in x
  //    for stride 1), k = kt*8 + bk + {0..3}, bk = 4 (tid / 128): one (ci,kh,kw)
  //    decomposition per k-tile, then increments.
  const float* xn;  // image n of x
  int bj, bk;
  int ih0, iw0;  // top-left input pixel of this output pixel's window
  bool col_ok;   // the pixel exists
  int CKK, KK, K, H, W, HW;

  DDPM_HD FwdLoader(const float* x, const float* w, const Geom& g, int m0, int j0, int tid) {
    any_a = w;
    any_b = x;
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

  DDPM_HD Slot a_slot(int e) const { return Slot{ak + e, am}; }
  DDPM_HD Slot b_slot(int e) const { return Slot{bk + e, bj}; }

  template <class FA, class FB>
  DDPM_HD void gather(int kt, const FA& fa, const FB& fb) const {
    const int k0 = kt * kBK;
    DDPM_UNROLL
    for (int e = 0; e < 2; ++e) {
      const int k = k0 + ak + e;
      fa(e, (wrow && k < CKK) ? wrow + k : nullptr);
    }
    const int kb = k0 + bk;
    int ci = kb / KK;
    const int r = kb - ci * KK;
    int kh = r / K, kw = r - kh * K;
    DDPM_UNROLL
    for (int e = 0; e < 4; ++e) {
      const int ih = ih0 + kh, iw = iw0 + kw;
      const bool ok = col_ok && kb + e < CKK && static_cast<unsigned>(ih) < static_cast<unsigned>(H) &&
                      static_cast<unsigned>(iw) < static_cast<unsigned>(W);
      fb(e, ok ? xn + (static_cast<int64_t>(ci) * HW + ih * W + iw) : nullptr);
      if (++kw == K) {
        kw = 0;
        if (++kh == K) {
          kh = 0;
          ++ci;
        }
      }
    }
  }
};

// Writes y[n, co, p] = acc (+ bias[co]) (+ add[n, co]) for tile element (row, col).
// add (optional, [N, Cout]): + add[n, co] after the bias (the fused
// per-plane add of conv2d_fwd's `add`).
struct FwdEpilogue {
  float* y;
  const float* bias;
  Geom g;
  int m0, j0;
  const float* add = nullptr;
  DDPM_HD void operator()(int row, int col, float v) const {
    const int co = m0 + row, j = j0 + col;
    if (co >= g.Cout || j >= g.pix_out) return;
    const int n = j / g.HWo, p = j - n * g.HWo;
    const int64_t plane = static_cast<int64_t>(n) * g.Cout + co;
    float out = bias ? v + bias[co] : v;
    if (add) out += add[plane];
    y[plane * g.HWo + p] = out;
  }
};

// ---- bwd-data: gx[n,ci,q] = sum_{co,kh,kw} w[co,ci,kh,kw] gy[n,co,oh,ow] ----
// kUnitStride drops the divisibility tests of the general stride.
template <bool kUnitStride>
struct BwdDataLoader : LoaderBase<BwdDataLoader<kUnitStride>> {
  // A(ci, k = (co,kh,kw)) = w[(co*Cin + ci)*KK + kh*K + kw]: row am = tid / 4,
  //   k = kt*8 + ak + {0,1}, ak = 2 (tid % 4).
  const float* w;
  int ci;  // this thread's A row, or -1 past Cin
  int ak, am;
  // B(k, (n,ih,iw)) = gy[n,co,oh,ow] with oh*s - pad + kh = ih (likewise ow):
  //   column bj = tid % 128 (consecutive input pixels), k = kt*8 + bk + {0..3},
  //   bk = 4 (tid / 128).
  const float* gyn;  // image n of gy
  int bj, bk;
  int ihp, iwp;  // ih + pad, iw + pad
  bool col_ok;
  int CoKK, KK, K, Cin, stride, Hout, Wout, HWo;

  DDPM_HD BwdDataLoader(const float* gy, const float* w_, const Geom& g, int m0, int j0, int tid) {
    this->any_a = w_;
    this->any_b = gy;
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

  DDPM_HD Slot a_slot(int e) const { return Slot{ak + e, am}; }
  DDPM_HD Slot b_slot(int e) const { return Slot{bk + e, bj}; }

  template <class FA, class FB>
  DDPM_HD void gather(int kt, const FA& fa, const FB& fb) const {
    const int k0 = kt * kBK;
    DDPM_UNROLL
    for (int e = 0; e < 2; ++e) {
      const int k = k0 + ak + e;
      const float* p = nullptr;
      if (ci >= 0 && k < CoKK) {
        const int co = k / KK, r = k - co * KK;
        p = w + ((static_cast<int64_t>(co) * Cin + ci) * KK + r);
      }
      fa(e, p);
    }
    const int kb = k0 + bk;
    int co = kb / KK;
    const int r = kb - co * KK;
    int kh = r / K, kw = r - kh * K;
    DDPM_UNROLL
    for (int e = 0; e < 4; ++e) {
      int oh = ihp - kh, ow = iwp - kw;  // = oh*s, ow*s
      bool ok = col_ok && kb + e < CoKK && oh >= 0 && ow >= 0;
      if (!kUnitStride) {  // unsigned: oh, ow < 0 are refused above (and signed % spilled in one variant)
        const unsigned us = static_cast<unsigned>(stride);
        const unsigned qh = static_cast<unsigned>(oh) / us, qw = static_cast<unsigned>(ow) / us;
        ok = ok && qh * us == static_cast<unsigned>(oh) && qw * us == static_cast<unsigned>(ow);
        oh = static_cast<int>(qh);
        ow = static_cast<int>(qw);
      }
      ok = ok && oh < Hout && ow < Wout;
      fb(e, ok ? gyn + (static_cast<int64_t>(co) * HWo + oh * Wout + ow) : nullptr);
      if (++kw == K) {
        kw = 0;
        if (++kh == K) {
          kh = 0;
          ++co;
        }
      }
    }
  }
};

// Writes gx[n, ci, q] = acc for tile element (row, col).
struct BwdDataEpilogue {
  float* gx;
  Geom g;
  int m0, j0;
  DDPM_HD void operator()(int row, int col, float v) const {
    const int ci = m0 + row, j = j0 + col;
    if (ci >= g.Cin || j >= g.pix_in) return;
    const int n = j / g.HW, q = j - n * g.HW;
    gx[(static_cast<int64_t>(n) * g.Cin + ci) * g.HW + q] = v;
  }
};

// ---- bwd-weight: gw[co,c] = sum_j gy[co,j] col[c,j] over a pixel range ----
struct BwdWeightLoader : LoaderBase<BwdWeightLoader> {
  // Both operands are read along the reduction (pixels j): r = tid % 8 is
  // this thread's pixel within the k-tile, for A and B alike, so one
  // decomposition j -> (n, oh, ow) per k-tile serves both.
  // A(co, j) = gy[n,co,p]: rows am and am + 32, am = tid / 8.
  // B(j, c) = x[n,ci,oh*s-pad+kh,ow*s-pad+kw]: columns am + 32e, e = 0..3,
  //   whose (ci, kh, kw) never change: decomposed once.
  // The stores As[r][am], Bs[r][am + 32e] fall in 32 different banks (SIMT
  // strides, 4 mod 32).
  const float* x;
  const float* gy;
  int r, am;
  int co0, co1;  // A rows, -1 past Cout
  int xoff[4];   // ci*HW of each B column, -1 past CKK
  int khs[4], kws[4];
  int pix, HWo, Wout, Cout, Cin, HW, H, W, stride, pad;

  DDPM_HD BwdWeightLoader(const float* x_, const float* gy_, const Geom& g, int m0, int c0, int tid) {
    any_a = gy_;
    any_b = x_;
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

  DDPM_HD Slot a_slot(int e) const { return Slot{r, am + 32 * e}; }
  DDPM_HD Slot b_slot(int e) const { return Slot{r, am + 32 * e}; }

  template <class FA, class FB>
  DDPM_HD void gather(int kt, const FA& fa, const FB& fb) const {
    const int j = kt * kBK + r;
    if (j >= pix) {
      fa(0, nullptr);
      fa(1, nullptr);
      for (int e = 0; e < 4; ++e) fb(e, nullptr);
      return;
    }
    const int n = j / HWo, p = j - n * HWo;
    const int oh = p / Wout, ow = p - oh * Wout;
    const float* gyn = gy + (static_cast<int64_t>(n) * Cout * HWo + p);
    fa(0, co0 >= 0 ? gyn + static_cast<int64_t>(co0) * HWo : nullptr);
    fa(1, co1 >= 0 ? gyn + static_cast<int64_t>(co1) * HWo : nullptr);
    const float* xn = x + static_cast<int64_t>(n) * Cin * HW;
    const int ih0 = oh * stride - pad, iw0 = ow * stride - pad;
    DDPM_UNROLL
    for (int e = 0; e < 4; ++e) {
      const int ih = ih0 + khs[e], iw = iw0 + kws[e];
      const bool ok = xoff[e] >= 0 && static_cast<unsigned>(ih) < static_cast<unsigned>(H) &&
                      static_cast<unsigned>(iw) < static_cast<unsigned>(W);
      fb(e, ok ? xn + (static_cast<int64_t>(xoff[e]) + ih * W + iw) : nullptr);
    }
  }
};

// Writes dst[co, c] = acc (dst: gw, or split z's partial gw).
struct BwdWeightEpilogue {
  float* dst;
  Geom g;
  int m0, c0;
  DDPM_HD void operator()(int row, int col, float v) const {
    const int co = m0 + row, c = c0 + col;
    if (co < g.Cout && c < g.CKK) dst[static_cast<int64_t>(co) * g.CKK + c] = v;
  }
};

// ---- the wide tiles' loader: four of a pass's narrow gathers per k-tile ----
// The 128 x 128 x 16 tile is two 64-row halves by two 8-k quarters: top (rows
// m0..) fills A's upper half and all of B, bottom (rows m0 + 64..) A's lower
// half; each runs its narrow gather for narrow k-tiles 2kt and 2kt + 1. The
// narrow loaders' slot maps and global-read patterns carry over unchanged.
template <class Sub>
struct WideLoader {
  Sub top, bottom;

  DDPM_HD WideLoader(const float* p, const float* q, const Geom& g, int m0, int n0, int tid)
      : top(p, q, g, m0, n0, tid), bottom(p, q, g, m0 + kBM, n0, tid) {}

  template <class Core>
  DDPM_HD void issue(int kt, float* as, float* bs) const {
    static_assert(Core::kWide && Core::kTileK == 2 * kBK && Core::kTileM == 2 * kBM && Core::kTileN == kBN,
                  "WideLoader fills the 128 x 128 x 16 tile");
    DDPM_UNROLL
    for (int ks = 0; ks < 2; ++ks) {
      top.template issue<Core, true>(2 * kt + ks, as, bs, ks * kBK, 0);
      bottom.template issue<Core, false>(2 * kt + ks, as, bs, ks * kBK, kBM);
    }
  }
};

// The loader a core's kernels use for pass loader Sub.
template <class Core, class Sub>
using LoaderFor = typename std::conditional<Core::kWide, WideLoader<Sub>, Sub>::type;

}  // namespace ddpm::kernels::cuda::igemm
