// Precision of the CUDA dense kernels: conv2d's implicit GEMMs and the cuBLAS
// GEMMs of linear and matmul, and (bf16 only) the CPU's conv2d.
//
//   fp32 (default): strict FP32 multiply-adds; CUDA results differ from the
//        CPU's only by the order of the sums.
//   tf32: GEMM operands rounded to TF32 (10-bit mantissa, round to nearest)
//        and multiplied on tensor cores with FP32 accumulation: ~1e-3
//        relative error per product, several times faster.
//   bf16: GEMM operands rounded to BF16 (8-bit mantissa, round to nearest
//        even) with FP32 accumulation: ~4e-3 relative error per product.
//        Today only the CPU's conv2d has it (kernels/cpu/conv2d_bf16.h: Intel
//        AMX or AVX512-BF16); every other kernel, and every CUDA kernel,
//        runs it as fp32. kernels/precision.h's apply_precision sets it for
//        --precision bf16 on the CPU only.
//
// A process-wide setting (an atomic), read when an op is launched; a model
// trained in one mode can be run in the other.
#pragma once

namespace ddpm::kernels {

enum class MathMode { fp32, tf32, bf16 };

MathMode math_mode();
void set_math_mode(MathMode mode);
const char* math_mode_name(MathMode mode);

// Sets the mode for a scope and restores the previous one.
class MathModeScope {
 public:
  explicit MathModeScope(MathMode mode) : prev_(math_mode()) { set_math_mode(mode); }
  ~MathModeScope() { set_math_mode(prev_); }
  MathModeScope(const MathModeScope&) = delete;
  MathModeScope& operator=(const MathModeScope&) = delete;

 private:
  MathMode prev_;
};

}  // namespace ddpm::kernels
