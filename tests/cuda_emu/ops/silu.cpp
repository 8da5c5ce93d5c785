// silu (forward and backward): kernels/cuda/silu.cu on the emulation against
// kernels/cpu/silu.cpp (tests/cuda_emu/emu_check.h).
// emu-kernels: kernels/cuda/silu.cu kernels/cpu/silu.cpp
#include "kernels/silu.h"

#include <string>
#include <vector>

#include "tests/cuda_emu/emu_check.h"

namespace ddpm::emu_check {

using namespace ddpm::kernels;
namespace kc = ddpm::kernels::cuda;  // the launchers under test

void emu_silu() {
  for (int64_t n : {1, 5, 8, 1003})
    for (bool mis : {false, true}) {
      auto vx = random_vec(n, 6, -12, 12);
      if (n > 4) vx[2] = -100.0f;
      const auto vg = random_vec(n, 7);
      std::vector<float> wy(static_cast<size_t>(n)), wg(static_cast<size_t>(n));
      cpu::silu_fwd<float>(vx.data(), wy.data(), n);
      cpu::silu_bwd<float>(vx.data(), vg.data(), wg.data(), n);
      Buf x = make(vx, mis), y(n, mis), g = make(vg, mis), gx(n, mis);
      kc::silu_fwd(x.p, y.p, n);
      kc::silu_bwd(x.p, g.p, gx.p, n);
      // The CPU float kernel uses a polynomial exp (about 1 ulp).
      expect("silu fwd n=" + std::to_string(n), y.vec(), wy, 1e-6);
      expect("silu bwd n=" + std::to_string(n), gx.vec(), wg, 1e-6);
    }
}

}  // namespace ddpm::emu_check
