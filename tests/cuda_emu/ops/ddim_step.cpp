// ddim_step (eps or v prediction, x0 clipping, eta 0 and > 0):
// kernels/cuda/ddim_step.cu on the emulation against kernels/cpu/ddim_step.cpp
// (tests/cuda_emu/emu_check.h).
// emu-kernels: kernels/cuda/ddim_step.cu kernels/cpu/ddim_step.cpp
#include "kernels/ddim_step.h"

#include <string>
#include <vector>

#include "tests/cuda_emu/emu_check.h"

namespace ddpm::emu_check {

using namespace ddpm::kernels;
namespace kc = ddpm::kernels::cuda;  // the launchers under test

void emu_ddim_step() {
  for (int64_t n : {1, 6, 64, 1001})
    for (bool clip : {false, true})
      for (bool v_pred : {false, true})
        for (double sigma : {0.0, 0.3}) {
          const auto vx = random_vec(n, 70, -3, 3), vm = random_vec(n, 71, -2, 2);
          DdimStepParams q;
          q.sqrt_ab = 0.6;
          q.sqrt_one_minus_ab = 0.8;
          q.sqrt_ab_prev = 0.7;
          q.c_eps = 0.5;
          q.sigma = sigma;
          q.clip_x0 = clip;
          q.v_pred = v_pred;
          q.seed = 6;
          q.stream = 4;
          q.offset = 77;
          std::vector<float> want(static_cast<size_t>(n));
          cpu::ddim_step<float>(vx.data(), vm.data(), want.data(), n, q);
          Buf x = make(vx, n % 2 == 1), m = make(vm, n % 2 == 1), out(n, n % 2 == 1);
          kc::ddim_step(x.p, m.p, out.p, n, q);
          expect("ddim_step n=" + std::to_string(n), out.vec(), want);
        }
}

}  // namespace ddpm::emu_check
