// softmax and log_softmax over rows: K = 1, K = 10, odd K, K above the 128
// threads per row, logits ~ 1e4: kernels/cuda/softmax.cu on the emulation
// against kernels/cpu/softmax.cpp (tests/cuda_emu/emu_check.h).
// emu-kernels: kernels/cuda/softmax.cu kernels/cpu/softmax.cpp
#include "kernels/softmax.h"

#include <string>
#include <tuple>
#include <vector>

#include "tests/cuda_emu/emu_check.h"

namespace ddpm::emu_check {

using namespace ddpm::kernels;
namespace kc = ddpm::kernels::cuda;  // the launchers under test

void emu_softmax() {
  for (const auto& [n, k, scale] : std::vector<std::tuple<int64_t, int64_t, double>>{
           {3, 1, 1.0}, {4, 10, 3.0}, {5, 7, 1.0}, {2, 300, 2.0}, {3, 10, 1e4}}) {
    const std::string what = std::to_string(n) + "x" + std::to_string(k);
    const auto vz = random_vec(n * k, 50, -scale, scale);
    Buf z = make(vz, false);
    for (bool log : {false, true}) {
      const SoftmaxDims sd{n, k, log};
      Buf p(n * k, false);
      std::vector<float> wp(static_cast<size_t>(n * k));
      cpu::softmax_fwd<float>(vz.data(), wp.data(), sd);
      kc::softmax_fwd(z.p, p.p, sd);
      expect(std::string(log ? "log_softmax " : "softmax ") + what, p.vec(), wp, 1e-6);
    }
  }
}

}  // namespace ddpm::emu_check
