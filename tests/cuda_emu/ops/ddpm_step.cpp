// ddpm_step (eps or v prediction, x0 clipping, with and without noise):
// kernels/cuda/ddpm_step.cu on the emulation against kernels/cpu/ddpm_step.cpp
// (tests/cuda_emu/emu_check.h).
// emu-kernels: kernels/cuda/ddpm_step.cu kernels/cpu/ddpm_step.cpp
#include "kernels/ddpm_step.h"

#include <string>
#include <vector>

#include "tests/cuda_emu/emu_check.h"

namespace ddpm::emu_check {

using namespace ddpm::kernels;
namespace kc = ddpm::kernels::cuda;  // the launchers under test

void emu_ddpm_step() {
  for (int64_t n : {1, 6, 64, 1001})
    for (bool clip : {false, true})
      for (bool v_pred : {false, true})
        for (double sigma : {0.0, 0.3}) {
          const auto vx = random_vec(n, 70, -3, 3), vm = random_vec(n, 71, -2, 2);
          DdpmStepParams p;
          p.sqrt_ab = 0.6;
          p.sqrt_one_minus_ab = 0.8;
          p.c_x0 = 0.3;
          p.c_xt = 0.9;
          p.sigma = sigma;
          p.clip_x0 = clip;
          p.v_pred = v_pred;
          p.seed = 5;
          p.stream = 4;
          p.offset = 1000;
          std::vector<float> want(static_cast<size_t>(n));
          cpu::ddpm_step<float>(vx.data(), vm.data(), want.data(), n, p);
          Buf x = make(vx, n % 2 == 1), m = make(vm, n % 2 == 1), out(n, n % 2 == 1);
          kc::ddpm_step(x.p, m.p, out.p, n, p);
          expect("ddpm_step n=" + std::to_string(n), out.vec(), want);
        }
}

}  // namespace ddpm::emu_check
