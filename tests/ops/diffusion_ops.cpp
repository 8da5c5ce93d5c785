// The diffusion ops, without a backward: draw_timesteps (a training step's
// timesteps and q_sample coefficients from resident tables), q_sample (x_t,
// noise and target of a training step, noise from Philox), ddpm_step, ddim_step, dpm_solver_step
// and euler_ancestral_step (one sampler update each; DDPM's and
// Euler-ancestral's draw their own noise; DPM-Solver++'s also returns x0).
//
// Parity: epsilon and v targets, clipped or not, odd sizes and the training
// shape [4,1,32,32], 1e-6; the noise alone at 2^-23 (one ulp: the device's
// double log/cos may flip a float rounding). Bench: one 1x32x32 sample per
// batch element, against the unfused launches an eager framework makes and
// the memory roofline.
#include <string>
#include <utility>

#include "kernels/ddim_step.h"
#include "kernels/ddpm_step.h"
#include "kernels/dpm_solver_step.h"
#include "kernels/draw_timesteps.h"
#include "kernels/euler_ancestral_step.h"
#include "kernels/q_sample.h"
#include "tests/ops/common.h"

namespace ddpm::test {

using namespace cases;

namespace {

void add_diffusion_cases(std::vector<ParityCase>& cases) {
  // The training step's timesteps and coefficients: an integer Philox draw
  // and two table reads, the same bits on either device.
  for (const int64_t batch : {int64_t{1}, int64_t{300}})
    cases.push_back(ParityCase{"draw_timesteps", "T 1000, batch " + std::to_string(batch),
                               [batch](Device d) {
                                 const Tensor ta = parity_input({1000}, 13, d, 0, 1),
                                              tb = parity_input({1000}, 14, d, 0, 1);
                                 const kernels::TimestepDraw r =
                                     kernels::draw_timesteps(batch, 7, 1, uint64_t{1} << 33, ta, tb);
                                 return NamedResults{{"t", r.t}, {"a", r.a}, {"b", r.b}};
                               },
                               0.0, "an integer draw and table reads: exact"});
  for (const auto& [label, shape] : std::vector<std::pair<std::string, Shape>>{
           {"[3,5,7] (odd per sample)", {3, 5, 7}}, {"[4,1,32,32]", {4, 1, 32, 32}}})
    for (bool v_pred : {false, true}) {
      const std::string name = label + (v_pred ? ", v target" : ", epsilon target");
      cases.push_back(
          ParityCase{"q_sample", name,
                     [shape = shape, v_pred](Device d) {
                       const Tensor x0 = parity_input(shape, 10, d);
                       const Tensor a = parity_input({shape[0]}, 11, d, 0.1, 1),
                                    b = parity_input({shape[0]}, 12, d, 0.1, 1);
                       const kernels::QSampleResult q = kernels::q_sample(x0, a, b, 7, 2, 1000, v_pred);
                       return NamedResults{{"x_t", q.x_t}, {"noise", q.noise}, {"target", q.target}};
                     },
                     kRounding, kWhyRounding});
    }
  cases.push_back(ParityCase{"q_sample", "noise alone, [4,1,32,32] at offset 2^33",
                             [](Device d) {
                               const Tensor x0 = parity_input({4, 1, 32, 32}, 10, d);
                               const Tensor a = parity_input({4}, 11, d, 0.1, 1),
                                            b = parity_input({4}, 12, d, 0.1, 1);
                               const auto q = kernels::q_sample(x0, a, b, 7, 2, uint64_t{1} << 33, false);
                               return NamedResults{{"noise", q.noise}};
                             },
                             one_ulp(), kWhyNoise});

  for (const auto& [label, shape] :
       std::vector<std::pair<std::string, Shape>>{{"[3,5,7]", {3, 5, 7}}, {"[4,1,32,32]", {4, 1, 32, 32}}})
    for (bool v_pred : {false, true})
      for (bool clip : {false, true}) {
        const std::string name =
            label + (v_pred ? ", v" : ", epsilon") + (clip ? ", clipped x0" : "") + ", sigma > 0";
        cases.push_back(ParityCase{"ddpm_step", name,
                                   [shape = shape, v_pred, clip](Device d) {
                                     kernels::DdpmStepParams p;
                                     p.sqrt_ab = 0.6;
                                     p.sqrt_one_minus_ab = 0.8;
                                     p.c_x0 = 0.3;
                                     p.c_xt = 0.9;
                                     p.sigma = 0.2;
                                     p.clip_x0 = clip;
                                     p.v_pred = v_pred;
                                     p.seed = 5;
                                     p.stream = 4;
                                     p.offset = 4096;
                                     const Tensor x = parity_input(shape, 10, d, -3, 3);
                                     const Tensor m = parity_input(shape, 11, d, -2, 2);
                                     return NamedResults{{"x_prev", kernels::ddpm_step(x, m, p)}};
                                   },
                                   kRounding, kWhyRounding});
        for (bool second : {false, true})
          cases.push_back(ParityCase{"dpm_solver_step",
                                     label + (v_pred ? ", v" : ", epsilon") + (clip ? ", clipped x0" : "") +
                                         (second ? ", second order" : ", first order"),
                                     [shape = shape, v_pred, clip, second](Device d) {
                                       kernels::DpmSolverStepParams p;
                                       p.sqrt_ab = 0.6;
                                       p.sqrt_one_minus_ab = 0.8;
                                       p.c_x = 0.7;
                                       p.c_x0 = second ? 0.45 : 0.3;
                                       p.c_prev = second ? -0.15 : 0;
                                       p.clip_x0 = clip;
                                       p.v_pred = v_pred;
                                       const Tensor x = parity_input(shape, 10, d, -3, 3);
                                       const Tensor m = parity_input(shape, 11, d, -2, 2);
                                       const Tensor prev = second ? parity_input(shape, 12, d) : Tensor();
                                       const kernels::DpmSolverStepResult r =
                                           kernels::dpm_solver_step(x, m, prev, p);
                                       return NamedResults{{"x_prev", r.x_prev}, {"x0", r.x0}};
                                     },
                                     kRounding, kWhyRounding});
        cases.push_back(ParityCase{"euler_ancestral_step", name,
                                   [shape = shape, v_pred, clip](Device d) {
                                     kernels::EulerAncestralStepParams p;
                                     p.sqrt_ab = 0.6;
                                     p.sqrt_one_minus_ab = 0.8;
                                     p.sqrt_ab_prev = 0.7;
                                     p.sigma = 0.8 / 0.6;
                                     p.sigma_down = 0.9;
                                     p.sigma_up = 0.4;
                                     p.clip_x0 = clip;
                                     p.v_pred = v_pred;
                                     p.seed = 8;
                                     p.stream = 4;
                                     p.offset = 4096;
                                     const Tensor x = parity_input(shape, 10, d, -3, 3);
                                     const Tensor m = parity_input(shape, 11, d, -2, 2);
                                     return NamedResults{{"x_prev", kernels::euler_ancestral_step(x, m, p)}};
                                   },
                                   kRounding, kWhyRounding});
        cases.push_back(ParityCase{"ddim_step", name,
                                   [shape = shape, v_pred, clip](Device d) {
                                     kernels::DdimStepParams p;
                                     p.sqrt_ab = 0.6;
                                     p.sqrt_one_minus_ab = 0.8;
                                     p.sqrt_ab_prev = 0.7;
                                     p.c_eps = 0.5;
                                     p.sigma = 0.3;
                                     p.clip_x0 = clip;
                                     p.v_pred = v_pred;
                                     p.seed = 6;
                                     p.stream = 4;
                                     p.offset = 77;
                                     const Tensor x = parity_input(shape, 10, d, -3, 3);
                                     const Tensor m = parity_input(shape, 11, d, -2, 2);
                                     return NamedResults{{"x_prev", kernels::ddim_step(x, m, p)}};
                                   },
                                   kRounding, kWhyRounding});
      }
  // x_t = model output = 0 and sigma = 1: the step returns its noise z exactly.
  cases.push_back(ParityCase{"ddpm_step", "noise alone (x_t = model output = 0, sigma = 1), [3,5,7]",
                             [](Device d) {
                               kernels::DdpmStepParams p;
                               p.sqrt_ab = 0.6;
                               p.sqrt_one_minus_ab = 0.8;
                               p.c_x0 = 0.3;
                               p.c_xt = 0.9;
                               p.sigma = 1;
                               p.seed = 5;
                               p.stream = 4;
                               p.offset = 12345;
                               const Tensor z = Tensor::zeros({3, 5, 7}, DType::f32, d);
                               return NamedResults{{"noise", kernels::ddpm_step(z, z, p)}};
                             },
                             one_ulp(), kWhyNoise});
  cases.push_back(ParityCase{"ddim_step", "noise alone (x_t = model output = 0, sigma = 1), [3,5,7]",
                             [](Device d) {
                               kernels::DdimStepParams p;
                               p.sqrt_ab = 0.6;
                               p.sqrt_one_minus_ab = 0.8;
                               p.sqrt_ab_prev = 0.7;
                               p.c_eps = 0.5;
                               p.sigma = 1;
                               p.seed = 6;
                               p.stream = 4;
                               p.offset = 12345;
                               const Tensor z = Tensor::zeros({3, 5, 7}, DType::f32, d);
                               return NamedResults{{"noise", kernels::ddim_step(z, z, p)}};
                             },
                             one_ulp(), kWhyNoise});
  // x_t = model output = 0, sigma_up = 1, sqrt_ab_prev = 1: the step returns its noise z exactly.
  cases.push_back(ParityCase{"euler_ancestral_step",
                             "noise alone (x_t = model output = 0, sigma_up = 1), [3,5,7]",
                             [](Device d) {
                               kernels::EulerAncestralStepParams p;
                               p.sqrt_ab = 0.6;
                               p.sqrt_one_minus_ab = 0.8;
                               p.sqrt_ab_prev = 1;
                               p.sigma = 0.8 / 0.6;
                               p.sigma_down = 0.5;
                               p.sigma_up = 1;
                               p.seed = 8;
                               p.stream = 4;
                               p.offset = 12345;
                               const Tensor z = Tensor::zeros({3, 5, 7}, DType::f32, d);
                               return NamedResults{{"noise", kernels::euler_ancestral_step(z, z, p)}};
                             },
                             one_ulp(), kWhyNoise});
}

BenchShape sample_shape(const std::string& label) {
  BenchShape b;
  b.label = label;
  b.sample = {1, 32, 32};
  return b;
}

}  // namespace

std::vector<OpCases> diffusion_op_cases() {
  std::vector<ParityCase> all;
  add_diffusion_cases(all);
  std::vector<OpCases> ops;
  OpCases draw{"draw_timesteps", {}, {}, {}};  // one launch of B threads: no bench row
  for (const ParityCase& p : all)
    if (p.op == draw.op) draw.parity.push_back(p);
  ops.push_back(draw);
  for (const auto& [op, bench] :
       std::vector<std::pair<std::string, std::string>>{{"q_sample", "1x32x32 eps-target"},
                                                        {"ddpm_step", "1x32x32 eps clip"},
                                                        {"ddim_step", "1x32x32 eta0 clip"},
                                                        {"dpm_solver_step", "1x32x32 2nd order clip"},
                                                        {"euler_ancestral_step", "1x32x32 eps clip"}}) {
    OpCases c{op, {}, {}, {sample_shape(bench)}};
    for (const ParityCase& p : all)
      if (p.op == op) c.parity.push_back(p);
    ops.push_back(c);
  }
  return ops;
}

}  // namespace ddpm::test
