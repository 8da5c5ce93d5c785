// CUDA attention (kernels/attention.h), FP32, flash-attention style: no
// Lq x Lk matrix in memory.
//
// Layout: q [B, D, Lq], k [B, D, Lk], v [B, E, Lk], o [B, E, Lq] (channels
// first: consecutive queries, or keys, are consecutive addresses, so a warp's
// loads of one channel row are coalesced).
//
// Forward (attention_fwd_kernel): grid (B, ceil(Lq / kRows)), one thread per
// query holding q[:, i] and its output accumulator in registers (kMax =
// 16/32/64 by max(D, E), loops unrolled over kMax with a guard). The block
// stages tiles of kTile keys and values in shared memory; each thread scores
// kChunk keys at a time (broadcast reads, no bank conflicts), raises its
// running maximum when the chunk exceeds it (rescaling l and the accumulator
// by exp(m_old - m_new)), and adds p v. At the end o = acc / l and lse = m + log l.
//
// Backward, two kernels, p recomputed from the saved lse:
//   attention_bwd_q_kernel: one thread per query; computes
//     delta_i = sum_e go o (stored for the next kernel) and
//     gq[:, i] = scale sum_j p_ij (dp_ij - delta_i) k[:, j]
//     over key tiles in shared memory.
//   attention_bwd_kv_kernel: one thread per key; gk[:, j] and gv[:, j] over
//     query tiles (q, go, lse, delta) in shared memory.
//     At kMax = 64 four rows (k, v, gk, gv: 256 floats) would spill, so it
//     runs twice, once for gv (k, gv) and once for gk (k, v, gk).
// Resources (nvcc 13, sm_90, -Xptxas -v): forward 96/146/191 registers at
// kMax 16/32/64, no spills; backward 120-187 registers, no spills up to 32;
// at 64 the gq kernel and the gk pass spill 56-92 bytes.
// Every sum has a fixed order: deterministic.
#include <cmath>
#include <cstdint>
#include <string>

#include "kernels/attention.h"
#include "kernels/cuda/elementwise.cuh"

namespace ddpm::kernels::cuda {

namespace {

constexpr int kRows = 64;  // threads per block: queries (forward, gq) or keys (gk, gv)
constexpr int kTile = 32;  // keys (or queries) staged in shared memory per step
constexpr int kChunk = 8;  // forward: keys scored at once (kTile is a multiple)

// Stages columns [c0, c0 + kTile) of a row-major [rows, len] matrix into
// tile[rows][kTile] (zeros past len); the block's threads share the copy.
template <int kMax>
__device__ void stage_tile(float (*tile)[kTile], const float* __restrict__ m, int rows, int64_t len,
                           int64_t c0) {
  for (int idx = threadIdx.x; idx < rows * kTile; idx += kRows) {
    const int r = idx / kTile, c = idx % kTile;
    tile[r][c] = c0 + c < len ? m[r * len + c0 + c] : 0.0f;
  }
}

template <int kMax>
__global__ void attention_fwd_kernel(const float* __restrict__ q, const float* __restrict__ k,
                                     const float* __restrict__ v, float* __restrict__ o,
                                     float* __restrict__ lse, const AttentionDims d) {
  __shared__ float ks[kMax][kTile];
  __shared__ float vs[kMax][kTile];
  const int64_t b = blockIdx.x;
  const int64_t i = static_cast<int64_t>(blockIdx.y) * kRows + threadIdx.x;
  const bool active = i < d.lq;
  const int D = static_cast<int>(d.d), E = static_cast<int>(d.e);
  const float scale = static_cast<float>(d.scale);
  const float* qb = q + b * d.d * d.lq;
  float qr[kMax], acc[kMax];
#pragma unroll
  for (int c = 0; c < kMax; ++c) {
    qr[c] = active && c < D ? qb[c * d.lq + i] : 0.0f;
    acc[c] = 0.0f;
  }
  float m = -INFINITY, l = 0.0f;
  for (int64_t j0 = 0; j0 < d.lk; j0 += kTile) {
    __syncthreads();  // the previous tile is consumed
    stage_tile<kMax>(ks, k + b * d.d * d.lk, D, d.lk, j0);
    stage_tile<kMax>(vs, v + b * d.e * d.lk, E, d.lk, j0);
    __syncthreads();
    const int tk = d.lk - j0 < kTile ? static_cast<int>(d.lk - j0) : kTile;
    // Chunks of kChunk keys: their scores in registers, the running maximum
    // raised (and l, acc rescaled) only when a chunk exceeds it.
    for (int j8 = 0; j8 < tk; j8 += kChunk) {
      float s[kChunk];
      float mx = m;
#pragma unroll
      for (int u = 0; u < kChunk; ++u) {
        float t = 0.0f;
#pragma unroll
        for (int c = 0; c < kMax; ++c)
          if (c < D) t += qr[c] * ks[c][j8 + u];
        s[u] = j8 + u < tk ? scale * t : -INFINITY;
        mx = fmaxf(mx, s[u]);
      }
      if (mx > m) {
        const float alpha = m == -INFINITY ? 0.0f : expf(m - mx);
        l *= alpha;
#pragma unroll
        for (int c = 0; c < kMax; ++c) acc[c] *= alpha;
        m = mx;
      }
#pragma unroll
      for (int u = 0; u < kChunk; ++u) {
        const float p = j8 + u < tk ? expf(s[u] - m) : 0.0f;
        l += p;
#pragma unroll
        for (int c = 0; c < kMax; ++c)
          if (c < E) acc[c] += p * vs[c][j8 + u];
      }
    }
  }
  if (!active) return;
  const float inv = 1.0f / l;
  float* ob = o + b * d.e * d.lq;
#pragma unroll
  for (int c = 0; c < kMax; ++c)
    if (c < E) ob[c * d.lq + i] = acc[c] * inv;
  lse[b * d.lq + i] = m + logf(l);
}

template <int kMax>
__global__ void attention_bwd_q_kernel(const float* __restrict__ q, const float* __restrict__ k,
                                       const float* __restrict__ v, const float* __restrict__ o,
                                       const float* __restrict__ lse, const float* __restrict__ go,
                                       float* __restrict__ delta, float* __restrict__ gq,
                                       const AttentionDims d) {
  __shared__ float ks[kMax][kTile];
  __shared__ float vs[kMax][kTile];
  const int64_t b = blockIdx.x;
  const int64_t i = static_cast<int64_t>(blockIdx.y) * kRows + threadIdx.x;
  const bool active = i < d.lq;
  const int D = static_cast<int>(d.d), E = static_cast<int>(d.e);
  const float scale = static_cast<float>(d.scale);
  const float* qb = q + b * d.d * d.lq;
  const float* ob = o + b * d.e * d.lq;
  const float* gob = go + b * d.e * d.lq;
  float qr[kMax], gr[kMax], dq[kMax];
  float dl = 0.0f;
#pragma unroll
  for (int c = 0; c < kMax; ++c) {
    qr[c] = active && c < D ? qb[c * d.lq + i] : 0.0f;
    gr[c] = active && c < E ? gob[c * d.lq + i] : 0.0f;
    if (active && c < E) dl += gr[c] * ob[c * d.lq + i];
    dq[c] = 0.0f;
  }
  const float li = active ? lse[b * d.lq + i] : 0.0f;
  if (active) delta[b * d.lq + i] = dl;
  for (int64_t j0 = 0; j0 < d.lk; j0 += kTile) {
    __syncthreads();
    stage_tile<kMax>(ks, k + b * d.d * d.lk, D, d.lk, j0);
    stage_tile<kMax>(vs, v + b * d.e * d.lk, E, d.lk, j0);
    __syncthreads();
    const int tk = d.lk - j0 < kTile ? static_cast<int>(d.lk - j0) : kTile;
    for (int jj = 0; jj < tk; ++jj) {
      float t = 0.0f, dp = 0.0f;
#pragma unroll
      for (int c = 0; c < kMax; ++c) {
        if (c < D) t += qr[c] * ks[c][jj];
        if (c < E) dp += gr[c] * vs[c][jj];
      }
      const float p = expf(scale * t - li);
      const float ds = p * (dp - dl);
#pragma unroll
      for (int c = 0; c < kMax; ++c)
        if (c < D) dq[c] += ds * ks[c][jj];
    }
  }
  if (!active) return;
  float* gqb = gq + b * d.d * d.lq;
#pragma unroll
  for (int c = 0; c < kMax; ++c)
    if (c < D) gqb[c * d.lq + i] = scale * dq[c];
}

template <int kMax, bool kGradK, bool kGradV>
__global__ void attention_bwd_kv_kernel(const float* __restrict__ q, const float* __restrict__ k,
                                        const float* __restrict__ v, const float* __restrict__ lse,
                                        const float* __restrict__ go, const float* __restrict__ delta,
                                        float* __restrict__ gk, float* __restrict__ gv,
                                        const AttentionDims d) {
  __shared__ float qs[kMax][kTile];
  __shared__ float gs[kMax][kTile];
  __shared__ float ls[kTile];
  __shared__ float ds_[kTile];
  const int64_t b = blockIdx.x;
  const int64_t j = static_cast<int64_t>(blockIdx.y) * kRows + threadIdx.x;
  const bool active = j < d.lk;
  const int D = static_cast<int>(d.d), E = static_cast<int>(d.e);
  const float scale = static_cast<float>(d.scale);
  const float* kb = k + b * d.d * d.lk;
  const float* vb = v + b * d.e * d.lk;
  float kr[kMax], vr[kMax], dk[kMax], dv[kMax];
#pragma unroll
  for (int c = 0; c < kMax; ++c) {
    kr[c] = active && c < D ? kb[c * d.lk + j] : 0.0f;
    vr[c] = kGradK && active && c < E ? vb[c * d.lk + j] : 0.0f;
    dk[c] = 0.0f;
    dv[c] = 0.0f;
  }
  for (int64_t i0 = 0; i0 < d.lq; i0 += kTile) {
    __syncthreads();
    stage_tile<kMax>(qs, q + b * d.d * d.lq, D, d.lq, i0);
    stage_tile<kMax>(gs, go + b * d.e * d.lq, E, d.lq, i0);
    if (threadIdx.x < kTile) {
      const int64_t i = i0 + threadIdx.x;
      ls[threadIdx.x] = i < d.lq ? lse[b * d.lq + i] : 0.0f;
      ds_[threadIdx.x] = i < d.lq ? delta[b * d.lq + i] : 0.0f;
    }
    __syncthreads();
    const int tq = d.lq - i0 < kTile ? static_cast<int>(d.lq - i0) : kTile;
    for (int ii = 0; ii < tq; ++ii) {
      float t = 0.0f, dp = 0.0f;
#pragma unroll
      for (int c = 0; c < kMax; ++c) {
        if (c < D) t += kr[c] * qs[c][ii];
        if (kGradK && c < E) dp += vr[c] * gs[c][ii];
      }
      const float p = expf(scale * t - ls[ii]);
      const float ds = p * (dp - ds_[ii]);
#pragma unroll
      for (int c = 0; c < kMax; ++c) {
        if (kGradV && c < E) dv[c] += p * gs[c][ii];
        if (kGradK && c < D) dk[c] += ds * qs[c][ii];
      }
    }
  }
  if (!active) return;
  float* gkb = gk + b * d.d * d.lk;
  float* gvb = gv + b * d.e * d.lk;
#pragma unroll
  for (int c = 0; c < kMax; ++c) {
    if (kGradK && c < D) gkb[c * d.lk + j] = scale * dk[c];
    if (kGradV && c < E) gvb[c * d.lk + j] = dv[c];
  }
}

// The register width for heads of D and E channels.
int head_width(const AttentionDims& d) {
  const int64_t w = d.d > d.e ? d.d : d.e;
  return w <= 16 ? 16 : w <= 32 ? 32 : 64;
}

std::string dims_str(const AttentionDims& d) {
  return "B " + std::to_string(d.b) + " D " + std::to_string(d.d) + " E " + std::to_string(d.e) + " Lq " +
         std::to_string(d.lq) + " Lk " + std::to_string(d.lk);
}

template <int kMax>
void launch_fwd(const float* q, const float* k, const float* v, float* o, float* lse,
                const AttentionDims& d) {
  const dim3 grid(static_cast<unsigned>(d.b), static_cast<unsigned>((d.lq + kRows - 1) / kRows));
  attention_fwd_kernel<kMax><<<grid, kRows, 0, ddpm::cuda::stream()>>>(q, k, v, o, lse, d);
  DDPM_CUDA_LAUNCHED("attention_fwd_kernel", dims_str(d));
}

template <int kMax>
void launch_bwd(const float* q, const float* k, const float* v, const float* o, const float* lse,
                const float* go, float* delta, float* gq, float* gk, float* gv, const AttentionDims& d) {
  const dim3 qgrid(static_cast<unsigned>(d.b), static_cast<unsigned>((d.lq + kRows - 1) / kRows));
  attention_bwd_q_kernel<kMax><<<qgrid, kRows, 0, ddpm::cuda::stream()>>>(q, k, v, o, lse, go, delta, gq, d);
  DDPM_CUDA_LAUNCHED("attention_bwd_q_kernel", dims_str(d));
  const dim3 kgrid(static_cast<unsigned>(d.b), static_cast<unsigned>((d.lk + kRows - 1) / kRows));
  if constexpr (kMax <= 32) {
    attention_bwd_kv_kernel<kMax, true, true>
        <<<kgrid, kRows, 0, ddpm::cuda::stream()>>>(q, k, v, lse, go, delta, gk, gv, d);
    DDPM_CUDA_LAUNCHED("attention_bwd_kv_kernel", dims_str(d));
  } else {  // four rows of 64 would spill: gv, then gk
    attention_bwd_kv_kernel<kMax, false, true>
        <<<kgrid, kRows, 0, ddpm::cuda::stream()>>>(q, k, v, lse, go, delta, gk, gv, d);
    DDPM_CUDA_LAUNCHED("attention_bwd_kv_kernel (gv)", dims_str(d));
    attention_bwd_kv_kernel<kMax, true, false>
        <<<kgrid, kRows, 0, ddpm::cuda::stream()>>>(q, k, v, lse, go, delta, gk, gv, d);
    DDPM_CUDA_LAUNCHED("attention_bwd_kv_kernel (gk)", dims_str(d));
  }
}

}  // namespace

void attention_fwd(const float* q, const float* k, const float* v, float* o, float* lse,
                   const AttentionDims& d) {
  if (d.b == 0 || d.lq == 0) return;
  switch (head_width(d)) {
    case 16:
      launch_fwd<16>(q, k, v, o, lse, d);
      break;
    case 32:
      launch_fwd<32>(q, k, v, o, lse, d);
      break;
    default:
      launch_fwd<64>(q, k, v, o, lse, d);
      break;
  }
}

void attention_bwd(const float* q, const float* k, const float* v, const float* o, const float* lse,
                   const float* go, float* delta, float* gq, float* gk, float* gv, const AttentionDims& d) {
  if (d.b == 0 || d.lq == 0) return;
  switch (head_width(d)) {
    case 16:
      launch_bwd<16>(q, k, v, o, lse, go, delta, gq, gk, gv, d);
      break;
    case 32:
      launch_bwd<32>(q, k, v, o, lse, go, delta, gq, gk, gv, d);
      break;
    default:
      launch_bwd<64>(q, k, v, o, lse, go, delta, gq, gk, gv, d);
      break;
  }
}

}  // namespace ddpm::kernels::cuda
