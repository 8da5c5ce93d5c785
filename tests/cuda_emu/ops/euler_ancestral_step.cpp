// euler_ancestral_step (eps or v prediction, x0 clipping, with and without
// noise, the clean end): kernels/cuda/euler_ancestral_step.cu on the
// emulation against kernels/cpu/euler_ancestral_step.cpp
// (tests/cuda_emu/emu_check.h).
// emu-kernels: kernels/cuda/euler_ancestral_step.cu kernels/cpu/euler_ancestral_step.cpp
#include "kernels/euler_ancestral_step.h"

#include <string>
#include <vector>

#include "tests/cuda_emu/emu_check.h"

namespace ddpm::emu_check {

using namespace ddpm::kernels;
namespace kc = ddpm::kernels::cuda;  // the launchers under test

void emu_euler_ancestral_step() {
  for (int64_t n : {1, 6, 64, 1001})
    for (bool clip : {false, true})
      for (bool v_pred : {false, true})
        for (double sigma_up : {0.0, 0.4}) {
          const auto vx = random_vec(n, 90, -3, 3), vm = random_vec(n, 91, -2, 2);
          EulerAncestralStepParams q;
          q.sqrt_ab = 0.6;
          q.sqrt_one_minus_ab = 0.8;
          q.sqrt_ab_prev = 0.7;
          q.sigma = 0.8 / 0.6;
          q.sigma_down = 0.9;
          q.sigma_up = sigma_up;
          q.clip_x0 = clip;
          q.v_pred = v_pred;
          q.seed = 8;
          q.stream = 4;
          q.offset = 99;
          std::vector<float> want(static_cast<size_t>(n));
          cpu::euler_ancestral_step<float>(vx.data(), vm.data(), want.data(), n, q);
          Buf x = make(vx, n % 2 == 1), m = make(vm, n % 2 == 1), out(n, n % 2 == 1);
          kc::euler_ancestral_step(x.p, m.p, out.p, n, q);
          expect("euler_ancestral_step n=" + std::to_string(n), out.vec(), want);
        }
}

}  // namespace ddpm::emu_check
