// CUDA GroupNorm (kernels/group_norm.h has the math): x [N, C, HW] float32,
// group (n, g) = M = C/G * HW contiguous elements starting at (n*G + g) * M.
//
// Forward, three kernels:
//   group_norm_fwd_stats_kernel     grid (N*G, S): block (ng, s) sums chunk s
//       of group ng (sum and sum of squares, in double, each thread a fixed
//       strided subset, then a fixed tree in shared memory) into its own slot
//       of a partials buffer. S splits a group when N*G alone would leave SMs
//       idle (small batch), keeping >= 1024 elements per block.
//   group_norm_fwd_finalize_kernel  a thread per (n, g) adds its S partials
//       in split order: mean, biased variance E[x^2] - mean^2 (double, so
//       the cancellation costs nothing at float inputs), rstd; writes mean and
//       rstd ([N, G], saved for the backward) and per (n, c) the affine map
//       y = x * scale + shift, scale = rstd*gamma, shift = beta - mean*scale.
//   group_norm_fwd_kernel           grid (N*C, chunks): one row (n, c) per
//       block column, y = x * scale[n,c] + shift[n,c].
// Backward (with ds[n,c] = sum_hw g*x, db[n,c] = sum_hw g), four kernels:
//   group_norm_bwd_sums_kernel      grid (N*C, S): partial ds, db per row
//       segment (double, fixed order as above).
//   group_norm_bwd_group_kernel     a thread per (n, g): adds the segments in
//       order into ds, db per (n, c) (kept for the affine gradients) and forms
//       the gx coefficients a[n,c] = rstd*gamma[c], b[n,g], c0[n,g].
//   group_norm_bwd_kernel           grid (N*C, chunks): gx = a g + b x + c0.
//   group_norm_bwd_affine_kernel    a thread per channel c: ggamma[c] =
//       sum_n (ds - mean db) rstd, gbeta[c] = sum_n db, n in order.
// No atomics anywhere: every sum has a fixed shape, so results are bitwise
// reproducible run to run. Coefficients are formed in double, as the CPU
// kernel does, and rounded to float once.
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <stdexcept>
#include <string>

#include "kernels/cuda/device_info.cuh"
#include "kernels/cuda/scratch.cuh"
#include "kernels/group_norm.h"
#include "tensor/cuda/launch.cuh"
#include "tensor/cuda_backend.h"

namespace ddpm::kernels::cuda {

namespace {

using ddpm::cuda::check;

constexpr int kReduceThreads = 256;
constexpr int64_t kMinChunk = 1024;  // elements per reducing block, at least

// Splits of a reduction over `items` independent sums of `len` elements
// each: enough blocks for about four per SM, at most one per kMinChunk.
int splits_for(int64_t items, int64_t len) {
  const int64_t want = (4 * static_cast<int64_t>(sm_count()) + items - 1) / items;
  const int64_t most = std::max<int64_t>(1, (len + kMinChunk - 1) / kMinChunk);
  return static_cast<int>(std::clamp<int64_t>(want, 1, std::min<int64_t>(most, 65535)));
}

// Sums two per-thread doubles over the block in a fixed tree; thread 0 gets
// the totals. blockDim.x is a power of two <= kReduceThreads.
__device__ void block_sum2(double& a, double& b) {
  __shared__ double sa[kReduceThreads], sb[kReduceThreads];
  const int tid = static_cast<int>(threadIdx.x);
  sa[tid] = a;
  sb[tid] = b;
  __syncthreads();
  for (int s = static_cast<int>(blockDim.x) / 2; s > 0; s /= 2) {
    if (tid < s) {
      sa[tid] += sa[tid + s];
      sb[tid] += sb[tid + s];
    }
    __syncthreads();
  }
  a = sa[0];
  b = sb[0];
}

// part[(item * splits + s) * 2 + {0, 1}] = {sum v, sum v^2} over chunk s of
// item blockIdx.x (len elements at x + item * len).
__global__ void __launch_bounds__(kReduceThreads)
    group_norm_fwd_stats_kernel(const float* __restrict__ x, double* __restrict__ part, int64_t len) {
  const int64_t item = blockIdx.x;
  const int s = static_cast<int>(blockIdx.y), splits = static_cast<int>(gridDim.y);
  const int64_t chunk = (len + splits - 1) / splits;
  const int64_t begin = s * chunk, end = begin + chunk < len ? begin + chunk : len;
  const float* p = x + item * len;
  double sum = 0, sq = 0;
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
    const double v = static_cast<double>(p[i]);
    sum += v;
    sq += v * v;
  }
  block_sum2(sum, sq);
  if (threadIdx.x == 0) {
    part[(item * splits + s) * 2] = sum;
    part[(item * splits + s) * 2 + 1] = sq;
  }
}

__global__ void group_norm_fwd_finalize_kernel(const double* __restrict__ part,
                                               const float* __restrict__ gamma,
                                               const float* __restrict__ beta, float* __restrict__ mean,
                                               float* __restrict__ rstd, float* __restrict__ scale,
                                               float* __restrict__ shift, int64_t groups_total, int groups,
                                               int cpg, int splits, int64_t m, double eps) {
  const int64_t ng = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (ng >= groups_total) return;
  double sum = 0, sq = 0;
  for (int s = 0; s < splits; ++s) {
    sum += part[(ng * splits + s) * 2];
    sq += part[(ng * splits + s) * 2 + 1];
  }
  const double inv_m = 1.0 / static_cast<double>(m);
  const double mu = sum * inv_m;
  const double var = fmax(sq * inv_m - mu * mu, 0.0);
  const double rs = 1.0 / sqrt(var + eps);
  mean[ng] = static_cast<float>(mu);
  rstd[ng] = static_cast<float>(rs);
  const int g = static_cast<int>(ng % groups);
  const int64_t n = ng / groups;
  const int64_t c_total = static_cast<int64_t>(groups) * cpg;
  for (int ci = 0; ci < cpg; ++ci) {
    const int c = g * cpg + ci;
    const double sc = gamma ? rs * static_cast<double>(gamma[c]) : rs;
    const double sh = (beta ? static_cast<double>(beta[c]) : 0.0) - mu * sc;
    scale[n * c_total + c] = static_cast<float>(sc);
    shift[n * c_total + c] = static_cast<float>(sh);
  }
}

// y[row, i] = x[row, i] * scale[row] + shift[row]; rows along grid.x.
__global__ void group_norm_fwd_kernel(const float* __restrict__ x, const float* __restrict__ scale,
                                      const float* __restrict__ shift, float* __restrict__ y, int64_t hw) {
  const int64_t row = blockIdx.x;
  const float a = scale[row], b = shift[row];
  const float* xr = x + row * hw;
  float* yr = y + row * hw;
  for (int64_t i = blockIdx.y * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < hw;
       i += static_cast<int64_t>(gridDim.y) * blockDim.x)
    yr[i] = xr[i] * a + b;
}

// part[(row * splits + s) * 2 + {0, 1}] = {sum g*x, sum g} over segment s of row.
__global__ void __launch_bounds__(kReduceThreads)
    group_norm_bwd_sums_kernel(const float* __restrict__ x, const float* __restrict__ g,
                               double* __restrict__ part, int64_t hw) {
  const int64_t row = blockIdx.x;
  const int s = static_cast<int>(blockIdx.y), splits = static_cast<int>(gridDim.y);
  const int64_t chunk = (hw + splits - 1) / splits;
  const int64_t begin = s * chunk, end = begin + chunk < hw ? begin + chunk : hw;
  const float* xr = x + row * hw;
  const float* gr = g + row * hw;
  double ds = 0, db = 0;
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
    const double gv = static_cast<double>(gr[i]);
    ds += gv * static_cast<double>(xr[i]);
    db += gv;
  }
  block_sum2(ds, db);
  if (threadIdx.x == 0) {
    part[(row * splits + s) * 2] = ds;
    part[(row * splits + s) * 2 + 1] = db;
  }
}

// One thread per (n, g): dsdb[(n*C + c)*2 + {0,1}] = {ds, db}; and, when coef_a
// is not null, the gx coefficients.
__global__ void group_norm_bwd_group_kernel(const double* __restrict__ part, const float* __restrict__ mean,
                                            const float* __restrict__ rstd, const float* __restrict__ gamma,
                                            double* __restrict__ dsdb, float* __restrict__ coef_a,
                                            float* __restrict__ coef_b, float* __restrict__ coef_c,
                                            int64_t groups_total, int groups, int cpg, int splits,
                                            int64_t m) {
  const int64_t ng = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (ng >= groups_total) return;
  const int g = static_cast<int>(ng % groups);
  const int64_t n = ng / groups;
  const int64_t c_total = static_cast<int64_t>(groups) * cpg;
  const double mu = static_cast<double>(mean[ng]), rs = static_cast<double>(rstd[ng]);
  double sum_a = 0, sum_b = 0;
  for (int ci = 0; ci < cpg; ++ci) {
    const int c = g * cpg + ci;
    const int64_t row = n * c_total + c;
    double ds = 0, db = 0;
    for (int s = 0; s < splits; ++s) {
      ds += part[(row * splits + s) * 2];
      db += part[(row * splits + s) * 2 + 1];
    }
    dsdb[row * 2] = ds;
    dsdb[row * 2 + 1] = db;
    const double gam = gamma ? static_cast<double>(gamma[c]) : 1.0;
    sum_a += gam * db;
    sum_b += gam * (ds - mu * db);
    if (coef_a) coef_a[row] = static_cast<float>(rs * gam);
  }
  if (!coef_a) return;
  sum_b *= rs;
  const double inv_m = 1.0 / static_cast<double>(m);
  const double bd = -rs * rs * sum_b * inv_m;
  coef_b[ng] = static_cast<float>(bd);
  coef_c[ng] = static_cast<float>(-bd * mu - rs * sum_a * inv_m);
}

// gx[row, i] = a[row] g[row, i] + b[ng] x[row, i] + c0[ng]; rows along grid.x.
__global__ void group_norm_bwd_kernel(const float* __restrict__ x, const float* __restrict__ g,
                                      const float* __restrict__ coef_a, const float* __restrict__ coef_b,
                                      const float* __restrict__ coef_c, float* __restrict__ gx, int64_t hw,
                                      int cpg) {
  const int64_t row = blockIdx.x;
  const int64_t ng = row / cpg;  // rows of one group are consecutive: row = ng * cpg + ci
  const float a = coef_a[row], b = coef_b[ng], c0 = coef_c[ng];
  const float* xr = x + row * hw;
  const float* gr = g + row * hw;
  float* out = gx + row * hw;
  for (int64_t i = blockIdx.y * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < hw;
       i += static_cast<int64_t>(gridDim.y) * blockDim.x)
    out[i] = a * gr[i] + b * xr[i] + c0;
}

__global__ void group_norm_bwd_affine_kernel(const double* __restrict__ dsdb, const float* __restrict__ mean,
                                             const float* __restrict__ rstd, float* __restrict__ ggamma,
                                             float* __restrict__ gbeta, int64_t n_batch, int channels,
                                             int groups, int cpg) {
  const int c = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (c >= channels) return;
  const int grp = c / cpg;
  double sg = 0, sb = 0;
  for (int64_t n = 0; n < n_batch; ++n) {
    const int64_t row = n * channels + c, ng = n * groups + grp;
    const double ds = dsdb[row * 2], db = dsdb[row * 2 + 1];
    sg += (ds - static_cast<double>(mean[ng]) * db) * static_cast<double>(rstd[ng]);
    sb += db;
  }
  ggamma[c] = static_cast<float>(sg);
  gbeta[c] = static_cast<float>(sb);
}

std::string dims_str(const GroupNormDims& d) {
  return "x [" + std::to_string(d.n) + ", " + std::to_string(d.c) + ", " + std::to_string(d.hw) + "], " +
         std::to_string(d.groups) + " groups";
}

void check_sizes(const GroupNormDims& d, const char* op) {
  if (d.n * d.c > INT_MAX || d.c > INT_MAX)
    throw std::invalid_argument(std::string(op) + ": " + dims_str(d) +
                                " has too many rows (N*C) for the CUDA kernels");
}

// Threads for a block that walks rows of hw elements: a power of two from
// 32 to kReduceThreads, not much more than hw.
int row_threads(int64_t hw) {
  int t = 32;
  while (t < kReduceThreads && t < hw) t *= 2;
  return t;
}

// Grid for the row-wise elementwise kernels: rows along x, chunks along y.
dim3 row_grid(int64_t rows, int64_t hw, int threads) {
  const int64_t chunks = std::clamp<int64_t>((hw + 4 * threads - 1) / (4 * threads), 1, 65535);
  return dim3(static_cast<unsigned>(rows), static_cast<unsigned>(chunks));
}

}  // namespace

void group_norm_fwd(const float* x, const float* gamma, const float* beta, float* y, float* mean, float* rstd,
                    const GroupNormDims& d, double eps) {
  const char* op = "group_norm";
  check_sizes(d, op);
  const int64_t groups_total = d.n * d.groups;
  if (groups_total == 0) return;
  const int cpg = static_cast<int>(d.c / d.groups);
  const int64_t m = cpg * d.hw;
  const std::string detail = dims_str(d);
  cudaStream_t s = ddpm::cuda::stream();
  const int splits = splits_for(groups_total, m);
  Scratch part(static_cast<size_t>(groups_total * splits * 2) * sizeof(double));
  Scratch affine(static_cast<size_t>(d.n * d.c * 2) * sizeof(float));  // scale, then shift
  float* scale = affine.as<float>();
  float* shift = scale + d.n * d.c;
  group_norm_fwd_stats_kernel<<<dim3(static_cast<unsigned>(groups_total), static_cast<unsigned>(splits)),
                                kReduceThreads, 0, s>>>(x, part.as<double>(), m);
  DDPM_CUDA_LAUNCHED("group_norm_fwd_stats_kernel", detail);
  group_norm_fwd_finalize_kernel<<<ddpm::cuda::blocks_for(groups_total, 128), 128, 0, s>>>(
      part.as<double>(), gamma, beta, mean, rstd, scale, shift, groups_total, static_cast<int>(d.groups), cpg,
      splits, m, eps);
  DDPM_CUDA_LAUNCHED("group_norm_fwd_finalize_kernel", detail);
  if (d.hw > 0) {
    const int threads = row_threads(d.hw);
    group_norm_fwd_kernel<<<row_grid(d.n * d.c, d.hw, threads), threads, 0, s>>>(x, scale, shift, y, d.hw);
    DDPM_CUDA_LAUNCHED("group_norm_fwd_kernel", detail);
  }
  part.release();  // later users of these blocks are ordered after these kernels on the one stream
  affine.release();
}

void group_norm_bwd(const float* x, const float* mean, const float* rstd, const float* gamma, const float* g,
                    float* gx, float* ggamma, float* gbeta, const GroupNormDims& d) {
  const char* op = "group_norm backward";
  check_sizes(d, op);
  const int64_t rows = d.n * d.c, groups_total = d.n * d.groups;
  const std::string detail = dims_str(d);
  cudaStream_t s = ddpm::cuda::stream();
  if (rows == 0) {  // an empty batch: the affine gradients are empty sums
    if (ggamma) check(cudaMemsetAsync(ggamma, 0, static_cast<size_t>(d.c) * sizeof(float), s), op, detail);
    if (gbeta) check(cudaMemsetAsync(gbeta, 0, static_cast<size_t>(d.c) * sizeof(float), s), op, detail);
    return;
  }
  const int cpg = static_cast<int>(d.c / d.groups);
  const int64_t m = cpg * d.hw;
  const int splits = splits_for(rows, d.hw);
  const int threads = row_threads(d.hw);
  Scratch part(static_cast<size_t>(rows * splits * 2) * sizeof(double));
  Scratch dsdb(static_cast<size_t>(rows * 2) * sizeof(double));
  Scratch coef(static_cast<size_t>(rows + 2 * groups_total) * sizeof(float));  // a, then b, then c0
  float* coef_a = coef.as<float>();
  float* coef_b = coef_a + rows;
  float* coef_c = coef_b + groups_total;
  group_norm_bwd_sums_kernel<<<dim3(static_cast<unsigned>(rows), static_cast<unsigned>(splits)), threads, 0,
                               s>>>(x, g, part.as<double>(), d.hw);
  DDPM_CUDA_LAUNCHED("group_norm_bwd_sums_kernel", detail);
  group_norm_bwd_group_kernel<<<ddpm::cuda::blocks_for(groups_total, 128), 128, 0, s>>>(
      part.as<double>(), mean, rstd, gamma, dsdb.as<double>(), gx ? coef_a : nullptr, coef_b, coef_c,
      groups_total, static_cast<int>(d.groups), cpg, splits, m);
  DDPM_CUDA_LAUNCHED("group_norm_bwd_group_kernel", detail);
  if (gx && d.hw > 0) {
    group_norm_bwd_kernel<<<row_grid(rows, d.hw, threads), threads, 0, s>>>(x, g, coef_a, coef_b, coef_c, gx,
                                                                            d.hw, cpg);
    DDPM_CUDA_LAUNCHED("group_norm_bwd_kernel", detail);
  }
  if (ggamma) {
    group_norm_bwd_affine_kernel<<<static_cast<unsigned>((d.c + 127) / 128), 128, 0, s>>>(
        dsdb.as<double>(), mean, rstd, ggamma, gbeta, d.n, static_cast<int>(d.c), static_cast<int>(d.groups),
        cpg);
    DDPM_CUDA_LAUNCHED("group_norm_bwd_affine_kernel", detail);
  }
  part.release();
  dsdb.release();
  coef.release();
}

}  // namespace ddpm::kernels::cuda
