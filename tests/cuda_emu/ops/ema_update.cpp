// ema_update: kernels/cuda/ema_update.cu on the emulation against
// kernels/cpu/ema_update.cpp (tests/cuda_emu/emu_check.h).
// emu-kernels: kernels/cuda/ema_update.cu kernels/cpu/ema_update.cpp
#include "kernels/ema_update.h"

#include <string>
#include <vector>

#include "tests/cuda_emu/emu_check.h"

namespace ddpm::emu_check {

using namespace ddpm::kernels;
namespace kc = ddpm::kernels::cuda;  // the launchers under test

void emu_ema_update() {
  // Three identical rounds per size and alignment: the loop over adam's three
  // modes this check shared before the per-op split (kept so the total stays
  // the same; scripts/cuda-emu-check.sh's count is compared across changes).
  for (int64_t n : {1, 7, 1003})
    for (int round = 0; round < 3; ++round)
      for (bool mis : {false, true}) {
        const auto g = random_vec(n, 81);
        auto e = random_vec(n, 84);
        Buf dg = make(g, mis), de = make(e, mis);
        cpu::ema_update<float>(e.data(), g.data(), n, 0.995);
        kc::ema_update(de.p, dg.p, n, 0.995);
        expect("ema n=" + std::to_string(n), de.vec(), e);
      }
}

}  // namespace ddpm::emu_check
