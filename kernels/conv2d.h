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
#pragma once

#include <cstdint>

#include "tensor/tensor.h"

namespace ddpm::kernels {

struct Conv2dDims {
  int64_t N, Cin, H, W;
  int64_t Cout, K, stride, pad;
  int64_t Hout, Wout;
};

// Checks x, w (and b when defined) and the options, naming op and shapes;
// returns the dims of the convolution.
Conv2dDims conv2d_dims(const Tensor& x, const Tensor& w, const Tensor& b, int64_t stride,
                       int64_t pad);

// y = conv2d(x, w) + b; b may be undefined (no bias).
Tensor conv2d_fwd(const Tensor& x, const Tensor& w, const Tensor& b, int64_t stride, int64_t pad);
// The gradient of x (shape x_shape: needed because with stride > 1 several
// input sizes give the same output size).
Tensor conv2d_bwd_data(const Tensor& grad_out, const Tensor& w, const Shape& x_shape, int64_t stride,
                       int64_t pad);
// The gradient of w (shape w_shape); and of the bias into *grad_bias when
// grad_bias is not null.
Tensor conv2d_bwd_weight(const Tensor& x, const Tensor& grad_out, const Shape& w_shape,
                         int64_t stride, int64_t pad, Tensor* grad_bias = nullptr);

namespace cpu {
// Raw contiguous NCHW buffers; bias / grad_bias may be null (no bias).
template <class T>
void conv2d_fwd(const T* x, const T* w, const T* bias, T* y, const Conv2dDims& d);
template <class T>
void conv2d_bwd_data(const T* grad_out, const T* w, T* grad_x, const Conv2dDims& d);
template <class T>
void conv2d_bwd_weight(const T* x, const T* grad_out, T* grad_w, T* grad_bias, const Conv2dDims& d);
}  // namespace cpu

}  // namespace ddpm::kernels
