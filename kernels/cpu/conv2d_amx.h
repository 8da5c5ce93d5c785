// Stride-1 conv2d on Intel AMX tiles with no im2col: the BF16 path of
// kernels/cpu/conv2d_bf16.h where the bf16 GEMM backend is AMX.
//
// Each image is zero-padded and the batch stacked into one tall image of N *
// (H + 2p) rows of Wp = W + 2p pixels, indexed u = row * Wp + column. Output
// pixel (oh, ow) of image n sits at u = (n * Hp + oh) * Wp + ow, and tap
// (kh, kw) reads the input at u + kh * Wp + kw: a convolution is then, per
// tap, a GEMM whose B operand is the padded input shifted by a constant, so
// AMX loads its tiles straight from one BF16 copy of the input (no im2col):
//   fwd         Y [Cout, u] += W_tap [Cout, Cin] . X [Cin, u + shift]
//               (X as channel pairs [Cin/2][u][2]: a tile row is 16 u of a
//               channel pair, 64 contiguous bytes)
//   bwd-data    the same with gY padded by K-1-p and W flipped and
//               transposed (stride 1).
//   bwd-weight  gW_tap [Cout, Cin] += gY [Cout, u - shift] . X^T [u, Cin]
//               (the shift moved to the A side, gY as plain BF16 rows with
//               zeros at the junk pixels; X as pixel pairs [u/2][Cin][2]).
// Outputs at the pad columns and rows of u are junk and dropped when the
// result is copied out. Channels are padded to multiples of 32, so every
// tile is whole. Sums in FP32; per output element in a fixed order (taps,
// then channel blocks; for the weight gradient, pixel blocks in order), so
// results do not depend on the thread count.
#pragma once

#include "kernels/conv2d.h"

namespace ddpm::kernels::cpu::amx_conv {

// Stride 1, pad <= K - 1, and the bf16 GEMM backend is AMX.
bool applies(const Conv2dDims& d);

void fwd(const float* x, const float* w, const float* bias, float* y, const Conv2dDims& d);
void bwd_data(const float* grad_out, const float* w, float* grad_x, const Conv2dDims& d);
// The weight gradient only (the caller sums the bias gradient).
void bwd_weight(const float* x, const float* grad_out, float* grad_w, const Conv2dDims& d);

}  // namespace ddpm::kernels::cpu::amx_conv
