// 2-d convolution (cross-correlation, as PyTorch), NCHW, square K x K kernel,
// the same stride s and zero padding p in both directions, optional bias.
//
//   x [N, Cin, H, W], w [Cout, Cin, K, K], b [Cout] -> y [N, Cout, Hout, Wout]
//   Hout = (H + 2p - K) / s + 1 (floor), Wout likewise
//   y[n,co,oh,ow] = b[co] + sum_{ci,kh,kw} w[co,ci,kh,kw] * x[n,ci,oh*s-p+kh,ow*s-p+kw]
//   (x is zero outside [0,H) x [0,W)).
//
// As matrices, per image n, with col_n = im2col(x_n) of shape
// [Cin*K*K, Hout*Wout] (row (ci,kh,kw), column (oh,ow)):
//   fwd:          Y_n  = W col_n + b          W = w as [Cout, Cin*K*K]
//   bwd-data:     gx_n = col2im(W^T gY_n)     (col2im adds each column entry
//                                              back onto the pixel it came from)
//   bwd-weight:   gW   = sum_n gY_n col_n^T,  gb[co] = sum_{n,oh,ow} gy[n,co,oh,ow]
//
// CPU kernels (kernels/cpu/conv2d.cpp): im2col fused into the packing of a
// register-tiled GEMM, batch-parallel; see that file's header for the
// blocking and the threading.
// CUDA kernels (kernels/cuda/conv2d.cu): tiled implicit GEMMs (the im2col
// matrix is never stored), FP32 SIMT or TF32 tensor cores; see that file.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/math_mode.h"
#include "tensor/tensor.h"

namespace ddpm::kernels {

struct Conv2dDims {
  int64_t N, Cin, H, W;
  int64_t Cout, K, stride, pad;
  int64_t Hout, Wout;
};

// Checks x, w (and b when defined) and the options, naming op and shapes;
// returns the dims of the convolution.
Conv2dDims conv2d_dims(const Tensor& x, const Tensor& w, const Tensor& b, int64_t stride, int64_t pad);

// y = conv2d(x, w) + b; b may be undefined (no bias).
// add (optional, [N, Cout]): a per-(image, output channel) value added to
// every pixel of that output plane, y[n, co] = conv + b[co] + add[n, co] (the
// residual block's time-embedding projection): fused into the CUDA kernels'
// epilogues; the CPU adds it after the convolution. Same dtype and device.
Tensor conv2d_fwd(const Tensor& x, const Tensor& w, const Tensor& b, int64_t stride, int64_t pad,
                  const Tensor& add = Tensor());
// The gradient of x (shape x_shape: needed because with stride > 1 several
// input sizes give the same output size).
Tensor conv2d_bwd_data(const Tensor& grad_out, const Tensor& w, const Shape& x_shape, int64_t stride,
                       int64_t pad);
// The gradient of w (shape w_shape); and of the bias into *grad_bias when
// grad_bias is not null.
Tensor conv2d_bwd_weight(const Tensor& x, const Tensor& grad_out, const Shape& w_shape, int64_t stride,
                         int64_t pad, Tensor* grad_bias = nullptr);

namespace cpu {
// Raw contiguous NCHW buffers; bias / grad_bias may be null (no bias).
template <class T>
void conv2d_fwd(const T* x, const T* w, const T* bias, T* y, const Conv2dDims& d);
template <class T>
void conv2d_bwd_data(const T* grad_out, const T* w, T* grad_x, const Conv2dDims& d);
template <class T>
void conv2d_bwd_weight(const T* x, const T* grad_out, T* grad_w, T* grad_bias, const Conv2dDims& d);
// The bias gradient alone: per output channel, grad_out summed over images
// and pixels in double, in a fixed order (the BF16 paths share it).
template <class T>
void conv2d_bias_grad(const T* grad_out, T* grad_bias, const Conv2dDims& d);
}  // namespace cpu

// Which kernels the CPU runs for conv2d (kernels/cpu/conv2d.cpp). The
// choice never depends on timing, so results are a function of the build and
// the shapes (docs/conv2d_cpu.md gives the rule and its measurements):
//   automatic: the rule: Winograd F(2x2, 3x3) for 3x3 stride-1 convs of
//              enough channels, shifted rows for stride-1 convs with rows of
//              16+, im2col + packed GEMM otherwise;
//   im2col:    im2col + packed GEMM everywhere (the reference path);
//   shifted:   shifted rows / shifted GEMMs wherever they apply (stride 1);
//   winograd:  Winograd wherever it applies (fwd and bwd-data of 3x3
//              stride-1 convs), the rule elsewhere.
// Tests and benchmarks force each path; the default is automatic.
enum class Conv2dCpuAlgo { automatic, im2col, shifted, winograd };
Conv2dCpuAlgo conv2d_cpu_algo();
void set_conv2d_cpu_algo(Conv2dCpuAlgo algo);
const char* conv2d_cpu_algo_name(Conv2dCpuAlgo algo);

class Conv2dCpuAlgoScope {
 public:
  explicit Conv2dCpuAlgoScope(Conv2dCpuAlgo algo) : prev_(conv2d_cpu_algo()) { set_conv2d_cpu_algo(algo); }
  ~Conv2dCpuAlgoScope() { set_conv2d_cpu_algo(prev_); }
  Conv2dCpuAlgoScope(const Conv2dCpuAlgoScope&) = delete;
  Conv2dCpuAlgoScope& operator=(const Conv2dCpuAlgoScope&) = delete;

 private:
  Conv2dCpuAlgo prev_;
};

// Which kernels the CUDA backend runs for conv2d (the CPU ignores it):
//   automatic: the tiled implicit GEMM of the math mode (kernels/math_mode.h:
//              TF32 tensor cores when it is tf32, BF16 ones when it is bf16,
//              FP32 SIMT otherwise), in the
//              main-loop variant the autotuner (kernels/autotune.h) measured
//              fastest for the pass, shape and precision on this GPU;
//   direct:    one thread per output element (one block per weight element
//              for the weight gradient): slow and simple, a reference;
//   implicit_gemm_fp32 / implicit_gemm_tf32: that GEMM with the register-
//              staged double-buffered main loop (the untuned default);
//   implicit_gemm_fp32_pipelined / implicit_gemm_tf32_pipelined: that GEMM
//              with the 3-stage cp.async main loop (sm_80+);
//   implicit_gemm_bf16 / implicit_gemm_bf16_pipelined: the GEMM on BF16
//              tensor cores (operands rounded to BF16 as the fragments are
//              read, FP32 accumulate; sm_80+), what automatic runs when the
//              math mode is bf16, in either main loop;
//   winograd_fp32: Winograd F(2x2, 3x3) with 16 cuBLAS FP32 GEMMs for the
//              three passes of 3x3 stride-1 convs (padding <= 2; kernels/
//              cuda/conv2d_winograd.cu), implicit_gemm_fp32 for other
//              shapes. One of automatic's FP32 candidates: FP32 math
//              allows it, as cuDNN's FMA math does and the CPU's FP32 path
//              already does (docs/gpu.md);
//   winograd_tf32: the same with the 16 GEMMs on TF32 tensor cores
//              (implicit_gemm_tf32 for other shapes); one of automatic's
//              TF32 candidates.
//   implicit_gemm_{fp32,tf32,bf16}_wide: the GEMM on 128 x 128 x 16 block
//              tiles, cp.async only (sm_80+): FP32 register-blocked 8 x 8 per
//              thread; TF32 / BF16 fragments loaded by ldmatrix from swizzled
//              shared memory, BF16 as mma m16n8k16. Candidates of automatic
//              in their precision.
// Every variant but automatic runs whatever the math mode (tests force each).
enum class Conv2dCudaAlgo {
  automatic,
  direct,
  implicit_gemm_fp32,
  implicit_gemm_tf32,
  implicit_gemm_fp32_pipelined,
  implicit_gemm_tf32_pipelined,
  implicit_gemm_bf16,
  implicit_gemm_bf16_pipelined,
  winograd_fp32,
  winograd_tf32,
  implicit_gemm_fp32_wide,
  implicit_gemm_tf32_wide,
  implicit_gemm_bf16_wide
};
Conv2dCudaAlgo conv2d_cuda_algo();
void set_conv2d_cuda_algo(Conv2dCudaAlgo algo);
const char* conv2d_cuda_algo_name(Conv2dCudaAlgo algo);

// Sets the algorithm for a scope and restores the previous one.
class Conv2dCudaAlgoScope {
 public:
  explicit Conv2dCudaAlgoScope(Conv2dCudaAlgo algo) : prev_(conv2d_cuda_algo()) {
    set_conv2d_cuda_algo(algo);
  }
  ~Conv2dCudaAlgoScope() { set_conv2d_cuda_algo(prev_); }
  Conv2dCudaAlgoScope(const Conv2dCudaAlgoScope&) = delete;
  Conv2dCudaAlgoScope& operator=(const Conv2dCudaAlgoScope&) = delete;

 private:
  Conv2dCudaAlgo prev_;
};

namespace cuda {
// The variants automatic times for shape d under math mode `mode` (the
// untuned default first): the GEMMs of the mode's family in every main loop
// and tile, and Winograd where it applies (FP32 and TF32).
std::vector<Conv2dCudaAlgo> conv2d_candidates(const Conv2dDims& d, MathMode mode);
// Raw contiguous NCHW float32 device buffers, launched on ddpm::cuda::stream().
// bias / grad_bias may be null (no bias). algo automatic is resolved here, by
// the autotuner (timing the variants the first time a shape is seen). Throws std::invalid_argument when a
// size does not fit the kernels' 32-bit pixel and channel indices.
void conv2d_fwd(const float* x, const float* w, const float* bias, float* y, const Conv2dDims& d,
                Conv2dCudaAlgo algo, const float* add = nullptr);
void conv2d_bwd_data(const float* grad_out, const float* w, float* grad_x, const Conv2dDims& d,
                     Conv2dCudaAlgo algo);
void conv2d_bwd_weight(const float* x, const float* grad_out, float* grad_w, float* grad_bias,
                       const Conv2dDims& d, Conv2dCudaAlgo algo);
}  // namespace cuda

}  // namespace ddpm::kernels
