#include "kernels/cpu/conv2d_bf16.h"

#include <algorithm>
#include <cstring>

#include "kernels/cpu/bf16_gemm.h"
#include "kernels/cpu/conv2d_amx.h"
#include "kernels/cpu/conv2d_winograd.h"
#include "kernels/cpu/gemm.h"  // scratch buffers and threading

namespace ddpm::kernels::cpu {

namespace {

namespace bg = bf16gemm;

constexpr int64_t kChunkCols = 256;  // output columns per GEMM (16 tiles of B)

// Whether a conv (given as a forward conv: for bwd-data, the full
// correlation's geometry) runs as Winograd F(2x2, 3x3) with BF16-rounded
// transforms. The rule: 3x3 stride 1 with 16+ channels each way (FP32's
// rule), unless the backend is AMX, whose direct convolution
// (conv2d_amx.cpp) needs no transforms and no im2col. Without AMX the
// direct BF16 GEMM does 9 multiply-adds per output and input channel where
// Winograd does 4, at about twice the FP32 FMA rate (docs/conv2d_cpu.md),
// so FP32 Winograd beat it. conv2d_cpu_algo() forces either path (tests, benches).
bool winograd_bf16(const Conv2dDims& d) {
  const Conv2dCpuAlgo algo = conv2d_cpu_algo();
  if (!winograd::applies(d) || algo == Conv2dCpuAlgo::im2col || algo == Conv2dCpuAlgo::shifted) return false;
  if (algo == Conv2dCpuAlgo::winograd) return true;
  return bg::backend() != bg::Backend::amx && d.Cin >= 16 && d.Cout >= 16;
}

// The 16 transformed kernels U_e of w (flip: of the full correlation, for
// bwd-data), packed as BF16.
Scratch<uint16_t> packed_u(const float* w, int64_t cout, int64_t cin, bool flip) {
  auto u = scratch<float>(16 * cout * cin);
  winograd::transform_weights(w, cout, cin, flip, u.get());
  auto ub = scratch<uint16_t>(16 * bg::packed_a_size(cout, cin));
  winograd::pack_u_bf16(u.get(), cout, cin, ub.get());
  return ub;
}

// col[r - r0][j - j0] = im2col(x)[r][j] for rows [r0, r1) and the flattened
// output columns [j0, j1) (column j = image j / P, pixel j % P).
void im2col(const float* x, const Conv2dDims& d, int64_t r0, int64_t r1, int64_t j0, int64_t j1, float* col,
            int64_t ldcol) {
  const int64_t P = d.Hout * d.Wout, KK = d.K * d.K;
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t ci = r / KK, kh = (r % KK) / d.K, kw = r % d.K;
    float* dst = col + (r - r0) * ldcol;
    for (int64_t j = j0; j < j1;) {
      const int64_t n = j / P, p = j % P, oh = p / d.Wout, ow0 = p % d.Wout;
      const int64_t run = std::min(d.Wout - ow0, j1 - j);
      const int64_t ih = oh * d.stride - d.pad + kh;
      float* o = dst + (j - j0);  // o[k] is output pixel (oh, ow0 + k), k < run
      if (ih < 0 || ih >= d.H) {
        std::fill(o, o + run, 0.f);
      } else {
        const float* src = x + ((n * d.Cin + ci) * d.H + ih) * d.W;
        if (d.stride == 1) {  // iw = ow - pad + kw, inside [0, W) for k in [lo, hi)
          const int64_t lo = std::clamp(d.pad - kw - ow0, int64_t{0}, run);
          const int64_t hi = std::clamp(d.W + d.pad - kw - ow0, lo, run);
          std::fill(o, o + lo, 0.f);
          if (hi > lo)
            std::memcpy(o + lo, src + ow0 + lo - d.pad + kw, static_cast<size_t>(hi - lo) * sizeof(float));
          std::fill(o + hi, o + run, 0.f);
        } else {
          for (int64_t k = 0; k < run; ++k) {
            const int64_t iw = (ow0 + k) * d.stride - d.pad + kw;
            o[k] = iw >= 0 && iw < d.W ? src[iw] : 0.f;
          }
        }
      }
      j += run;
    }
  }
}

// gx[n] += col2im(gcol) for the images [n0, n0 + m) whose columns gcol holds.
void col2im(const float* gcol, int64_t ld, const Conv2dDims& d, int64_t n0, int64_t m, float* gx) {
  const int64_t P = d.Hout * d.Wout, KK = d.K * d.K, CKK = d.Cin * KK;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t r = 0; r < CKK; ++r) {
      const int64_t ci = r / KK, kh = (r % KK) / d.K, kw = r % d.K;
      float* img = gx + ((n0 + i) * d.Cin + ci) * d.H * d.W;
      const float* g = gcol + r * ld + i * P;
      for (int64_t oh = 0; oh < d.Hout; ++oh) {
        const int64_t ih = oh * d.stride - d.pad + kh;
        if (ih < 0 || ih >= d.H) continue;
        float* row = img + ih * d.W;
        for (int64_t ow = 0; ow < d.Wout; ++ow) {
          const int64_t iw = ow * d.stride - d.pad + kw;
          if (iw >= 0 && iw < d.W) row[iw] += g[oh * d.Wout + ow];
        }
      }
    }
}

// g[co][j - j0] = grad_out as [Cout, N * P] over the columns [j0, j1).
void gather_columns(const float* gy, const Conv2dDims& d, int64_t j0, int64_t j1, float* g, int64_t ld) {
  const int64_t P = d.Hout * d.Wout;
  for (int64_t co = 0; co < d.Cout; ++co)
    for (int64_t j = j0; j < j1;) {
      const int64_t n = j / P, p = j % P, run = std::min(P - p, j1 - j);
      std::memcpy(g + co * ld + (j - j0), gy + (n * d.Cout + co) * P + p,
                  static_cast<size_t>(run) * sizeof(float));
      j += run;
    }
}

}  // namespace

void conv2d_fwd_bf16(const float* x, const float* w, const float* bias, float* y, const Conv2dDims& d) {
  const int64_t P = d.Hout * d.Wout, CKK = d.Cin * d.K * d.K, total = d.N * P;
  if (total == 0 || d.Cout == 0) return;
  if (winograd_bf16(d)) {
    const auto ub = packed_u(w, d.Cout, d.Cin, false);
    return winograd::convolve<float>(x, nullptr, bias, y, d, ub.get());
  }
  if (amx_conv::applies(d) && CKK > 0) return amx_conv::fwd(x, w, bias, y, d);
  auto pa = scratch<uint16_t>(bg::packed_a_size(d.Cout, CKK));
  bg::pack_a(d.Cout, CKK, w, CKK, 1, pa.get());
  const int64_t chunks = (total + kChunkCols - 1) / kChunkCols;
  parallel_for(chunks, d.Cout * CKK * kChunkCols, [&](int64_t c) {
    const int64_t j0 = c * kChunkCols, j1 = std::min(total, j0 + kChunkCols), cols = j1 - j0;
    auto col = scratch<float>(CKK * cols);
    im2col(x, d, 0, CKK, j0, j1, col.get(), cols);
    auto pb = scratch<uint16_t>(bg::packed_b_size(CKK, cols));
    bg::pack_b(CKK, cols, col.get(), cols, 1, pb.get());
    auto out = scratch<float>(d.Cout * cols);
    bg::gemm(d.Cout, cols, CKK, pa.get(), pb.get(), out.get(), cols, false);
    for (int64_t co = 0; co < d.Cout; ++co) {
      const float b = bias ? bias[co] : 0.f;
      const float* o = out.get() + co * cols;
      for (int64_t j = j0; j < j1;) {
        const int64_t n = j / P, p = j % P, run = std::min(P - p, j1 - j);
        float* dst = y + (n * d.Cout + co) * P + p;
        for (int64_t k = 0; k < run; ++k) dst[k] = o[j - j0 + k] + b;
        j += run;
      }
    }
  });
}

void conv2d_bwd_data_bf16(const float* grad_out, const float* w, float* grad_x, const Conv2dDims& d) {
  const int64_t P = d.Hout * d.Wout, CKK = d.Cin * d.K * d.K;
  if (d.stride == 1 && d.pad <= d.K - 1 && d.N > 0 && P > 0) {
    // Winograd writes every element of grad_x.
    const Conv2dDims full{d.N, d.Cout, d.Hout, d.Wout, d.Cin, d.K, 1, d.K - 1 - d.pad, d.H, d.W};
    if (winograd_bf16(full)) {
      const auto ub = packed_u(w, d.Cin, d.Cout, true);
      return winograd::convolve<float>(grad_out, nullptr, nullptr, grad_x, full, ub.get());
    }
  }
  std::fill(grad_x, grad_x + d.N * d.Cin * d.H * d.W, 0.f);
  if (d.N == 0 || P == 0 || CKK == 0) return;
  if (amx_conv::applies(d) && d.Cout > 0) return amx_conv::bwd_data(grad_out, w, grad_x, d);
  auto pa = scratch<uint16_t>(bg::packed_a_size(CKK, d.Cout));
  bg::pack_a(CKK, d.Cout, w, 1, CKK, pa.get());  // W^T
  const int64_t ipc = std::clamp<int64_t>(kChunkCols / P, 1, d.N);
  const int64_t chunks = (d.N + ipc - 1) / ipc;
  parallel_for(chunks, d.Cout * CKK * ipc * P, [&](int64_t c) {
    const int64_t n0 = c * ipc, m = std::min(ipc, d.N - n0), cols = m * P;
    auto pb = scratch<uint16_t>(bg::packed_b_size(d.Cout, cols));
    if (m == 1) {
      bg::pack_b(d.Cout, cols, grad_out + n0 * d.Cout * P, P, 1, pb.get());
    } else {
      auto g = scratch<float>(d.Cout * cols);
      gather_columns(grad_out, d, n0 * P, (n0 + m) * P, g.get(), cols);
      bg::pack_b(d.Cout, cols, g.get(), cols, 1, pb.get());
    }
    auto gcol = scratch<float>(CKK * cols);
    bg::gemm(CKK, cols, d.Cout, pa.get(), pb.get(), gcol.get(), cols, false);
    col2im(gcol.get(), cols, d, n0, m, grad_x);
  });
}

void conv2d_bwd_weight_bf16(const float* x, const float* grad_out, float* grad_w, float* grad_bias,
                            const Conv2dDims& d) {
  const int64_t P = d.Hout * d.Wout, CKK = d.Cin * d.K * d.K, total = d.N * P;
  if (grad_bias) conv2d_bias_grad(grad_out, grad_bias, d);  // FP32 data, summed in double
  if (CKK == 0 || d.Cout == 0) return;
  if (total == 0) {
    std::fill(grad_w, grad_w + d.Cout * CKK, 0.f);
    return;
  }
  if (winograd_bf16(d)) return winograd::bwd_weight<float>(x, grad_out, grad_w, d, true);
  if (amx_conv::applies(d)) return amx_conv::bwd_weight(x, grad_out, grad_w, d);
  auto gwt = scratch<float>(CKK * d.Cout);  // gW^T [CKK, Cout]
  const int64_t units = (CKK + 31) / 32, chunks = (total + kChunkCols - 1) / kChunkCols;
  run_on_threads(num_threads(), [&](int t, int threads) {
    const Range u = thread_range(units, t, threads);
    const int64_t r0 = u.begin * 32, r1 = std::min(CKK, u.end * 32), rows = r1 - r0;
    if (rows <= 0) return;
    auto col = scratch<float>(rows * kChunkCols);
    auto g = scratch<float>(d.Cout * kChunkCols);
    auto pa = scratch<uint16_t>(bg::packed_a_size(rows, kChunkCols));
    auto pb = scratch<uint16_t>(bg::packed_b_size(kChunkCols, d.Cout));
    for (int64_t c = 0; c < chunks; ++c) {
      const int64_t j0 = c * kChunkCols, j1 = std::min(total, j0 + kChunkCols), cols = j1 - j0;
      im2col(x, d, r0, r1, j0, j1, col.get(), cols);
      bg::pack_a(rows, cols, col.get(), cols, 1, pa.get());
      gather_columns(grad_out, d, j0, j1, g.get(), cols);
      bg::pack_b(cols, d.Cout, g.get(), 1, cols, pb.get());  // gY^T
      bg::gemm(rows, d.Cout, cols, pa.get(), pb.get(), gwt.get() + r0 * d.Cout, d.Cout, c > 0);
    }
  });
  parallel_for(d.Cout, CKK, [&](int64_t co) {
    for (int64_t r = 0; r < CKK; ++r) grad_w[co * CKK + r] = gwt[r * d.Cout + co];
  });
}

}  // namespace ddpm::kernels::cpu
