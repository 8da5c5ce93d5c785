#include "kernels/dpm_solver_step.h"

#include <string>

#include "kernels/dispatch.h"

namespace ddpm::kernels {

DpmSolverStepResult dpm_solver_step(const Tensor& x_t, const Tensor& model_out, const Tensor& x0_prev,
                                    const DpmSolverStepParams& p) {
  check_defined(x_t, "dpm_solver_step", "x_t");
  check_all_like("dpm_solver_step", x_t, {&model_out, &x0_prev});
  check_shape(model_out, x_t.shape(), "dpm_solver_step", "model output");
  if (x0_prev.defined())
    check_shape(x0_prev, x_t.shape(), "dpm_solver_step", "previous x0");
  else if (p.c_prev != 0)
    throw std::invalid_argument("dpm_solver_step: c_prev = " + std::to_string(p.c_prev) +
                                " (a second-order step) needs the previous x0, and none was given");
  if (p.sqrt_ab <= 0 || p.sqrt_one_minus_ab <= 0)
    throw std::invalid_argument("dpm_solver_step: need 0 < alphabar_t < 1");
  DpmSolverStepResult r{Tensor::empty(x_t.shape(), x_t.dtype(), x_t.device()),
                        Tensor::empty(x_t.shape(), x_t.dtype(), x_t.device())};
  const bool prev = x0_prev.defined() && p.c_prev != 0;
  on_device(
      "dpm_solver_step", x_t,
      [&](auto t) {
        using T = decltype(t);
        cpu::dpm_solver_step<T>(x_t.data<T>(), model_out.data<T>(), prev ? x0_prev.data<T>() : nullptr,
                                r.x_prev.data<T>(), r.x0.data<T>(), x_t.numel(), p);
      },
      [&](auto) {
        cuda::dpm_solver_step(x_t.data<float>(), model_out.data<float>(),
                              prev ? x0_prev.data<float>() : nullptr, r.x_prev.data<float>(),
                              r.x0.data<float>(), x_t.numel(), p);
      });
  return r;
}

}  // namespace ddpm::kernels
