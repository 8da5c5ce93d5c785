// q_sample, ddpm_step, ddim_step, dpm_solver_step, euler_ancestral_step at the shapes of
// tests/ops/diffusion_ops.cpp against the unfused sequence of one-op kernels an eager framework launches
// (benchmarks/unfused_kernels.h; the sequences are spelled out below) and the
// memory roofline; checked against the CPU kernels (same Philox noise).
#include "benchmarks/kernel_bench/bench.h"
#include "benchmarks/unfused_kernels.h"
#include "kernels/ddim_step.h"
#include "kernels/ddpm_step.h"
#include "kernels/dpm_solver_step.h"
#include "kernels/euler_ancestral_step.h"
#include "kernels/q_sample.h"
#include "tensor/rng.h"

namespace ddpm::bench {

void Bench::q_sample() {
  for (const test::BenchShape& bs : bench_shapes("q_sample"))
    for (int64_t B : batches_) {
      Shape s = bs.sample;
      s.insert(s.begin(), B);
      const int64_t P = shape_numel(bs.sample), N = B * P;
      const Tensor x0 = rand_uniform(s, -1, 1, 4, 1, DType::f32, Device::cuda);
      const auto [av, bv] = qsample_coefs(B);
      const Tensor a = device(av, {B}), b = device(bv, {B});
      const kernels::QSampleResult cpu =
          kernels::q_sample(x0.to(Device::cpu), a.to(Device::cpu), b.to(Device::cpu), 7, 11, 0, false);
      Row r;
      r.op = "q_sample";
      r.shape = bs.label;
      r.batch = B;
      r.bytes = (3 * dbl(N) + 2 * dbl(B)) * 4;  // x0, a, b in; x_t, noise (= target) out
      r.tol = kTolElementwise;
      r.check_against = "CPU kernel (same Philox noise)";
      // Unfused, as the seed's add_noise: noise = randn_like(x0);
      // sqrt_a.view(-1,1,1,1) * x0; sqrt_1ma.view(-1,1,1,1) * noise; add.
      r.ref_kind = RefKind::unfused;
      r.ref_detail = "4 launches: randn, mul, mul, add";
      Tensor noise = Tensor::empty(s, DType::f32, Device::cuda),
             t1 = Tensor::empty(s, DType::f32, Device::cuda), t2 = Tensor::empty(s, DType::f32, Device::cuda),
             xt = Tensor::empty(s, DType::f32, Device::cuda);
      auto unfused_seq = [&] {
        bench::unfused::randn(noise.data<float>(), N, 7, 0, s_);
        bench::unfused::mul_per_sample(t1.data<float>(), x0.data<float>(), a.data<float>(), P, N, s_);
        bench::unfused::mul_per_sample(t2.data<float>(), noise.data<float>(), b.data<float>(), P, N, s_);
        bench::unfused::add(xt.data<float>(), t1.data<float>(), t2.data<float>(), 1.0f, N, s_);
      };
      run_ref(
          r,
          [&] {
            unfused_seq();
            const std::vector<float> hx = host(x0), hn = host(noise), got = host(xt);
            std::vector<float> want(hx.size());
            for (size_t i = 0; i < want.size(); ++i) want[i] = av[i / P] * hx[i] + bv[i / P] * hn[i];
            return norm_err(got, want);
          },
          unfused_seq);
      kernels::QSampleResult out;
      auto ours = [&] { out = kernels::q_sample(x0, a, b, 7, 11, 0, false); };
      run_ours(
          r,
          [&] {
            ours();
            return std::max(norm_err(out.x_t, cpu.x_t), norm_err(out.noise, cpu.noise));
          },
          ours);
      print(r);
      rows.push_back(r);
    }
}

void Bench::ddpm_step() {
  const kernels::DdpmStepParams p = ddpm_params();
  for (const test::BenchShape& bs : bench_shapes("ddpm_step"))
    for (int64_t B : batches_) {
      Shape s = bs.sample;
      s.insert(s.begin(), B);
      const int64_t N = B * shape_numel(bs.sample);
      const Tensor x = randn(s, 5, 1, DType::f32, Device::cuda);
      const Tensor eps = randn(s, 5, 2, DType::f32, Device::cuda);
      const std::vector<float> cpu = host(kernels::ddpm_step(x.to(Device::cpu), eps.to(Device::cpu), p));
      Row r;
      r.op = "ddpm_step";
      r.shape = bs.label;
      r.batch = B;
      r.bytes = 3 * dbl(N) * 4;  // x_t, model output in; x_prev out
      r.tol = kTolElementwise;
      r.check_against = "CPU kernel (same Philox noise)";
      // Unfused, as diffusers' DDPMScheduler.step (epsilon, clip_sample):
      // x0 = (x - b*eps) / a; clamp; mean = c_x0*x0 + c_xt*x; z = randn;
      // x_prev = mean + sigma*z.
      r.ref_kind = RefKind::unfused;
      r.ref_detail = "10 launches: mul, sub, div, clamp, mul, mul, add, randn, mul, add";
      auto buf = [&] { return Tensor::empty(s, DType::f32, Device::cuda); };
      Tensor t1 = buf(), t2 = buf(), x0 = buf(), x0c = buf(), t3 = buf(), t4 = buf(), mean = buf(), z = buf(),
             t5 = buf(), xp = buf();
      const float a = static_cast<float>(p.sqrt_ab), bb = static_cast<float>(p.sqrt_one_minus_ab),
                  cx0 = static_cast<float>(p.c_x0), cxt = static_cast<float>(p.c_xt),
                  sg = static_cast<float>(p.sigma);
      auto unfused_seq = [&] {
        namespace u = bench::unfused;
        u::mul_scalar(t1.data<float>(), eps.data<float>(), bb, N, s_);
        u::add(t2.data<float>(), x.data<float>(), t1.data<float>(), -1.0f, N, s_);
        u::mul_scalar(x0.data<float>(), t2.data<float>(), 1.0f / a, N, s_);
        u::clamp(x0c.data<float>(), x0.data<float>(), -1.0f, 1.0f, N, s_);
        u::mul_scalar(t3.data<float>(), x0c.data<float>(), cx0, N, s_);
        u::mul_scalar(t4.data<float>(), x.data<float>(), cxt, N, s_);
        u::add(mean.data<float>(), t3.data<float>(), t4.data<float>(), 1.0f, N, s_);
        u::randn(z.data<float>(), N, 5, 0, s_);
        u::mul_scalar(t5.data<float>(), z.data<float>(), sg, N, s_);
        u::add(xp.data<float>(), mean.data<float>(), t5.data<float>(), 1.0f, N, s_);
      };
      run_ref(
          r,
          [&] {
            unfused_seq();
            const std::vector<float> hx = host(x), he = host(eps), hz = host(z), got = host(xp);
            std::vector<float> want(hx.size());
            for (size_t i = 0; i < want.size(); ++i) {
              const double x0v = std::clamp((hx[i] - p.sqrt_one_minus_ab * he[i]) / p.sqrt_ab, -1.0, 1.0);
              want[i] = static_cast<float>(p.c_x0 * x0v + p.c_xt * hx[i] + p.sigma * hz[i]);
            }
            return norm_err(got, want);
          },
          unfused_seq);
      Tensor out;
      auto ours = [&] { out = kernels::ddpm_step(x, eps, p); };
      run_ours(
          r,
          [&] {
            ours();
            return norm_err(host(out), cpu);
          },
          ours);
      print(r);
      rows.push_back(r);
    }
}

void Bench::ddim_step() {
  const kernels::DdimStepParams p = ddim_params();
  for (const test::BenchShape& bs : bench_shapes("ddim_step"))
    for (int64_t B : batches_) {
      Shape s = bs.sample;
      s.insert(s.begin(), B);
      const int64_t N = B * shape_numel(bs.sample);
      const Tensor x = randn(s, 6, 1, DType::f32, Device::cuda);
      const Tensor eps = randn(s, 6, 2, DType::f32, Device::cuda);
      const std::vector<float> cpu = host(kernels::ddim_step(x.to(Device::cpu), eps.to(Device::cpu), p));
      Row r;
      r.op = "ddim_step";
      r.shape = bs.label;
      r.batch = B;
      r.bytes = 3 * dbl(N) * 4;
      r.tol = kTolElementwise;
      r.check_against = "CPU kernel";
      // Unfused, as diffusers' DDIMScheduler.step (eta 0, clip_sample):
      // x0 = (x - b*eps) / a; clamp; eps = (x - a*x0) / b;
      // x_prev = sqrt(ab_prev)*x0 + c_eps*eps.
      r.ref_kind = RefKind::unfused;
      r.ref_detail = "10 launches: mul, sub, div, clamp, mul, sub, div, mul, mul, add";
      auto buf = [&] { return Tensor::empty(s, DType::f32, Device::cuda); };
      Tensor t1 = buf(), t2 = buf(), x0 = buf(), x0c = buf(), t3 = buf(), t4 = buf(), e2 = buf(), dir = buf(),
             t5 = buf(), xp = buf();
      const float a = static_cast<float>(p.sqrt_ab), bb = static_cast<float>(p.sqrt_one_minus_ab),
                  ap = static_cast<float>(p.sqrt_ab_prev), ce = static_cast<float>(p.c_eps);
      auto unfused_seq = [&] {
        namespace u = bench::unfused;
        u::mul_scalar(t1.data<float>(), eps.data<float>(), bb, N, s_);
        u::add(t2.data<float>(), x.data<float>(), t1.data<float>(), -1.0f, N, s_);
        u::mul_scalar(x0.data<float>(), t2.data<float>(), 1.0f / a, N, s_);
        u::clamp(x0c.data<float>(), x0.data<float>(), -1.0f, 1.0f, N, s_);
        u::mul_scalar(t3.data<float>(), x0c.data<float>(), a, N, s_);
        u::add(t4.data<float>(), x.data<float>(), t3.data<float>(), -1.0f, N, s_);
        u::mul_scalar(e2.data<float>(), t4.data<float>(), 1.0f / bb, N, s_);
        u::mul_scalar(dir.data<float>(), e2.data<float>(), ce, N, s_);
        u::mul_scalar(t5.data<float>(), x0c.data<float>(), ap, N, s_);
        u::add(xp.data<float>(), t5.data<float>(), dir.data<float>(), 1.0f, N, s_);
      };
      run_ref(
          r,
          [&] {
            unfused_seq();
            return norm_err(host(xp), cpu);
          },
          unfused_seq);
      Tensor out;
      auto ours = [&] { out = kernels::ddim_step(x, eps, p); };
      run_ours(
          r,
          [&] {
            ours();
            return norm_err(host(out), cpu);
          },
          ours);
      print(r);
      rows.push_back(r);
    }
}

void Bench::dpm_solver_step() {
  const kernels::DpmSolverStepParams p = dpm_solver_params();
  for (const test::BenchShape& bs : bench_shapes("dpm_solver_step"))
    for (int64_t B : batches_) {
      Shape s = bs.sample;
      s.insert(s.begin(), B);
      const int64_t N = B * shape_numel(bs.sample);
      const Tensor x = randn(s, 8, 1, DType::f32, Device::cuda);
      const Tensor eps = randn(s, 8, 2, DType::f32, Device::cuda);
      const Tensor prev = randn(s, 8, 3, DType::f32, Device::cuda);
      const kernels::DpmSolverStepResult cpu =
          kernels::dpm_solver_step(x.to(Device::cpu), eps.to(Device::cpu), prev.to(Device::cpu), p);
      const std::vector<float> cpu_x = host(cpu.x_prev), cpu_x0 = host(cpu.x0);
      Row r;
      r.op = "dpm_solver_step";
      r.shape = bs.label;
      r.batch = B;
      r.bytes = 5 * dbl(N) * 4;  // x_t, model output, previous x0 in; x_prev, x0 out
      r.tol = kTolElementwise;
      r.check_against = "CPU kernel";
      // Unfused, as diffusers' DPMSolverMultistepScheduler (second order,
      // clip_sample): x0 = (x - b*eps) / a; clamp; D1 = (x0 - x0_prev) / r0;
      // x_prev = (sigma_t/sigma_s) x - alpha_t (e^-h - 1) x0 - 0.5 alpha_t (e^-h - 1) D1,
      // folded here into the host's coefficients c_x, c_x0, c_prev.
      r.ref_kind = RefKind::unfused;
      r.ref_detail = "10 launches: mul, sub, div, clamp, sub, mul, mul, mul, add, add";
      auto buf = [&] { return Tensor::empty(s, DType::f32, Device::cuda); };
      Tensor t1 = buf(), t2 = buf(), x0 = buf(), x0c = buf(), d1 = buf(), t3 = buf(), t4 = buf(), t5 = buf(),
             t6 = buf(), xp = buf();
      const float a = static_cast<float>(p.sqrt_ab), bb = static_cast<float>(p.sqrt_one_minus_ab);
      // c_x0 x0 + c_prev x0_prev = (c_x0 + c_prev) x0 - c_prev (x0 - x0_prev)
      const float cx = static_cast<float>(p.c_x), cs = static_cast<float>(p.c_x0 + p.c_prev),
                  cd = static_cast<float>(-p.c_prev);
      auto unfused_seq = [&] {
        namespace u = bench::unfused;
        u::mul_scalar(t1.data<float>(), eps.data<float>(), bb, N, s_);
        u::add(t2.data<float>(), x.data<float>(), t1.data<float>(), -1.0f, N, s_);
        u::mul_scalar(x0.data<float>(), t2.data<float>(), 1.0f / a, N, s_);
        u::clamp(x0c.data<float>(), x0.data<float>(), -1.0f, 1.0f, N, s_);
        u::add(d1.data<float>(), x0c.data<float>(), prev.data<float>(), -1.0f, N, s_);
        u::mul_scalar(t3.data<float>(), d1.data<float>(), cd, N, s_);
        u::mul_scalar(t4.data<float>(), x.data<float>(), cx, N, s_);
        u::mul_scalar(t5.data<float>(), x0c.data<float>(), cs, N, s_);
        u::add(t6.data<float>(), t4.data<float>(), t5.data<float>(), 1.0f, N, s_);
        u::add(xp.data<float>(), t6.data<float>(), t3.data<float>(), 1.0f, N, s_);
      };
      run_ref(
          r,
          [&] {
            unfused_seq();
            return std::max(norm_err(host(xp), cpu_x), norm_err(host(x0c), cpu_x0));
          },
          unfused_seq);
      kernels::DpmSolverStepResult out;
      auto ours = [&] { out = kernels::dpm_solver_step(x, eps, prev, p); };
      run_ours(
          r,
          [&] {
            ours();
            return std::max(norm_err(host(out.x_prev), cpu_x), norm_err(host(out.x0), cpu_x0));
          },
          ours);
      print(r);
      rows.push_back(r);
    }
}

void Bench::euler_ancestral_step() {
  const kernels::EulerAncestralStepParams p = euler_ancestral_params();
  for (const test::BenchShape& bs : bench_shapes("euler_ancestral_step"))
    for (int64_t B : batches_) {
      Shape s = bs.sample;
      s.insert(s.begin(), B);
      const int64_t N = B * shape_numel(bs.sample);
      const Tensor x = randn(s, 7, 1, DType::f32, Device::cuda);
      const Tensor eps = randn(s, 7, 2, DType::f32, Device::cuda);
      const std::vector<float> cpu =
          host(kernels::euler_ancestral_step(x.to(Device::cpu), eps.to(Device::cpu), p));
      Row r;
      r.op = "euler_ancestral_step";
      r.shape = bs.label;
      r.batch = B;
      r.bytes = 3 * dbl(N) * 4;
      r.tol = kTolElementwise;
      r.check_against = "CPU kernel (same Philox noise)";
      // Unfused, as k-diffusion's sample_euler_ancestral on a VP model
      // wrapper: x0 = (x - b*eps) / a; clamp; xs = x / a; d = (xs - x0) / sigma;
      // xs = xs + d * (sigma_down - sigma); xs += randn * sigma_up; x_prev = a_prev * xs.
      r.ref_kind = RefKind::unfused;
      r.ref_detail = "13 launches: mul, sub, div, clamp, div, sub, div, mul, add, randn, mul, add, mul";
      auto buf = [&] { return Tensor::empty(s, DType::f32, Device::cuda); };
      Tensor t1 = buf(), t2 = buf(), x0 = buf(), x0c = buf(), xs = buf(), t3 = buf(), d = buf(), t4 = buf(),
             t5 = buf(), z = buf(), t6 = buf(), t7 = buf(), xp = buf();
      const float a = static_cast<float>(p.sqrt_ab), bb = static_cast<float>(p.sqrt_one_minus_ab),
                  sg = static_cast<float>(p.sigma), dt = static_cast<float>(p.sigma_down - p.sigma),
                  su = static_cast<float>(p.sigma_up), ap = static_cast<float>(p.sqrt_ab_prev);
      auto unfused_seq = [&] {
        namespace u = bench::unfused;
        u::mul_scalar(t1.data<float>(), eps.data<float>(), bb, N, s_);
        u::add(t2.data<float>(), x.data<float>(), t1.data<float>(), -1.0f, N, s_);
        u::mul_scalar(x0.data<float>(), t2.data<float>(), 1.0f / a, N, s_);
        u::clamp(x0c.data<float>(), x0.data<float>(), -1.0f, 1.0f, N, s_);
        u::mul_scalar(xs.data<float>(), x.data<float>(), 1.0f / a, N, s_);
        u::add(t3.data<float>(), xs.data<float>(), x0c.data<float>(), -1.0f, N, s_);
        u::mul_scalar(d.data<float>(), t3.data<float>(), 1.0f / sg, N, s_);
        u::mul_scalar(t4.data<float>(), d.data<float>(), dt, N, s_);
        u::add(t5.data<float>(), xs.data<float>(), t4.data<float>(), 1.0f, N, s_);
        u::randn(z.data<float>(), N, 5, 0, s_);
        u::mul_scalar(t6.data<float>(), z.data<float>(), su, N, s_);
        u::add(t7.data<float>(), t5.data<float>(), t6.data<float>(), 1.0f, N, s_);
        u::mul_scalar(xp.data<float>(), t7.data<float>(), ap, N, s_);
      };
      run_ref(
          r,
          [&] {
            unfused_seq();
            const std::vector<float> hx = host(x), he = host(eps), hz = host(z), got = host(xp);
            std::vector<float> want(hx.size());
            for (size_t i = 0; i < want.size(); ++i) {
              const double x0v = std::clamp((hx[i] - p.sqrt_one_minus_ab * he[i]) / p.sqrt_ab, -1.0, 1.0);
              const double xsv = hx[i] / p.sqrt_ab;
              want[i] = static_cast<float>(
                  p.sqrt_ab_prev *
                  (xsv + (p.sigma_down - p.sigma) * (xsv - x0v) / p.sigma + p.sigma_up * hz[i]));
            }
            return norm_err(got, want);
          },
          unfused_seq);
      Tensor out;
      auto ours = [&] { out = kernels::euler_ancestral_step(x, eps, p); };
      run_ours(
          r,
          [&] {
            ours();
            return norm_err(host(out), cpu);
          },
          ours);
      print(r);
      rows.push_back(r);
    }
}

}  // namespace ddpm::bench
