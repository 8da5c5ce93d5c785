// draw_timesteps (a step's timesteps and q_sample coefficients from resident
// tables): kernels/cuda/draw_timesteps.cu on the emulation against
// kernels/cpu/draw_timesteps.cpp, bit for bit, over grid-stride tails and a
// one-step table.
// emu-kernels: kernels/cuda/draw_timesteps.cu kernels/cpu/draw_timesteps.cpp
#include "kernels/draw_timesteps.h"

#include <string>
#include <vector>

#include "tests/cuda_emu/emu_check.h"

namespace ddpm::emu_check {

using namespace ddpm::kernels;
namespace kc = ddpm::kernels::cuda;  // the launchers under test

void emu_draw_timesteps() {
  for (int64_t steps : {1000, 7, 1})
    for (int64_t batch : {1, 37, 300}) {
      const auto ta = random_vec(steps, 63, 0, 1), tb = random_vec(steps, 64, 0, 1);
      const DrawTimestepsDims d{batch, steps, 5, 3, 1000003};
      std::vector<float> wt(static_cast<size_t>(batch)), wa(wt.size()), wb(wt.size());
      cpu::draw_timesteps<float>(ta.data(), tb.data(), wt.data(), wa.data(), wb.data(), d);
      Buf a_tab = make(ta, false), b_tab = make(tb, false), t(batch, false), a(batch, false), b(batch, false);
      kc::draw_timesteps(a_tab.p, b_tab.p, t.p, a.p, b.p, d);
      const std::string name =
          "draw_timesteps T " + std::to_string(steps) + " batch " + std::to_string(batch);
      expect(name + " t", t.vec(), wt);
      expect(name + " a", a.vec(), wa);
      expect(name + " b", b.vec(), wb);
      bool in_range = true;
      for (float v : t.vec()) in_range = in_range && v >= 0 && v < static_cast<float>(steps);
      expect_true(name + " t in [0, T)", in_range);
    }
}

}  // namespace ddpm::emu_check
