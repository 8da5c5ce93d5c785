// The differentiable functions: what models are written with.
//
// Each runs its kernel (kernels/<op>.h) and, when gradients are on and an
// input requires them, records a graph node whose backward closure sits right
// under the forward in autograd/<op>.cpp. Inputs must share dtype and device.
#pragma once

#include <cstdint>
#include <vector>

#include "autograd/engine.h"  // autograd::backward, for code that trains
#include "tensor/tensor.h"

namespace ddpm {

// ---- views (autograd/reshape.cpp) ----
// x's data under a new shape (one dimension may be -1), no copy; the
// gradient is viewed back to x's shape.
Tensor reshape(const Tensor& x, const Shape& shape);

// ---- elementwise, broadcasting (autograd/binary.cpp) ----
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
// a (op) scalar: the scalar becomes a [] tensor of a's dtype and device.
Tensor add_scalar(const Tensor& a, double s);
Tensor mul_scalar(const Tensor& a, double s);

// ---- elementwise functions (autograd/unary.cpp) ----
Tensor neg(const Tensor& x);
inline Tensor operator-(const Tensor& x) { return neg(x); }
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor sin(const Tensor& x);
Tensor cos(const Tensor& x);

// ---- activations (autograd/silu.cpp) ----
// x * sigmoid(x)
Tensor silu(const Tensor& x);

// ---- reductions (autograd/sum.cpp) ----
Tensor sum(const Tensor& x);   // all elements, shape []
Tensor mean(const Tensor& x);  // all elements, shape []

// ---- dense layers (autograd/matmul.cpp, autograd/linear.cpp) ----
// [M, K] x [K, N] -> [M, N]
Tensor matmul(const Tensor& a, const Tensor& b);
// x [N, in], weight [out, in], bias [out] or undefined -> x W^T + b, [N, out]
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias);
// (autograd/bmm.cpp) Batched matrix product: a [B, M, K] (stored [B, K, M]
// when trans_a), b [B, K, N] (stored [B, N, K] when trans_b) -> [B, M, N],
// c[i] = op(a[i]) op(b[i]).
Tensor bmm(const Tensor& a, const Tensor& b, bool trans_a = false, bool trans_b = false);

// ---- softmax and dropout (autograd/softmax.cpp, autograd/dropout.cpp) ----
// Softmax over the last dim of x (any leading dims, viewed as rows [R, K]) of
// scale * x, stable (row max subtracted). mask: undefined, or of x's dtype
// and device, [K] or [Rm, K] with Rm dividing R (row r uses mask row r % Rm,
// so an attention mask [Lq, Lk] broadcasts over x [B*heads, Lq, Lk]); entries
// where mask == 0 are excluded (probability exactly 0). A fully masked row
// gives all zeros (and a zero gradient). Gradient to x only:
// scale * y * (g - sum_j g y).
Tensor softmax(const Tensor& x, double scale = 1.0, const Tensor& mask = Tensor());
// Element i (flat index) kept iff philox::uniform(seed, stream, offset + i)
// >= p, then scaled by 1 / (1 - p); dropped ones are 0 (kernels/dropout.h).
// 0 <= p < 1 (p == 0 returns x's values). The backward draws the same mask
// again from (seed, stream, offset): no mask is stored. Models take the
// stream from diffusion/streams.h (kDropout) and a fresh offset per forward.
Tensor dropout(const Tensor& x, double p, uint64_t seed, uint64_t stream, uint64_t offset);

// ---- attention (autograd/attention.cpp) ----
// Scaled dot-product attention, one head per batch entry, in the engine's
// channels-first layout (a 1x1 conv's output viewed as [N * heads, D, H*W]
// needs no transpose): q [B, D, Lq], k [B, D, Lk], v [B, E, Lk] -> [B, E, Lq],
//   o[b, :, i] = sum_j softmax_j(scale * q[b, :, i] . k[b, :, j]) v[b, :, j].
// Fused (kernels/attention.h): no Lq x Lk matrix is kept; the backward
// recomputes it from the saved row log-sum-exps.
Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, double scale);

// ---- convolution (autograd/conv2d.cpp) ----
// x [N, Cin, H, W], weight [Cout, Cin, K, K], bias [Cout] or undefined;
// square kernel, same stride and zero padding in both directions.
// add [N, Cout] (optional): y[n, co] += add[n, co] on every pixel, fused
// into the convolution's epilogue on the GPU (the residual block's time-
// embedding add); its gradient is the per-plane sum of the output gradient.
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride = 1,
              int64_t padding = 0, const Tensor& add = Tensor());

// ---- normalisation (autograd/group_norm.cpp) ----
// x [N, C, H, W] (or [N, C]), C divisible by groups; gamma, beta [C]
// (both defined or both undefined); biased variance, as PyTorch.
Tensor group_norm(const Tensor& x, int64_t groups, const Tensor& gamma, const Tensor& beta,
                  double eps = 1e-5);
// silu(group_norm(x, groups, gamma, beta, eps)) in one pass each way
// (autograd/group_norm_silu.cpp): saves x and the statistics, not the
// normalised tensor.
Tensor group_norm_silu(const Tensor& x, int64_t groups, const Tensor& gamma, const Tensor& beta,
                       double eps = 1e-5);

// ---- resampling (autograd/max_pool2d.cpp, autograd/upsample_bilinear2d.cpp) ----
// kernel x kernel window, stride = kernel, no padding (floor of H/k, W/k).
Tensor max_pool2d(const Tensor& x, int64_t kernel = 2);
// Bilinear, align_corners=True, output size (H*scale, W*scale).
Tensor upsample_bilinear2d(const Tensor& x, int64_t scale = 2);
// [N, C, H, W] -> [N, C], the mean over H and W (autograd/global_avg_pool2d.cpp).
Tensor global_avg_pool2d(const Tensor& x);

// ---- concatenation (autograd/concat.cpp) ----
// All inputs equal except along dim.
Tensor concat(const std::vector<Tensor>& xs, int64_t dim = 1);

// ---- losses (autograd/mse_loss.cpp) ----
// mean((pred - target)^2), shape []; gradient flows to both.
Tensor mse_loss(const Tensor& pred, const Tensor& target);
// (autograd/cross_entropy.cpp) Fused, stable log-softmax + negative
// log-likelihood, mean over N, shape []: logits [N, K]; labels [N] of the
// logits' dtype and device holding class indices 0 .. K-1 as whole numbers
// (checked: anything else throws naming the index and K). Gradient to the
// logits only: (softmax(logits) - onehot(labels)) / N.
Tensor cross_entropy(const Tensor& logits, const Tensor& labels);

}  // namespace ddpm
