// mse_loss (forward: the split reduction; backward into the prediction, the
// target or both): kernels/cuda/mse_loss.cu on the emulation against
// kernels/cpu/mse_loss.cpp (tests/cuda_emu/emu_check.h).
// emu-kernels: kernels/cuda/mse_loss.cu kernels/cpu/mse_loss.cpp
#include "kernels/mse_loss.h"

#include <string>
#include <vector>

#include "tests/cuda_emu/emu_check.h"

namespace ddpm::emu_check {

using namespace ddpm::kernels;
namespace kc = ddpm::kernels::cuda;  // the launchers under test

void emu_mse_loss() {
  for (int64_t n : {1, 3, 5, 4096, 100003, 300000})
    for (bool mis : {false, true}) {
      const auto vx = random_vec(n, 8), vt = random_vec(n, 9);
      Buf x = make(vx, mis), t = make(vt, mis), out(1, false);
      const MseLossDims d{n};
      kc::mse_loss_fwd(x.p, t.p, out.p, d);
      expect("mse_loss n=" + std::to_string(n), out.vec(),
             {static_cast<float>(cpu::mse_loss_fwd<float>(vx.data(), vt.data(), nullptr, d))}, 1e-6);
      const float g0 = 0.75f;
      Buf g = make({g0}, false), gp(n, mis), gt(n, mis);
      std::vector<float> wp(static_cast<size_t>(n)), wt(static_cast<size_t>(n));
      cpu::mse_loss_bwd<float>(vx.data(), vt.data(), &g0, wp.data(), wt.data(), d);
      kc::mse_loss_bwd(x.p, t.p, g.p, gp.p, gt.p, d);
      expect("mse_loss bwd pred n=" + std::to_string(n), gp.vec(), wp);
      expect("mse_loss bwd target n=" + std::to_string(n), gt.vec(), wt);
      Buf only_t(n, mis);
      kc::mse_loss_bwd(x.p, t.p, g.p, nullptr, only_t.p, d);
      expect("mse_loss bwd target only", only_t.vec(), wt);
    }
}

}  // namespace ddpm::emu_check
