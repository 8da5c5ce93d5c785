#include "kernels/precision.h"

#include <stdexcept>

#include "kernels/cpu/bf16_gemm.h"
#include "kernels/math_mode.h"

namespace ddpm::kernels {

const char* precision_name(Precision p) {
  switch (p) {
    case Precision::tf32:
      return "tf32";
    case Precision::bf16:
      return "bf16";
    case Precision::fp32:
      break;
  }
  return "fp32";
}

Precision parse_precision(const std::string& name) {
  for (const Precision p : {Precision::fp32, Precision::tf32, Precision::bf16})
    if (name == precision_name(p)) return p;
  throw std::invalid_argument("precision '" + name + "': expected fp32, tf32 or bf16");
}

std::string apply_precision(Precision p, Device device) {
  switch (p) {
    case Precision::bf16:
      set_math_mode(MathMode::bf16);
      if (device == Device::cuda)
        return "--precision bf16 on the GPU: convolutions on BF16 tensor cores (operands rounded to BF16 as "
               "the kernels read them, FP32 accumulation); weights, activations, GEMMs, optimizer state and "
               "every other op stay FP32";
      {
        const cpu::bf16gemm::Backend b = cpu::bf16gemm::backend();
        return std::string(
                   "--precision bf16 on the CPU: convolutions multiply BF16-rounded operands with FP32 "
                   "accumulation (") +
               cpu::bf16gemm::backend_name(b) +
               (b == cpu::bf16gemm::Backend::amx
                    ? ""
                    : "; 3x3 convolutions by Winograd F(2x2,3x3), whose transforms "
                      "are the rounded operands") +
               "); weights, activations, optimizer state and every other op stay FP32";
      }
    case Precision::tf32:
      set_math_mode(MathMode::tf32);
      return device == Device::cuda ? ""
                                    : "--precision tf32 on the CPU: the CPU kernels have no TF32 and run "
                                      "FP32 (TF32 applies to the GPU's dense kernels)";
    case Precision::fp32:
      break;
  }
  set_math_mode(MathMode::fp32);
  return "";
}

}  // namespace ddpm::kernels
