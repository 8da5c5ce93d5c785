// adam_update (no weight decay, L2, decoupled; with and without the fused
// EMA): kernels/cuda/adam_update.cu on
// the emulation against kernels/cpu/adam_update.cpp
// (tests/cuda_emu/emu_check.h).
// emu-kernels: kernels/cuda/adam_update.cu kernels/cpu/adam_update.cpp
#include "kernels/adam_update.h"

#include <string>
#include <vector>

#include "tests/cuda_emu/emu_check.h"

namespace ddpm::emu_check {

using namespace ddpm::kernels;
namespace kc = ddpm::kernels::cuda;  // the launchers under test

void emu_adam_update() {
  for (int64_t n : {1, 7, 1003})
    for (int mode = 0; mode < 3; ++mode)
      for (bool mis : {false, true})
        for (bool with_ema : {false, true}) {
          AdamParams p;
          p.lr = 1e-2;
          p.weight_decay = mode == 0 ? 0.0 : 0.1;
          p.decoupled = mode == 2;
          p.step = 3;
          p.ema_decay = 0.995;
          auto w = random_vec(n, 80), g = random_vec(n, 81), m = random_vec(n, 82),
               v = random_vec(n, 83, 0, 1);
          auto e = random_vec(n, 84);
          Buf dw = make(w, mis), dg = make(g, mis), dm = make(m, mis), dv = make(v, mis), de = make(e, mis);
          cpu::adam_update<float>(w.data(), g.data(), m.data(), v.data(), with_ema ? e.data() : nullptr, n,
                                  p);
          kc::adam_update(dw.p, dg.p, dm.p, dv.p, with_ema ? de.p : nullptr, n, p);
          const std::string at = " n=" + std::to_string(n) + (with_ema ? " with ema" : "");
          expect("adam param" + at, dw.vec(), w);
          expect("adam exp_avg" + at, dm.vec(), m);
          expect("adam exp_avg_sq" + at, dv.vec(), v);
          expect("adam ema" + at, de.vec(), e);  // untouched without it
        }
}

}  // namespace ddpm::emu_check
