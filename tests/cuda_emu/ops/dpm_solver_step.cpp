// dpm_solver_step (eps or v prediction, x0 clipping, first order without the
// previous x0 and second order with it):
// kernels/cuda/dpm_solver_step.cu on the emulation against
// kernels/cpu/dpm_solver_step.cpp (tests/cuda_emu/emu_check.h).
// emu-kernels: kernels/cuda/dpm_solver_step.cu kernels/cpu/dpm_solver_step.cpp
#include "kernels/dpm_solver_step.h"

#include <string>
#include <vector>

#include "tests/cuda_emu/emu_check.h"

namespace ddpm::emu_check {

using namespace ddpm::kernels;
namespace kc = ddpm::kernels::cuda;  // the launchers under test

void emu_dpm_solver_step() {
  for (int64_t n : {1, 6, 64, 1001})
    for (bool clip : {false, true})
      for (bool v_pred : {false, true})
        for (bool second : {false, true}) {
          const auto vx = random_vec(n, 80, -3, 3), vm = random_vec(n, 81, -2, 2), vp = random_vec(n, 82);
          DpmSolverStepParams q;
          q.sqrt_ab = 0.6;
          q.sqrt_one_minus_ab = 0.8;
          q.c_x = 0.7;
          q.c_x0 = second ? 0.45 : 0.3;
          q.c_prev = second ? -0.15 : 0;
          q.clip_x0 = clip;
          q.v_pred = v_pred;
          const bool mis = n % 2 == 1;
          std::vector<float> want(static_cast<size_t>(n)), want_x0(static_cast<size_t>(n));
          cpu::dpm_solver_step<float>(vx.data(), vm.data(), second ? vp.data() : nullptr, want.data(),
                                      want_x0.data(), n, q);
          Buf x = make(vx, mis), m = make(vm, mis), prev = make(vp, mis), out(n, mis), x0(n, mis);
          kc::dpm_solver_step(x.p, m.p, second ? prev.p : nullptr, out.p, x0.p, n, q);
          const std::string what =
              "dpm_solver_step n=" + std::to_string(n) + (second ? " 2nd order" : " 1st order");
          expect(what + " x_prev", out.vec(), want);
          expect(what + " x0", x0.vec(), want_x0);
        }
  // One misaligned operand among aligned ones: the scalar variant for all.
  const int64_t n = 64;
  const auto vx = random_vec(n, 80, -3, 3), vm = random_vec(n, 81, -2, 2), vp = random_vec(n, 82);
  DpmSolverStepParams q;
  q.sqrt_ab = 0.6;
  q.sqrt_one_minus_ab = 0.8;
  q.c_x = 0.7;
  q.c_x0 = 0.45;
  q.c_prev = -0.15;
  std::vector<float> want(n), want_x0(n);
  cpu::dpm_solver_step<float>(vx.data(), vm.data(), vp.data(), want.data(), want_x0.data(), n, q);
  Buf x = make(vx, false), m = make(vm, false), prev = make(vp, true), out(n, false), x0(n, false);
  kc::dpm_solver_step(x.p, m.p, prev.p, out.p, x0.p, n, q);
  expect("dpm_solver_step misaligned previous x0 x_prev", out.vec(), want);
  expect("dpm_solver_step misaligned previous x0 x0", x0.vec(), want_x0);
}

}  // namespace ddpm::emu_check
