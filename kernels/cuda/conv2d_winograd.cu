// Winograd F(2x2, 3x3) on the GPU for conv2d's three passes (3x3, stride 1),
// the same transforms as the CPU's (kernels/cpu/
// conv2d_winograd.h): each 2x2 block of outputs ("tile") comes from the 4x4
// patch d of the zero-padded input under it as
//   Y = A^T [ sum_c U_c (.) V_c ] A,  V = B^T d B,  U = G g G^T,
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],
//   G   = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1],
//   A^T = [1 1 1 0; 0 1 -1 -1].
// Forward, four steps, each over the whole batch:
//   1. weight transform: U_e [R, C] for the 16 positions e of a 4x4 transform;
//   2. input transform:  V_e [C, P], P = N * tile rows * tile columns;
//   3. 16 GEMMs on cuBLAS: M_e [R, P] = U_e V_e, in FP32 math
//      (winograd_fp32) or on TF32 tensor cores (winograd_tf32), whatever the
//      caller's math mode;
//   4. output transform: the 2x2 outputs A^T M A of every tile, plus the
//      bias, written in NCHW (a partial tile at an odd edge writes what fits).
// 2.25x fewer multiply-adds than the direct sum, and the reduction runs in
// cuBLAS's SGEMM, at its FP32 rate. Backward-data is the forward correlation
// of gy with the flipped, transposed weight (g(r, c, k) = w[c, r, 8 - k]) and
// padding 2 - pad. The weight gradient transforms gy (Wg = A dY A^T) and x
// (V as above), reduces over the tiles in 16 GEMMs dU_e = Wg_e V_e^T, and
// maps back with G^T dU G.
//
// Error: every transform coefficient is 0, +-1 or +-1/2, so the result
// differs from the direct sum by rounding only, with a dot product's kind of
// bound: a few ulps times the sum of |w| |x| over the terms (the transforms
// add at most 4 + 3 + 4 roundings per term; cuBLAS's own summation order is
// unknown but is a sum of C products). The tests hold it to twice the FP32
// tolerance of the direct paths (tests/ops/conv2d.cpp, the dense emulation).
//
// Scratch: U (16 R C), V (16 C P) and M (16 R P) floats (the weight gradient:
// Wg 16 Cout P, V 16 Cin P, dU 16 Cout Cin); winograd_applies() keeps the
// large two under 2 GiB.
#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "kernels/cuda/conv2d_winograd.cuh"
#include "kernels/cuda/cublas_gemm.cuh"
#include "kernels/cuda/scratch.cuh"
#include "kernels/math_mode.h"
#include "tensor/cuda/launch.cuh"
#include "tensor/cuda_backend.h"

namespace ddpm::kernels::cuda {

namespace {

using ddpm::cuda::blocks_for;

constexpr int64_t kScratchLimit = int64_t{2} << 30;  // bytes of V + M

// Element i of a [channels, P] transform plane: its channel and its tile
// p = (n, th, tw), P = N * TH * TW.
struct TileAt {
  int64_t c, n;
  int th, tw;
};
__device__ TileAt tile_at(int64_t i, int64_t P, int TH, int TW) {
  const int64_t c = i / P, p = i - c * P;
  const int64_t tiles = static_cast<int64_t>(TH) * TW;
  const int64_t n = p / tiles;
  const int t = static_cast<int>(p - n * tiles);
  return TileAt{c, n, t / TW, t % TW};
}

// U[e][r][c] = (G g G^T)[e / 4][e % 4] with g(r, c, k) = w[(r C + c) 9 + k],
// or, flipped, w[(c R + r) 9 + 8 - k] (w stored [C, R, 3, 3]).
__global__ void winograd_weight_kernel(const float* __restrict__ w, float* __restrict__ u, int R, int C,
                                       bool flip) {
  const int64_t rc = static_cast<int64_t>(R) * C;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < rc;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int r = static_cast<int>(i / C), c = static_cast<int>(i - static_cast<int64_t>(r) * C);
    const float* src = w + (flip ? static_cast<int64_t>(c) * R + r : i) * 9;
    float g[3][3];
    for (int k = 0; k < 9; ++k) g[k / 3][k % 3] = src[flip ? 8 - k : k];
    float gg[4][3];  // G g
    for (int j = 0; j < 3; ++j) {
      gg[0][j] = g[0][j];
      gg[1][j] = 0.5f * (g[0][j] + g[1][j] + g[2][j]);
      gg[2][j] = 0.5f * (g[0][j] - g[1][j] + g[2][j]);
      gg[3][j] = g[2][j];
    }
    for (int a = 0; a < 4; ++a) {  // (G g) G^T
      const float v[4] = {gg[a][0], 0.5f * (gg[a][0] + gg[a][1] + gg[a][2]),
                          0.5f * (gg[a][0] - gg[a][1] + gg[a][2]), gg[a][2]};
      for (int b = 0; b < 4; ++b) u[static_cast<int64_t>(a * 4 + b) * rc + i] = v[b];
    }
  }
}

// V[e][c][p] = (B^T d B)[e / 4][e % 4], d the 4x4 patch of channel c at rows
// 2 th - pad .. +3, columns 2 tw - pad .. +3 of image n, p = (n, th, tw).
__global__ void winograd_input_kernel(const float* __restrict__ in, float* __restrict__ v, int C, int H,
                                      int W, int pad, int TH, int TW, int64_t P) {
  const int64_t cp = static_cast<int64_t>(C) * P;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < cp;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const auto [c, n, th, tw] = tile_at(i, P, TH, TW);
    const float* plane = in + (n * C + c) * H * W;
    float d[4][4];
    for (int a = 0; a < 4; ++a) {
      const int ih = 2 * th - pad + a;
      for (int b = 0; b < 4; ++b) {
        const int iw = 2 * tw - pad + b;
        d[a][b] = (ih >= 0 && ih < H && iw >= 0 && iw < W) ? plane[static_cast<int64_t>(ih) * W + iw] : 0.f;
      }
    }
    float bd[4][4];  // B^T d
    for (int b = 0; b < 4; ++b) {
      bd[0][b] = d[0][b] - d[2][b];
      bd[1][b] = d[1][b] + d[2][b];
      bd[2][b] = d[2][b] - d[1][b];
      bd[3][b] = d[1][b] - d[3][b];
    }
    for (int a = 0; a < 4; ++a) {  // (B^T d) B
      const float row[4] = {bd[a][0] - bd[a][2], bd[a][1] + bd[a][2], bd[a][2] - bd[a][1],
                            bd[a][1] - bd[a][3]};
      for (int b = 0; b < 4; ++b) v[static_cast<int64_t>(a * 4 + b) * cp + i] = row[b];
    }
  }
}

// out[n][r][2 th + a][2 tw + b] = (A^T m A)[a][b] (+ bias[r]) (+ add[n][r])
// where it exists, m[e] = M[e][r][p].
__global__ void winograd_output_kernel(const float* __restrict__ m, const float* __restrict__ bias,
                                       const float* __restrict__ add, float* __restrict__ out, int R,
                                       int Hout, int Wout, int TH, int TW, int64_t P) {
  const int64_t rp = static_cast<int64_t>(R) * P;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < rp;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const auto [r, n, th, tw] = tile_at(i, P, TH, TW);
    float x[4][4];
    for (int e = 0; e < 16; ++e) x[e / 4][e % 4] = m[static_cast<int64_t>(e) * rp + i];
    float s[2][4];  // A^T m
    for (int b = 0; b < 4; ++b) {
      s[0][b] = x[0][b] + x[1][b] + x[2][b];
      s[1][b] = x[1][b] - x[2][b] - x[3][b];
    }
    const float bb = bias ? bias[r] : 0.f;
    const float a2 = add ? add[n * R + r] : 0.f;
    float* plane = out + (n * R + r) * Hout * Wout;
    for (int a = 0; a < 2; ++a) {
      const int oh = 2 * th + a;
      if (oh >= Hout) break;
      const float y[2] = {s[a][0] + s[a][1] + s[a][2], s[a][1] - s[a][2] - s[a][3]};
      for (int b = 0; b < 2; ++b) {
        const int ow = 2 * tw + b;
        if (ow < Wout) {
          float v = y[b];
          if (bias) v += bb;
          if (add) v += a2;
          plane[static_cast<int64_t>(oh) * Wout + ow] = v;
        }
      }
    }
  }
}

// Weight gradient: Y = A^T M A with M = U (.) V per tile, so dL/dM = A dY A^T
// =: Wg (4x4 from the 2x2 dY of the tile, zero past the edges), dL/dU_e =
// sum over tiles of Wg_e V_e, and dL/dg = G^T (dL/dU) G.
// Wg[e][co][p] = (A dY A^T)[e / 4][e % 4], A = [1 0; 1 1; 1 -1; 0 -1].
__global__ void winograd_grad_out_kernel(const float* __restrict__ gy, float* __restrict__ wg, int Cout,
                                         int Hout, int Wout, int TH, int TW, int64_t P) {
  const int64_t cp = static_cast<int64_t>(Cout) * P;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < cp;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const auto [co, n, th, tw] = tile_at(i, P, TH, TW);
    const float* plane = gy + (n * Cout + co) * Hout * Wout;
    float d[2][2];
    for (int a = 0; a < 2; ++a)
      for (int b = 0; b < 2; ++b) {
        const int oh = 2 * th + a, ow = 2 * tw + b;
        d[a][b] = (oh < Hout && ow < Wout) ? plane[static_cast<int64_t>(oh) * Wout + ow] : 0.f;
      }
    float ad[4][2];  // A dY
    for (int b = 0; b < 2; ++b) {
      ad[0][b] = d[0][b];
      ad[1][b] = d[0][b] + d[1][b];
      ad[2][b] = d[0][b] - d[1][b];
      ad[3][b] = -d[1][b];
    }
    for (int a = 0; a < 4; ++a) {  // (A dY) A^T
      const float row[4] = {ad[a][0], ad[a][0] + ad[a][1], ad[a][0] - ad[a][1], -ad[a][1]};
      for (int b = 0; b < 4; ++b) wg[static_cast<int64_t>(a * 4 + b) * cp + i] = row[b];
    }
  }
}

// gw[co][ci][kh][kw] = (G^T m G)[kh][kw], m[e] = dU[e][co][ci],
// G^T = [1 1/2 1/2 0; 0 1/2 -1/2 0; 0 1/2 1/2 1].
__global__ void winograd_grad_weight_kernel(const float* __restrict__ du, float* __restrict__ gw, int Cout,
                                            int Cin) {
  const int64_t rc = static_cast<int64_t>(Cout) * Cin;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < rc;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float m[4][4];
    for (int e = 0; e < 16; ++e) m[e / 4][e % 4] = du[static_cast<int64_t>(e) * rc + i];
    float gm[3][4];  // G^T m
    for (int b = 0; b < 4; ++b) {
      gm[0][b] = m[0][b] + 0.5f * (m[1][b] + m[2][b]);
      gm[1][b] = 0.5f * (m[1][b] - m[2][b]);
      gm[2][b] = 0.5f * (m[1][b] + m[2][b]) + m[3][b];
    }
    float* out = gw + i * 9;
    for (int a = 0; a < 3; ++a) {  // (G^T m) G
      out[a * 3 + 0] = gm[a][0] + 0.5f * (gm[a][1] + gm[a][2]);
      out[a * 3 + 1] = 0.5f * (gm[a][1] - gm[a][2]);
      out[a * 3 + 2] = 0.5f * (gm[a][1] + gm[a][2]) + gm[a][3];
    }
  }
}

// Sizes of the transforms for an input of Hin x Win and an output of Hout x Wout.
struct Tiles {
  int TH, TW;
  int64_t P;
};
Tiles tiles_of(int64_t N, int64_t Hout, int64_t Wout) {
  Tiles t{};
  t.TH = static_cast<int>((Hout + 1) / 2);
  t.TW = static_cast<int>((Wout + 1) / 2);
  t.P = N * t.TH * t.TW;
  return t;
}

// out [N, R, Hout, Wout] = the correlation of in [N, C, Hin, Win] (padding
// pad) with g(r, c, .) as above, plus bias[r] and add[n, r] when set.
void winograd(const float* in, int64_t N, int64_t C, int64_t Hin, int64_t Win, const float* w, bool flip,
              int64_t R, int64_t pad, const float* bias, const float* add, float* out, int64_t Hout,
              int64_t Wout, MathMode gemm_math, const char* op, const std::string& detail) {
  const Tiles t = tiles_of(N, Hout, Wout);
  if (t.P == 0 || R == 0) return;
  cudaStream_t s = ddpm::cuda::stream();
  const int64_t rc = R * C, cp = C * t.P, rp = R * t.P;
  Scratch u(static_cast<size_t>(16 * rc) * sizeof(float));
  Scratch v(static_cast<size_t>(16 * cp) * sizeof(float));
  Scratch m(static_cast<size_t>(16 * rp) * sizeof(float));
  winograd_weight_kernel<<<blocks_for(rc), 256, 0, s>>>(w, u.as<float>(), static_cast<int>(R),
                                                        static_cast<int>(C), flip);
  DDPM_CUDA_LAUNCHED("winograd_weight_kernel", detail);
  winograd_input_kernel<<<blocks_for(cp), 256, 0, s>>>(in, v.as<float>(), static_cast<int>(C),
                                                       static_cast<int>(Hin), static_cast<int>(Win),
                                                       static_cast<int>(pad), t.TH, t.TW, t.P);
  DDPM_CUDA_LAUNCHED("winograd_input_kernel", detail);
  {
    MathModeScope math(gemm_math);  // the variant's (FP32 or TF32), whatever the caller's
    gemm_strided_batched_row_major(false, false, 16, R, t.P, C, u.as<float>(), rc, v.as<float>(), cp,
                                   m.as<float>(), rp, op, detail);
  }
  winograd_output_kernel<<<blocks_for(rp), 256, 0, s>>>(m.as<float>(), bias, add, out, static_cast<int>(R),
                                                        static_cast<int>(Hout), static_cast<int>(Wout), t.TH,
                                                        t.TW, t.P);
  DDPM_CUDA_LAUNCHED("winograd_output_kernel", detail);
  // Later users of the blocks are ordered after these kernels on the one stream.
  m.release();
  v.release();
  u.release();
}

std::string detail_of(const Conv2dDims& d) {
  return "x [" + std::to_string(d.N) + ", " + std::to_string(d.Cin) + ", " + std::to_string(d.H) + ", " +
         std::to_string(d.W) + "], w [" + std::to_string(d.Cout) + ", " + std::to_string(d.Cin) +
         ", 3, 3], padding " + std::to_string(d.pad) + ", winograd";
}

void require(const Conv2dDims& d, const char* op) {
  if (!winograd_applies(d))
    throw std::invalid_argument(std::string(op) +
                                ": Winograd F(2x2,3x3) needs a 3x3 stride-1 kernel, padding " +
                                "<= 2 and under 2 GiB of scratch; got " + detail_of(d) + ", stride " +
                                std::to_string(d.stride) + ", K " + std::to_string(d.K));
}

}  // namespace

bool winograd_applies(const Conv2dDims& d) {
  if (d.K != 3 || d.stride != 1 || d.pad < 0 || d.pad > 2) return false;
  if (d.N * d.Cin * d.H * d.W > (int64_t{1} << 31) || d.N * d.Cout * d.Hout * d.Wout > (int64_t{1} << 31))
    return false;
  const Tiles fwd = tiles_of(d.N, d.Hout, d.Wout), bwd = tiles_of(d.N, d.H, d.W);
  const int64_t fwd_bytes = 16 * (d.Cin + d.Cout) * fwd.P * 4, bwd_bytes = 16 * (d.Cout + d.Cin) * bwd.P * 4;
  return fwd_bytes <= kScratchLimit && bwd_bytes <= kScratchLimit;
}

void conv2d_fwd_winograd(const float* x, const float* w, const float* bias, float* y, const Conv2dDims& d,
                         bool tf32, const float* add) {
  require(d, "conv2d");
  winograd(x, d.N, d.Cin, d.H, d.W, w, false, d.Cout, d.pad, bias, add, y, d.Hout, d.Wout,
           tf32 ? MathMode::tf32 : MathMode::fp32, "conv2d", detail_of(d));
}

void conv2d_bwd_weight_winograd(const float* x, const float* grad_out, float* grad_w, const Conv2dDims& d,
                                bool tf32) {
  require(d, "conv2d backward-weight");
  const std::string detail = detail_of(d);
  const Tiles t = tiles_of(d.N, d.Hout, d.Wout);
  cudaStream_t s = ddpm::cuda::stream();
  const int64_t rc = d.Cout * d.Cin;
  if (t.P == 0) {  // an empty batch: the sums are empty
    ddpm::cuda::check(cudaMemsetAsync(grad_w, 0, static_cast<size_t>(rc * 9) * sizeof(float), s),
                      "conv2d backward-weight", detail);
    return;
  }
  const int64_t op_ = d.Cout * t.P, ip = d.Cin * t.P;
  Scratch wg(static_cast<size_t>(16 * op_) * sizeof(float));
  Scratch v(static_cast<size_t>(16 * ip) * sizeof(float));
  Scratch du(static_cast<size_t>(16 * rc) * sizeof(float));
  winograd_grad_out_kernel<<<blocks_for(op_), 256, 0, s>>>(grad_out, wg.as<float>(), static_cast<int>(d.Cout),
                                                           static_cast<int>(d.Hout), static_cast<int>(d.Wout),
                                                           t.TH, t.TW, t.P);
  DDPM_CUDA_LAUNCHED("winograd_grad_out_kernel", detail);
  winograd_input_kernel<<<blocks_for(ip), 256, 0, s>>>(x, v.as<float>(), static_cast<int>(d.Cin),
                                                       static_cast<int>(d.H), static_cast<int>(d.W),
                                                       static_cast<int>(d.pad), t.TH, t.TW, t.P);
  DDPM_CUDA_LAUNCHED("winograd_input_kernel", detail);
  {
    MathModeScope math(tf32 ? MathMode::tf32 : MathMode::fp32);
    // dU_e [Cout, Cin] = Wg_e [Cout, P] V_e [Cin, P]^T
    gemm_strided_batched_row_major(false, true, 16, d.Cout, d.Cin, t.P, wg.as<float>(), op_, v.as<float>(),
                                   ip, du.as<float>(), rc, "conv2d backward-weight", detail);
  }
  winograd_grad_weight_kernel<<<blocks_for(rc), 256, 0, s>>>(du.as<float>(), grad_w, static_cast<int>(d.Cout),
                                                             static_cast<int>(d.Cin));
  DDPM_CUDA_LAUNCHED("winograd_grad_weight_kernel", detail);
  du.release();
  v.release();
  wg.release();
}

void conv2d_bwd_data_winograd(const float* grad_out, const float* w, float* grad_x, const Conv2dDims& d,
                              bool tf32) {
  require(d, "conv2d backward-data");
  winograd(grad_out, d.N, d.Cout, d.Hout, d.Wout, w, true, d.Cin, 2 - d.pad, nullptr, nullptr, grad_x, d.H,
           d.W, tf32 ? MathMode::tf32 : MathMode::fp32, "conv2d backward-data", detail_of(d));
}

}  // namespace ddpm::kernels::cuda
