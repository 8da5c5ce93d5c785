#include "kernels/math_mode.h"

#include <atomic>

namespace ddpm::kernels {

namespace {
std::atomic<MathMode> g_mode{MathMode::fp32};
}

MathMode math_mode() { return g_mode.load(std::memory_order_relaxed); }

void set_math_mode(MathMode mode) { g_mode.store(mode, std::memory_order_relaxed); }

const char* math_mode_name(MathMode mode) {
  switch (mode) {
    case MathMode::tf32:
      return "tf32";
    case MathMode::bf16:
      return "bf16";
    case MathMode::fp32:
      break;
  }
  return "fp32";
}

}  // namespace ddpm::kernels
