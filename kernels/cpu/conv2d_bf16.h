// conv2d on BF16 operands with FP32 accumulation: what the CPU runs for
// float tensors under MathMode::bf16 (--precision bf16). Inputs, weights and
// gradients stay float in memory; each GEMM rounds its operands to BF16 as it
// packs them (kernels/cpu/bf16_gemm.h: Intel AMX where the machine has it,
// AVX512-BF16 or plain loops otherwise) and sums in FP32.
//
// Which path runs (a fixed rule, conv2d_bf16.cpp's winograd_bf16; no
// timing):
//   - Winograd F(2x2, 3x3) (kernels/cpu/conv2d_winograd.h) for 3x3 stride-1
//     convs of 16+ channels each way when the GEMM backend is not AMX: the
//     transformed operands (G g G^T and B^T d B; for the weight gradient
//     B^T d B and A dY A^T) are rounded to BF16, so each output is within
//     (2^-7 + 2^-16 + FP32 sums) times the "absolute Winograd" of |x|, |w|
//     (tests/test_bf16_conv.cpp computes and checks that bound);
//   - on AMX, stride 1: the direct convolution of conv2d_amx.h;
//   - otherwise im2col GEMMs (kernels/conv2d.h gives the matrices), over
//     chunks of 256 output columns (or whole images for bwd-data, whose
//     col2im must not race):
//       fwd        Y [Cout, cols] = W [Cout, CKK] . col [CKK, cols]
//       bwd-data   gcol [CKK, cols] = W^T [CKK, Cout] . gY [Cout, cols]; col2im
//       bwd-weight gW^T [CKK, Cout] += col [CKK, cols] . gY^T [cols, Cout],
//                  rows of gW^T split between threads, chunks in order, so
//                  the result does not depend on the thread count.
// The direct paths round the operands themselves (every product exact in
// FP32); Winograd rounds their transforms, an error of the same order.
// The bias and its gradient stay FP32 (the gradient summed in double).
#pragma once

#include "kernels/conv2d.h"

namespace ddpm::kernels::cpu {

void conv2d_fwd_bf16(const float* x, const float* w, const float* bias, float* y, const Conv2dDims& d);
void conv2d_bwd_data_bf16(const float* grad_out, const float* w, float* grad_x, const Conv2dDims& d);
void conv2d_bwd_weight_bf16(const float* x, const float* grad_out, float* grad_w, float* grad_bias,
                            const Conv2dDims& d);

}  // namespace ddpm::kernels::cpu
