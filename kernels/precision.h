// Precision: what the programs' --precision flag names (ddpm-train,
// ddpm-sample, ddpm-bench-e2e), one level above MathMode:
//
//   fp32  float32 storage and strict FP32 multiply-adds everywhere
//         (MathMode::fp32). The default.
//   tf32  float32 storage; on a GPU the dense kernels (conv2d, linear,
//         matmul) round their operands to TF32 on tensor cores with FP32
//         accumulation (MathMode::tf32). The CPU kernels have no TF32 and run
//         FP32: asking for it there is allowed and says so.
//   bf16  MathMode::bf16: the convolutions round their operands to BF16 and
//         accumulate in FP32: on the CPU with Intel AMX or AVX512-BF16 where
//         the machine has them (kernels/cpu/bf16_gemm.h), on the GPU on BF16
//         tensor cores (the BF16 implicit GEMMs of kernels/cuda/conv2d.cu,
//         rounding as they read FP32 tensors); weights, activations,
//         gradients, GEMMs, Adam and EMA stay FP32 (so the FP32 weights are
//         the master copy). BF16 activations in memory are not built. The
//         tensor library also has a bf16 storage dtype (tensor/bf16.h) and
//         checkpoints export to BF16.
#pragma once

#include <string>

#include "tensor/dtype.h"

namespace ddpm::kernels {

enum class Precision { fp32, tf32, bf16 };

// "fp32", "tf32", "bf16".
const char* precision_name(Precision p);

// The inverse of precision_name; throws std::invalid_argument naming the
// value and the choices.
Precision parse_precision(const std::string& name);

// Sets up the process to run at p on device (the MathMode). Returns a note
// for the log where the request means less or other than it says ("" when
// none): tf32 on the CPU runs FP32; bf16 names what runs in BF16 (on the CPU
// with its backend).
std::string apply_precision(Precision p, Device device);

}  // namespace ddpm::kernels
