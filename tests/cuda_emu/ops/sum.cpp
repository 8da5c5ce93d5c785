// sum and mean (forward: the split reduction; backward: the scaled fill):
// kernels/cuda/sum.cu on the emulation against kernels/cpu/sum.cpp
// (tests/cuda_emu/emu_check.h). sum_to lives in binary.cu (ops/binary.cpp).
// emu-kernels: kernels/cuda/sum.cu kernels/cpu/sum.cpp
#include "kernels/sum.h"

#include <string>
#include <vector>

#include "tests/cuda_emu/emu_check.h"

namespace ddpm::emu_check {

using namespace ddpm::kernels;
namespace kc = ddpm::kernels::cuda;  // the launchers under test

void emu_sum() {
  for (int64_t n : {1, 3, 5, 4096, 100003, 300000})
    for (bool mis : {false, true}) {
      const auto vx = random_vec(n, 8);
      Buf x = make(vx, mis), out(1, false);
      // CPU: double accumulation in its order; emulated GPU: another order.
      const double total = cpu::sum<float>(vx.data(), n);
      kc::sum_fwd(x.p, out.p, n, 1.0);
      expect("sum n=" + std::to_string(n), out.vec(), {static_cast<float>(total)}, 1e-6);
      kc::sum_fwd(x.p, out.p, n, 1.0 / static_cast<double>(n));
      expect("mean n=" + std::to_string(n), out.vec(),
             {static_cast<float>(total * (1.0 / static_cast<double>(n)))}, 1e-6);
      const float g0 = 0.75f;
      Buf g = make({g0}, false), back(n, mis);
      std::vector<float> wb(static_cast<size_t>(n));
      cpu::fill_scaled<float>(&g0, wb.data(), n, 0.25);
      kc::sum_bwd(g.p, back.p, n, 0.25);
      expect("sum bwd n=" + std::to_string(n), back.vec(), wb);
    }
}

}  // namespace ddpm::emu_check
