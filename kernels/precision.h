// Precision: what the programs' --precision flag names (ddpm-train,
// ddpm-sample, ddpm-bench-e2e), one level above MathMode:
//
//   fp32  float32 storage and strict FP32 multiply-adds everywhere
//         (MathMode::fp32). The default.
//   tf32  float32 storage; on a GPU the dense kernels (conv2d, linear,
//         matmul) round their operands to TF32 on tensor cores with FP32
//         accumulation (MathMode::tf32). The CPU kernels have no TF32 and run
//         FP32: asking for it there is allowed and says so.
//   bf16  BF16 activations and conv inputs, FP32 master weights and
//         accumulation. The tensor library has the bf16 dtype (tensor/bf16.h)
//         and checkpoints export to BF16, but no op has bf16 kernels yet, so
//         apply_precision refuses it with a message saying what to use.
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

// Sets up the process to run at p on device: the MathMode for fp32 and tf32.
// Returns a note for the log where the request means less than it says
// ("" when none: tf32 on the CPU runs FP32). Throws std::runtime_error for
// bf16, whose kernels do not exist yet, leaving the MathMode unchanged.
std::string apply_precision(Precision p, Device device);

}  // namespace ddpm::kernels
