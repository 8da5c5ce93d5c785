// CUDA fused GroupNorm + SiLU (kernels/group_norm_silu.h has the math): x
// [N, C, HW] float32, group (n, g) = M = C/G * HW contiguous elements, a
// [cpg = C/G, HW] matrix of channel rows starting at (n*G + g) * M.
//
// One block per group, forward and backward, so a group's statistics and
// sums never leave its block and each op is one pass over memory (plus the
// small affine-gradient reduction). The layout of a block (a Plan, chosen on
// the host from the sizes alone): a row is cut into units of Q consecutive
// elements (Q = 4 when HW % 4 == 0: one float4 access when the pointers are
// 16-byte aligned, else four scalar ones, the same units either way, so
// aligned and misaligned buffers give the same bits; Q = 1 otherwise). A
// row's U = HW/Q units are spread over TPC consecutive threads (a power of
// two), R = threads/TPC rows at a time: thread t holds units lane + j*TPC
// (lane = t % TPC, j < J) of rows t/TPC + p*R (rounds p < P = ceil(cpg/R)).
// A warp thus reads whole consecutive rows or consecutive units of one row,
// and a row's partial sums sit in TPC consecutive lanes. Blocks have 32 to
// 1024 threads: the fewest of 256, 512, 1024 (backward: 256, 512; fewer
// for small groups) that hold the group in K <= 4 units per thread.
//
// Forward, one kernel:
//   group_norm_silu_fwd_kernel<K>       the register path, groups of up to
//       16384 elements and 512 channels: each thread loads its P*J <= K
//       units into registers once; the block sums them (double) for the
//       mean, then the centred squares from the same registers for the
//       variance; each channel's scale/shift (double, rounded once, as the
//       CPU kernel) goes to shared memory; y = silu(x * scale + shift) is
//       written from the registers. Global memory: x read once, y written
//       once, mean/rstd by thread 0.
//   group_norm_silu_fwd_loop_kernel     larger groups: the same layout in
//       loops over global memory, sum and sum of squares (double) in one
//       pass, y in a second (its re-read of x mostly hits L2).
// Backward, two kernels:
//   group_norm_silu_bwd_kernel<K>       groups of up to 8192 elements and
//       512 channels (larger: a loop kernel, two passes as above): x and g
//       in registers, gz = g s(z)(1 + z(1 - s(z))) in place of g, z
//       recomputed with the forward's float operations (bitwise the
//       forward's z); per round p the per-row ds = sum gz*x and db = sum gz
//       (double): each thread sums its units of the row, a butterfly over
//       the row's lanes (warp shuffles), then across the row's warps through
//       shared memory in warp order. The row's lane-0 thread adds the row
//       into A = sum_c gamma db and B = sum_c gamma (ds - mu db) and writes
//       (ds - mu db) * rstd and db to a scratch [N*C, 2] (double) for the
//       affine gradients; A and B are summed over the block, every thread
//       forms b and c0 (double, as the CPU kernel) and writes gx = a[c] gz +
//       b x + c0 from its registers.
//   group_norm_silu_bwd_affine_kernel   a block per 32 channels, blockDim.y
//       (<= 32) lanes over n: ggamma[c] = sum_n (ds - mu db) rstd, gbeta[c] =
//       sum_n db, each lane a fixed strided subset of n in order, then a
//       fixed tree over the lanes in shared memory.
// Block sums: a butterfly within each warp (__shfl_xor_sync), the warp
// totals in shared memory, and a butterfly over those; every lane gets the
// same bits (a + b == b + a). No atomics, and every reduction has a shape
// fixed by the plan: results are bitwise reproducible run to run.
//
// Registers (ptxas -v, sm_90, CUDA 13): no spills or stack anywhere. The
// library's IEEE reciprocal and 1/sqrt have slow-path subroutines whose
// calls made ptxas spill around them; s(z) and rstd use call-free
// equivalents (recip_1_2, rsqrt_d below), and __launch_bounds__(threads, 1)
// keeps ptxas from trimming registers for occupancy (without the 1 it spilled
// at 32 or 64). Forward 32-64 registers (4.5 KB static shared memory),
// backward 51-104 (5.5 KB), loop kernels 40-64, affine kernel 26 (16 KB).
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

#include "kernels/cuda/elementwise.cuh"
#include "kernels/cuda/scratch.cuh"
#include "kernels/group_norm_silu.h"
#include "tensor/cuda/launch.cuh"

namespace ddpm::kernels::cuda {

namespace {

using ddpm::cuda::check;

constexpr int kMaxThreads = 1024;
constexpr int kWarp = 32;
constexpr unsigned kFullMask = 0xffffffffu;
// The register paths hold K <= 4 units per thread (16 floats at Q = 4): the
// forward x, at up to 1024 threads (64 registers; K = 8 spilled there), the
// backward x and gz, at up to 512 threads (128 registers). (A 1024-thread
// backward plan with K <= 2 would never be chosen: halving the threads at
// most doubles a plan's units per thread, so its 512-thread plan fits K = 4.)
constexpr int kMaxK = 4;
constexpr int kFwdMaxLog = 10, kBwdMaxLog = 9;
constexpr int kBwdMaxThreads = 1 << kBwdMaxLog;
// The register paths keep the group's per-channel scale/shift in shared
// memory (computed once per channel, not per unit, and out of the unrolled
// loops' registers); groups of more channels take the loop kernels.
constexpr int kMaxRows = 512;

// How a block covers its group (the file comment): TPC = 1 << tpc_log
// threads per row, R = 1 << r_log rows at a time, `rounds` (P) rounds of
// rows, J = 1 << j_log units per thread and row, slots = P * J units per
// thread in all (register path: at most K).
struct Plan {
  int64_t m = 0;      // elements per group, cpg * hw
  int64_t hw = 0;     // elements per row
  int64_t units = 0;  // U = hw / Q
  double inv_m = 0;   // 1 / m (a division on the device calls a slow path)
  int cpg = 0, groups = 0, channels = 0;
  int tpc_log = 0, r_log = 0, j_log = 0;
  int rounds = 0;
  int threads = 0;
  int64_t slots = 0;
};

int log2_ceil(int64_t v) {
  int l = 0;
  while ((int64_t{1} << l) < v) ++l;
  return l;
}

// The plan for blocks of at most 1 << max_log threads.
Plan make_plan(const GroupNormDims& d, int q, int max_log) {
  Plan pl;
  pl.cpg = static_cast<int>(d.c / d.groups);
  pl.groups = static_cast<int>(d.groups);
  pl.channels = static_cast<int>(d.c);
  pl.hw = d.hw;
  pl.m = pl.cpg * d.hw;
  pl.inv_m =
      1.0 / static_cast<double>(pl.m);  // inf for an empty group: mean 0 * inf = NaN, as the CPU's 0 / 0
  pl.units = d.hw / q;
  pl.tpc_log = std::min(log2_ceil(pl.units), max_log);
  const int64_t tpc = int64_t{1} << pl.tpc_log;
  pl.j_log = log2_ceil((pl.units + tpc - 1) / tpc);
  pl.r_log = std::min(log2_ceil(pl.cpg), max_log - pl.tpc_log);
  pl.r_log = std::max(pl.r_log, 5 - pl.tpc_log);  // whole warps: at least 32 threads
  const int64_t r = int64_t{1} << pl.r_log;
  pl.rounds = static_cast<int>((pl.cpg + r - 1) / r);
  pl.threads = 1 << (pl.tpc_log + pl.r_log);
  pl.slots = static_cast<int64_t>(pl.rounds) << pl.j_log;
  return pl;
}

// The register-path plan with the fewest threads (256, 512, then 1024, up
// to 1 << max_log) that holds the group in at most kMaxK units per thread;
// k gets the template K (a power of two), or 0 for the loop kernels (then a
// 1024-thread plan).
Plan choose_plan(const GroupNormDims& d, int q, int max_log, int& k) {
  for (int lg = 8; lg <= max_log; ++lg) {
    const Plan pl = make_plan(d, q, lg);
    if (pl.cpg <= kMaxRows && pl.slots <= kMaxK) {
      k = 1 << log2_ceil(std::max<int64_t>(pl.slots, 1));
      return pl;
    }
  }
  k = 0;
  return make_plan(d, q, 10);
}

// 1 / d for d in [1, 2], the same bits as 1.0f / d: the fast path of the
// compiler's IEEE reciprocal (rcp.rn.f32: MUFU.RCP and one Newton step),
// without its slow-path subroutine, whose call forces register spills in the
// unrolled loops; d in [1, 2] never takes it. The emulation (host) divides.
__device__ __forceinline__ float recip_1_2(float d) {
#ifdef __CUDA_ARCH__
  float r;
  asm("rcp.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(d));
  return fmaf(r, fmaf(-d, r, 1.0f), r);
#else
  return 1.0f / d;
#endif
}

// 1 / sqrt(v) in double for a variance plus eps, again without the library's
// slow-path call (1.0 / sqrt(v) has two): the hardware approximation refined
// by Newton steps (quadratic: three take any seed better than 2^-7 past
// double precision), within an ulp or so of 1.0 / sqrt(v). v = 0 gives inf,
// inf gives 0 and NaN stays NaN, as there.
__device__ __forceinline__ double rsqrt_d(double v) {
#ifdef __CUDA_ARCH__
  double y0;
  asm("rsqrt.approx.ftz.f64 %0, %1;" : "=d"(y0) : "d"(v));
  const double h = 0.5 * v;
  double y = y0;
#pragma unroll
  for (int i = 0; i < 3; ++i) y = fma(y, fma(-h * y, y, 0.5), y);
  return y0 == 0.0 || isinf(y0) ? y0 : y;
#else
  return 1.0 / sqrt(v);
#endif
}

// s(z) as kernels/cuda/silu.cu computes it (the same bits).
__device__ __forceinline__ float sigmoid(float z) {
  const float e = expf(-fabsf(z));
  const float inv = recip_1_2(1.0f + e);
  return z >= 0.0f ? inv : e * inv;
}

__device__ __forceinline__ float silu_grad(float z, float g) {
  const float s = sigmoid(z);
  return g * s * (1.0f + z * (1.0f - s));
}

// Channel c's affine map of a group (mu, rs), in double and rounded once,
// as the CPU kernel: z = x * scale + shift.
struct Affine {
  float scale, shift;
};
__device__ __forceinline__ Affine channel_affine(const float* gamma, const float* beta, int c, double mu,
                                                 double rs) {
  const double sc = gamma ? rs * static_cast<double>(gamma[c]) : rs;
  const double sh = (beta ? static_cast<double>(beta[c]) : 0.0) - mu * sc;
  return {static_cast<float>(sc), static_cast<float>(sh)};
}

// The register paths' per-channel maps of the block's group (channels c0 ..
// c0 + cpg - 1, cpg <= kMaxRows), then a barrier.
__device__ __forceinline__ void fill_affine(const float* gamma, const float* beta, int c0, int cpg, double mu,
                                            double rs, float* sc, float* sh) {
  for (int c = static_cast<int>(threadIdx.x); c < cpg; c += static_cast<int>(blockDim.x)) {
    const Affine af = channel_affine(gamma, beta, c0 + c, mu, rs);
    sc[c] = af.scale;
    sh[c] = af.shift;
  }
  __syncthreads();
}

// One unit (Q consecutive elements at p): a float4 access when Vec4.
template <int Q, bool Vec4>
__device__ __forceinline__ void load_unit(const float* p, float (&v)[Q]) {
  if constexpr (Vec4) {
    static_assert(Q == 4, "float4 units hold 4 elements");
    const float4 t = *reinterpret_cast<const float4*>(p);
    v[0] = t.x;
    v[1] = t.y;
    v[2] = t.z;
    v[3] = t.w;
  } else {
#pragma unroll
    for (int e = 0; e < Q; ++e) v[e] = p[e];
  }
}

template <int Q, bool Vec4>
__device__ __forceinline__ void store_unit(float* p, const float (&v)[Q]) {
  if constexpr (Vec4) {
    static_assert(Q == 4, "float4 units hold 4 elements");
    *reinterpret_cast<float4*>(p) = make_float4(v[0], v[1], v[2], v[3]);
  } else {
#pragma unroll
    for (int e = 0; e < Q; ++e) p[e] = v[e];
  }
}

// Butterfly sum over aligned groups of `width` lanes (a power of two <= 32):
// every lane of a group gets the same bits. All lanes of the warp call it.
__device__ __forceinline__ double lanes_sum(double v, int width) {
  for (int o = width >> 1; o > 0; o >>= 1) v += __shfl_xor_sync(kFullMask, v, o);
  return v;
}

// Sums a and b over the block (blockDim.x a multiple of 32) in a fixed
// order; every thread gets the totals. buf: shared [2][32], not reused by
// the caller until after a later barrier.
__device__ __forceinline__ void block_sum2(double& a, double& b, double (*buf)[kWarp]) {
  a = lanes_sum(a, kWarp);
  b = lanes_sum(b, kWarp);
  const int lane = static_cast<int>(threadIdx.x) & (kWarp - 1), warp = static_cast<int>(threadIdx.x) / kWarp;
  if (lane == 0) {
    buf[0][warp] = a;
    buf[1][warp] = b;
  }
  __syncthreads();
  const bool has = lane < static_cast<int>(blockDim.x) / kWarp;
  a = lanes_sum(has ? buf[0][lane] : 0.0, kWarp);
  b = lanes_sum(has ? buf[1][lane] : 0.0, kWarp);
}

__device__ __forceinline__ double block_sum(double a, double* buf) {
  a = lanes_sum(a, kWarp);
  const int lane = static_cast<int>(threadIdx.x) & (kWarp - 1), warp = static_cast<int>(threadIdx.x) / kWarp;
  if (lane == 0) buf[warp] = a;
  __syncthreads();
  return lanes_sum(lane < static_cast<int>(blockDim.x) / kWarp ? buf[lane] : 0.0, kWarp);
}

// A thread's place in the plan: its lane within its row's threads and its
// row in round 0.
struct Place {
  int lane, row;
};
__device__ __forceinline__ Place place(const Plan& pl) {
  const int t = static_cast<int>(threadIdx.x);
  return {t & ((1 << pl.tpc_log) - 1), t >> pl.tpc_log};
}

// Register slot s holds unit lane + j*TPC of row row + p*R (p = s / J, j = s
// % J): its element offset in the group (-1 when the slot is empty) and its
// row. Recomputed where needed (a few integer operations), not kept in
// registers.
struct Slot {
  int off, row;
};
template <int Q>
__device__ __forceinline__ Slot slot(const Plan& pl, const Place& pc, int s) {
  const int p = s >> pl.j_log;
  const int j = s & ((1 << pl.j_log) - 1);
  const int row = pc.row + (p << pl.r_log);
  const int u = pc.lane + (j << pl.tpc_log);
  if (p >= pl.rounds || row >= pl.cpg || u >= pl.units) return {-1, row};
  return {row * static_cast<int>(pl.hw) + u * Q, row};
}

// The per-row sums of one round: ds, db (this thread's part of its row)
// become the row's totals at the row's lane-0 thread, lanes and then warps in
// order. rb: shared [2][2][32], alternating with the round's parity (a
// buffer is rewritten only after the next round's barrier, which its
// readers pass after reading). Every thread of the block calls it.
__device__ __forceinline__ void row_sums(const Plan& pl, const Place& pc, int round, double& ds, double& db,
                                         double (*rb)[2][kWarp]) {
  const int width = pl.tpc_log < 5 ? 1 << pl.tpc_log : kWarp;
  ds = lanes_sum(ds, width);
  db = lanes_sum(db, width);
  if (pl.tpc_log <= 5) return;
  // A row spans wpr = TPC/32 warps: its warps' totals, in warp order.
  const int lane = static_cast<int>(threadIdx.x) & (kWarp - 1), warp = static_cast<int>(threadIdx.x) / kWarp;
  double* bs = rb[round & 1][0];
  double* bb = rb[round & 1][1];
  if (lane == 0) {
    bs[warp] = ds;
    bb[warp] = db;
  }
  __syncthreads();
  if (pc.lane == 0) {
    const int wpr = 1 << (pl.tpc_log - 5);
    ds = 0;
    db = 0;
    for (int w = 0; w < wpr; ++w) {
      ds += bs[pc.row * wpr + w];
      db += bb[pc.row * wpr + w];
    }
  }
}

// ---- forward ----

template <int K, int Q, bool Vec4>
__global__ void __launch_bounds__(kMaxThreads, 1)
    group_norm_silu_fwd_kernel(const float* __restrict__ x, const float* __restrict__ gamma,
                               const float* __restrict__ beta, float* __restrict__ y,
                               float* __restrict__ mean, float* __restrict__ rstd, const Plan pl,
                               const double eps) {
  __shared__ double red[2][kWarp];
  __shared__ float sc[kMaxRows], sh[kMaxRows];
  const int64_t ng = blockIdx.x;
  const int c0 = static_cast<int>(blockIdx.x) % pl.groups * pl.cpg;
  const float* xg = x + ng * pl.m;
  float* yg = y + ng * pl.m;
  const Place pc = place(pl);
  float v[K][Q];
  double sum = 0;
#pragma unroll
  for (int s = 0; s < K; ++s) {
    const Slot sl = slot<Q>(pl, pc, s);
    if (sl.off >= 0) {
      load_unit<Q, Vec4>(xg + sl.off, v[s]);
#pragma unroll
      for (int e = 0; e < Q; ++e) sum += static_cast<double>(v[s][e]);
    } else {
#pragma unroll
      for (int e = 0; e < Q; ++e) v[s][e] = 0.0f;
    }
  }
  const double mu = block_sum(sum, red[0]) * pl.inv_m;
  double sq = 0;
#pragma unroll
  for (int s = 0; s < K; ++s)
    if (slot<Q>(pl, pc, s).off >= 0) {
#pragma unroll
      for (int e = 0; e < Q; ++e) {
        const double dv = static_cast<double>(v[s][e]) - mu;
        sq += dv * dv;
      }
    }
  const double var = block_sum(sq, red[1]) * pl.inv_m;
  const double rs = rsqrt_d(var + eps);
  if (threadIdx.x == 0) {
    mean[ng] = static_cast<float>(mu);
    rstd[ng] = static_cast<float>(rs);
  }
  fill_affine(gamma, beta, c0, pl.cpg, mu, rs, sc, sh);
#pragma unroll
  for (int s = 0; s < K; ++s) {
    const Slot sl = slot<Q>(pl, pc, s);
    if (sl.off >= 0) {
      const float a = sc[sl.row], b = sh[sl.row];
#pragma unroll
      for (int e = 0; e < Q; ++e) {
        const float z = fmaf(v[s][e], a, b);
        v[s][e] = z * sigmoid(z);
      }
      store_unit<Q, Vec4>(yg + sl.off, v[s]);
    }
  }
}

template <int Q, bool Vec4>
__global__ void __launch_bounds__(kMaxThreads, 1)
    group_norm_silu_fwd_loop_kernel(const float* __restrict__ x, const float* __restrict__ gamma,
                                    const float* __restrict__ beta, float* __restrict__ y,
                                    float* __restrict__ mean, float* __restrict__ rstd, const Plan pl,
                                    const double eps) {
  __shared__ double red[2][kWarp];
  const int64_t ng = blockIdx.x;
  const int c0 = static_cast<int>(blockIdx.x) % pl.groups * pl.cpg;
  const float* xg = x + ng * pl.m;
  float* yg = y + ng * pl.m;
  const Place pc = place(pl);
  const int64_t tpc = int64_t{1} << pl.tpc_log;
  double sum = 0, sq = 0;
  for (int p = 0; p < pl.rounds; ++p) {
    const int row = pc.row + (p << pl.r_log);
    if (row >= pl.cpg) break;
    const float* xr = xg + row * pl.hw;
#pragma unroll 4
    for (int64_t u = pc.lane; u < pl.units; u += tpc) {
      float v[Q];
      load_unit<Q, Vec4>(xr + u * Q, v);
#pragma unroll
      for (int e = 0; e < Q; ++e) {
        const double dv = static_cast<double>(v[e]);
        sum += dv;
        sq += dv * dv;
      }
    }
  }
  block_sum2(sum, sq, red);
  const double mu = sum * pl.inv_m;
  // Double sums of float inputs: the cancellation costs nothing that matters.
  // Clamped at 0 (rounding), NaN kept (an empty group, as the CPU's 0 / 0).
  const double dvar = sq * pl.inv_m - mu * mu;
  const double var = dvar < 0.0 ? 0.0 : dvar;
  const double rs = rsqrt_d(var + eps);
  if (threadIdx.x == 0) {
    mean[ng] = static_cast<float>(mu);
    rstd[ng] = static_cast<float>(rs);
  }
  for (int p = 0; p < pl.rounds; ++p) {
    const int row = pc.row + (p << pl.r_log);
    if (row >= pl.cpg) break;
    const Affine af = channel_affine(gamma, beta, c0 + row, mu, rs);
    const float* xr = xg + row * pl.hw;
    float* yr = yg + row * pl.hw;
#pragma unroll 4
    for (int64_t u = pc.lane; u < pl.units; u += tpc) {
      float v[Q];
      load_unit<Q, Vec4>(xr + u * Q, v);
#pragma unroll
      for (int e = 0; e < Q; ++e) {
        const float z = fmaf(v[e], af.scale, af.shift);
        v[e] = z * sigmoid(z);
      }
      store_unit<Q, Vec4>(yr + u * Q, v);
    }
  }
}

// ---- backward ----

// The row's lane-0 thread, after row_sums: the affine partials of (n, c) and
// the row's terms of A and B.
__device__ __forceinline__ void finish_row(const Plan& pl, const float* gamma, double* part, int64_t n, int c,
                                           double mu, double rs, double ds, double db, double& sum_a,
                                           double& sum_b) {
  const double gam = gamma ? static_cast<double>(gamma[c]) : 1.0;
  const double dsm = ds - mu * db;
  if (part) {
    const int64_t nc = n * pl.channels + c;
    part[2 * nc] = dsm * rs;
    part[2 * nc + 1] = db;
  }
  sum_a += gam * db;
  sum_b += gam * dsm;
}

// gx = b * x + c0 coefficients from A and B (double, as the CPU kernel).
struct GxCoef {
  float b, c0;
};
__device__ __forceinline__ GxCoef gx_coef(double sum_a, double sum_b, double mu, double rs, double inv_m) {
  sum_b *= rs;
  const double bd = -rs * rs * sum_b * inv_m;
  return {static_cast<float>(bd), static_cast<float>(-bd * mu - rs * sum_a * inv_m)};
}

// part (may be null): [N*C, 2] doubles, (ds - mu db) * rstd and db per (n, c).
template <int K, int Q, bool Vec4>
__global__ void __launch_bounds__(kBwdMaxThreads, 1)
    group_norm_silu_bwd_kernel(const float* __restrict__ x, const float* __restrict__ mean,
                               const float* __restrict__ rstd, const float* __restrict__ gamma,
                               const float* __restrict__ beta, const float* __restrict__ g,
                               float* __restrict__ gx, double* __restrict__ part, const Plan pl) {
  __shared__ double rb[2][2][kWarp];
  __shared__ double red[2][kWarp];
  __shared__ float sc[kMaxRows], sh[kMaxRows];  // z = x * sc + sh; sc is also gx's a
  const int64_t ng = blockIdx.x;
  const int64_t n = static_cast<int>(blockIdx.x) / pl.groups;
  const int c0 = static_cast<int>(blockIdx.x) % pl.groups * pl.cpg;
  const int64_t base = ng * pl.m;
  const Place pc = place(pl);
  const double mu = static_cast<double>(mean[ng]), rs = static_cast<double>(rstd[ng]);
  float xv[K][Q], gv[K][Q];  // x, and g then gz
#pragma unroll
  for (int s = 0; s < K; ++s) {
    const Slot sl = slot<Q>(pl, pc, s);
    if (sl.off >= 0) {
      load_unit<Q, Vec4>(x + base + sl.off, xv[s]);
      load_unit<Q, Vec4>(g + base + sl.off, gv[s]);
    } else {
#pragma unroll
      for (int e = 0; e < Q; ++e) xv[s][e] = gv[s][e] = 0.0f;
    }
  }
  fill_affine(gamma, beta, c0, pl.cpg, mu, rs, sc, sh);
#pragma unroll
  for (int s = 0; s < K; ++s) {
    const Slot sl = slot<Q>(pl, pc, s);
    if (sl.off >= 0) {
      const float a = sc[sl.row], b = sh[sl.row];
#pragma unroll
      for (int e = 0; e < Q; ++e) gv[s][e] = silu_grad(fmaf(xv[s][e], a, b), gv[s][e]);
    }
  }
  double sum_a = 0, sum_b = 0;
#pragma unroll
  for (int p = 0; p < K; ++p) {
    if (p >= pl.rounds) break;  // block-uniform
    double ds = 0, db = 0;
#pragma unroll
    for (int s = 0; s < K; ++s)
      if ((s >> pl.j_log) == p && slot<Q>(pl, pc, s).off >= 0) {
#pragma unroll
        for (int e = 0; e < Q; ++e) {
          const double gz = static_cast<double>(gv[s][e]);
          ds += gz * static_cast<double>(xv[s][e]);
          db += gz;
        }
      }
    row_sums(pl, pc, p, ds, db, rb);
    const int r = pc.row + (p << pl.r_log);
    if (pc.lane == 0 && r < pl.cpg) finish_row(pl, gamma, part, n, c0 + r, mu, rs, ds, db, sum_a, sum_b);
  }
  if (!gx) return;  // block-uniform
  block_sum2(sum_a, sum_b, red);
  const GxCoef k = gx_coef(sum_a, sum_b, mu, rs, pl.inv_m);
#pragma unroll
  for (int s = 0; s < K; ++s) {
    const Slot sl = slot<Q>(pl, pc, s);
    if (sl.off >= 0) {
      const float a = sc[sl.row];  // float(rs * gamma[c]), as the CPU kernel's gx coefficient
#pragma unroll
      for (int e = 0; e < Q; ++e) gv[s][e] = fmaf(a, gv[s][e], fmaf(k.b, xv[s][e], k.c0));
      store_unit<Q, Vec4>(gx + base + sl.off, gv[s]);
    }
  }
}

template <int Q, bool Vec4>
__global__ void __launch_bounds__(kMaxThreads, 1)
    group_norm_silu_bwd_loop_kernel(const float* __restrict__ x, const float* __restrict__ mean,
                                    const float* __restrict__ rstd, const float* __restrict__ gamma,
                                    const float* __restrict__ beta, const float* __restrict__ g,
                                    float* __restrict__ gx, double* __restrict__ part, const Plan pl) {
  __shared__ double rb[2][2][kWarp];
  __shared__ double red[2][kWarp];
  const int64_t ng = blockIdx.x;
  const int64_t n = static_cast<int>(blockIdx.x) / pl.groups;
  const int c0 = static_cast<int>(blockIdx.x) % pl.groups * pl.cpg;
  const int64_t base = ng * pl.m;
  const Place pc = place(pl);
  const int64_t tpc = int64_t{1} << pl.tpc_log;
  const double mu = static_cast<double>(mean[ng]), rs = static_cast<double>(rstd[ng]);
  double sum_a = 0, sum_b = 0;
  for (int p = 0; p < pl.rounds; ++p) {  // every thread: row_sums has barriers
    const int r = pc.row + (p << pl.r_log);
    double ds = 0, db = 0;
    if (r < pl.cpg) {
      const Affine af = channel_affine(gamma, beta, c0 + r, mu, rs);
      const int64_t ro = base + r * pl.hw;
#pragma unroll 4
      for (int64_t u = pc.lane; u < pl.units; u += tpc) {
        float xv[Q], gv[Q];
        load_unit<Q, Vec4>(x + ro + u * Q, xv);
        load_unit<Q, Vec4>(g + ro + u * Q, gv);
#pragma unroll
        for (int e = 0; e < Q; ++e) {
          const double gz = static_cast<double>(silu_grad(fmaf(xv[e], af.scale, af.shift), gv[e]));
          ds += gz * static_cast<double>(xv[e]);
          db += gz;
        }
      }
    }
    row_sums(pl, pc, p, ds, db, rb);
    if (pc.lane == 0 && r < pl.cpg) finish_row(pl, gamma, part, n, c0 + r, mu, rs, ds, db, sum_a, sum_b);
  }
  if (!gx) return;  // block-uniform
  block_sum2(sum_a, sum_b, red);
  const GxCoef k = gx_coef(sum_a, sum_b, mu, rs, pl.inv_m);
  for (int p = 0; p < pl.rounds; ++p) {
    const int r = pc.row + (p << pl.r_log);
    if (r >= pl.cpg) break;
    const Affine af = channel_affine(gamma, beta, c0 + r, mu, rs);  // af.scale is also gx's a
    const int64_t ro = base + r * pl.hw;
#pragma unroll 4
    for (int64_t u = pc.lane; u < pl.units; u += tpc) {
      float xv[Q], gv[Q];
      load_unit<Q, Vec4>(x + ro + u * Q, xv);
      load_unit<Q, Vec4>(g + ro + u * Q, gv);
#pragma unroll
      for (int e = 0; e < Q; ++e) {
        const float gz = silu_grad(fmaf(xv[e], af.scale, af.shift), gv[e]);
        gv[e] = fmaf(af.scale, gz, fmaf(k.b, xv[e], k.c0));
      }
      store_unit<Q, Vec4>(gx + ro + u * Q, gv);
    }
  }
}

constexpr int kAffineChannels = 32;  // blockDim.x; blockDim.y (<= 32) lanes over n

__global__ void __launch_bounds__(kMaxThreads, 1)
    group_norm_silu_bwd_affine_kernel(const double* __restrict__ part, float* __restrict__ ggamma,
                                      float* __restrict__ gbeta, int64_t n_batch, int channels) {
  __shared__ double sg[kWarp][kAffineChannels], sb[kWarp][kAffineChannels];
  const int tx = static_cast<int>(threadIdx.x), ty = static_cast<int>(threadIdx.y);
  const int lanes = static_cast<int>(blockDim.y);
  const int c = static_cast<int>(blockIdx.x) * kAffineChannels + tx;
  double a = 0, b = 0;
  if (c < channels)
    for (int64_t n = ty; n < n_batch; n += lanes) {
      const int64_t nc = n * channels + c;
      a += part[2 * nc];
      b += part[2 * nc + 1];
    }
  sg[ty][tx] = a;
  sb[ty][tx] = b;
  __syncthreads();
  for (int s = lanes / 2; s > 0; s /= 2) {
    if (ty < s) {
      sg[ty][tx] += sg[ty + s][tx];
      sb[ty][tx] += sb[ty + s][tx];
    }
    __syncthreads();
  }
  if (ty == 0 && c < channels) {
    ggamma[c] = static_cast<float>(sg[0][tx]);
    gbeta[c] = static_cast<float>(sb[0][tx]);
  }
}

std::string dims_str(const GroupNormDims& d) {
  return "x [" + std::to_string(d.n) + ", " + std::to_string(d.c) + ", " + std::to_string(d.hw) + "], " +
         std::to_string(d.groups) + " groups";
}

void check_sizes(const GroupNormDims& d, const char* op) {
  if (d.n * d.groups > INT_MAX || d.c > INT_MAX)
    throw std::invalid_argument(std::string(op) + ": " + dims_str(d) +
                                " has too many groups (N*G) or channels for the CUDA kernels");
}

template <int Q, bool Vec4>
void launch_fwd(int k, const Plan& pl, unsigned blocks, cudaStream_t s, const float* x, const float* gamma,
                const float* beta, float* y, float* mean, float* rstd, double eps) {
  const int t = pl.threads;
  switch (k) {
    case 1:
      group_norm_silu_fwd_kernel<1, Q, Vec4><<<blocks, t, 0, s>>>(x, gamma, beta, y, mean, rstd, pl, eps);
      break;
    case 2:
      group_norm_silu_fwd_kernel<2, Q, Vec4><<<blocks, t, 0, s>>>(x, gamma, beta, y, mean, rstd, pl, eps);
      break;
    case 4:
      group_norm_silu_fwd_kernel<4, Q, Vec4><<<blocks, t, 0, s>>>(x, gamma, beta, y, mean, rstd, pl, eps);
      break;
    default:
      group_norm_silu_fwd_loop_kernel<Q, Vec4><<<blocks, t, 0, s>>>(x, gamma, beta, y, mean, rstd, pl, eps);
      break;
  }
}

template <int Q, bool Vec4>
void launch_bwd(int k, const Plan& pl, unsigned blocks, cudaStream_t s, const float* x, const float* mean,
                const float* rstd, const float* gamma, const float* beta, const float* g, float* gx,
                double* part) {
  const int t = pl.threads;
  switch (k) {
    case 1:
      group_norm_silu_bwd_kernel<1, Q, Vec4>
          <<<blocks, t, 0, s>>>(x, mean, rstd, gamma, beta, g, gx, part, pl);
      break;
    case 2:
      group_norm_silu_bwd_kernel<2, Q, Vec4>
          <<<blocks, t, 0, s>>>(x, mean, rstd, gamma, beta, g, gx, part, pl);
      break;
    case 4:
      group_norm_silu_bwd_kernel<4, Q, Vec4>
          <<<blocks, t, 0, s>>>(x, mean, rstd, gamma, beta, g, gx, part, pl);
      break;
    default:
      group_norm_silu_bwd_loop_kernel<Q, Vec4>
          <<<blocks, t, 0, s>>>(x, mean, rstd, gamma, beta, g, gx, part, pl);
      break;
  }
}

}  // namespace

void group_norm_silu_fwd(const float* x, const float* gamma, const float* beta, float* y, float* mean,
                         float* rstd, const GroupNormDims& d, double eps) {
  check_sizes(d, "group_norm_silu");
  const int64_t groups_total = d.n * d.groups;
  if (groups_total == 0) return;
  const int q = d.hw % 4 == 0 ? 4 : 1;
  int k = 0;
  const Plan pl = choose_plan(d, q, kFwdMaxLog, k);
  const unsigned blocks = static_cast<unsigned>(groups_total);
  cudaStream_t s = ddpm::cuda::stream();
  if (q == 4 && vec4_ok(x, y))
    launch_fwd<4, true>(k, pl, blocks, s, x, gamma, beta, y, mean, rstd, eps);
  else if (q == 4)
    launch_fwd<4, false>(k, pl, blocks, s, x, gamma, beta, y, mean, rstd, eps);
  else
    launch_fwd<1, false>(k, pl, blocks, s, x, gamma, beta, y, mean, rstd, eps);
  DDPM_CUDA_LAUNCHED(k ? "group_norm_silu_fwd_kernel" : "group_norm_silu_fwd_loop_kernel", dims_str(d));
}

void group_norm_silu_bwd(const float* x, const float* mean, const float* rstd, const float* gamma,
                         const float* beta, const float* g, float* gx, float* ggamma, float* gbeta,
                         const GroupNormDims& d) {
  const char* op = "group_norm_silu backward";
  check_sizes(d, op);
  const std::string detail = dims_str(d);
  cudaStream_t s = ddpm::cuda::stream();
  if (d.n * d.c == 0) {  // an empty batch: the affine gradients are empty sums
    if (ggamma) check(cudaMemsetAsync(ggamma, 0, static_cast<size_t>(d.c) * sizeof(float), s), op, detail);
    if (gbeta) check(cudaMemsetAsync(gbeta, 0, static_cast<size_t>(d.c) * sizeof(float), s), op, detail);
    return;
  }
  if (!gx && !ggamma) return;
  const int q = d.hw % 4 == 0 ? 4 : 1;
  int k = 0;
  const Plan pl = choose_plan(d, q, kBwdMaxLog, k);
  const unsigned blocks = static_cast<unsigned>(d.n * d.groups);
  std::optional<Scratch> part;  // only for the affine gradients
  if (ggamma) part.emplace(static_cast<size_t>(d.n * d.c * 2) * sizeof(double));
  double* pp = part ? part->as<double>() : nullptr;
  if (q == 4 && vec4_ok(x, g, gx))
    launch_bwd<4, true>(k, pl, blocks, s, x, mean, rstd, gamma, beta, g, gx, pp);
  else if (q == 4)
    launch_bwd<4, false>(k, pl, blocks, s, x, mean, rstd, gamma, beta, g, gx, pp);
  else
    launch_bwd<1, false>(k, pl, blocks, s, x, mean, rstd, gamma, beta, g, gx, pp);
  DDPM_CUDA_LAUNCHED(k ? "group_norm_silu_bwd_kernel" : "group_norm_silu_bwd_loop_kernel", detail);
  if (ggamma) {
    const int lanes = 1 << std::min(log2_ceil(d.n), 5);
    group_norm_silu_bwd_affine_kernel<<<static_cast<unsigned>((d.c + kAffineChannels - 1) / kAffineChannels),
                                        dim3(kAffineChannels, static_cast<unsigned>(lanes)), 0, s>>>(
        pp, ggamma, gbeta, d.n, static_cast<int>(d.c));
    DDPM_CUDA_LAUNCHED("group_norm_silu_bwd_affine_kernel", detail);
  }
  if (part) part->release();  // later users of the block are ordered after these kernels on the one stream
}

}  // namespace ddpm::kernels::cuda
