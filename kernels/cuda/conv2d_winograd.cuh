// Winograd F(2x2, 3x3) for the CUDA conv2d's three passes of 3x3 stride-1
// convolutions (kernels/cuda/conv2d_winograd.cu has the math):
// transforms, 16 GEMMs on cuBLAS (FP32 math or TF32 tensor cores, whatever
// the math mode) and an inverse transform. Conv2dCudaAlgo::winograd_fp32 /
// winograd_tf32 force it; conv2d's autotuner offers it in the FP32 / TF32
// families.
#pragma once

#include <cstdint>

#include "kernels/conv2d.h"

namespace ddpm::kernels::cuda {

// Whether the Winograd path applies to this shape's passes: K = 3,
// stride 1, padding <= 2 (bwd-data is the forward conv of gy with padding
// 2 - pad), and its scratch (the transformed input and gradient, the 16 GEMM
// outputs) under 2 GiB.
bool winograd_applies(const Conv2dDims& d);

// y = conv(x, w) + bias (+ add[n, co]; bias and add may be null); grad_x = conv2d_bwd_data(gy, w);
// grad_w = conv2d_bwd_weight(x, gy) (no bias gradient: the caller's).
// Device buffers, NCHW float32, on ddpm::cuda::stream(); winograd_applies(d)
// must hold (std::invalid_argument otherwise). tf32: the 16 GEMMs on TF32
// tensor cores (the transforms stay FP32), else FP32 math.
void conv2d_fwd_winograd(const float* x, const float* w, const float* bias, float* y, const Conv2dDims& d,
                         bool tf32, const float* add = nullptr);
void conv2d_bwd_data_winograd(const float* grad_out, const float* w, float* grad_x, const Conv2dDims& d,
                              bool tf32);
void conv2d_bwd_weight_winograd(const float* x, const float* grad_out, float* grad_w, const Conv2dDims& d,
                                bool tf32);

}  // namespace ddpm::kernels::cuda
