// adam_update and ema_update over the base-64 UNet's flat parameter buffer
// (tests/ops/optimizer.cpp) against the unfused launches of PyTorch's
// single-tensor path and the memory roofline; adam_update with the fused EMA
// (what the trainer runs) against our own two launches, adam_update then
// ema_update; checked against the CPU kernels.
#include "benchmarks/kernel_bench/bench.h"
#include "benchmarks/unfused_kernels.h"
#include "kernels/adam_update.h"
#include "kernels/ema_update.h"
#include "tensor/rng.h"

namespace ddpm::bench {

void Bench::adam() {
  const int64_t n = unet_parameters();
  kernels::AdamParams ap;
  ap.lr = 1e-3;
  ap.step = 10;
  const Tensor p0 = randn({n}, 8, 1, DType::f32, Device::cuda);
  const Tensor g = randn({n}, 8, 2, DType::f32, Device::cuda);
  const Tensor m0 = randn({n}, 8, 3, DType::f32, Device::cuda);
  const Tensor v0 = rand_uniform({n}, 0, 1, 8, 4, DType::f32, Device::cuda);
  Tensor pc = p0.to(Device::cpu), mc = m0.to(Device::cpu), vc = v0.to(Device::cpu);
  kernels::adam_update(pc, g.to(Device::cpu), mc, vc, ap);
  Row r;
  r.op = "adam_update";
  r.shape = bench_shapes("adam_update").front().label + " " + std::to_string(n);
  r.bytes = 7 * dbl(n) * 4;  // p, g, m, v in; p, m, v out
  r.tol = kTolElementwise;
  r.check_against = "CPU kernel";
  // Unfused, as torch.optim.Adam's single-tensor path on one flat tensor:
  // m.mul_(b1).add_(g, 1-b1); v.mul_(b2).addcmul_(g, g, 1-b2);
  // denom = (v.sqrt() / sqrt(bc2)).add_(eps); p.addcdiv_(m, denom, -lr/bc1).
  r.ref_kind = RefKind::unfused;
  r.ref_detail = "8 launches: mul, add, mul, addcmul, sqrt, div, add, addcdiv (one flat buffer)";
  const double bc1 = 1 - std::pow(ap.beta1, static_cast<double>(ap.step));
  const double bc2 = 1 - std::pow(ap.beta2, static_cast<double>(ap.step));
  Tensor up = p0.clone(), um = m0.clone(), uv = v0.clone(),
         denom = Tensor::empty({n}, DType::f32, Device::cuda);
  auto unfused_seq = [&] {
    namespace u = bench::unfused;
    float* P = up.data<float>();
    float* M = um.data<float>();
    float* V = uv.data<float>();
    float* D = denom.data<float>();
    const float* G = g.data<float>();
    u::mul_scalar(M, M, static_cast<float>(ap.beta1), n, s_);
    u::add(M, M, G, static_cast<float>(1 - ap.beta1), n, s_);
    u::mul_scalar(V, V, static_cast<float>(ap.beta2), n, s_);
    u::addcmul(V, V, G, G, static_cast<float>(1 - ap.beta2), n, s_);
    u::sqrt(D, V, n, s_);
    u::mul_scalar(D, D, static_cast<float>(1 / std::sqrt(bc2)), n, s_);
    u::add_scalar(D, D, static_cast<float>(ap.eps), n, s_);
    u::addcdiv(P, P, M, D, static_cast<float>(-ap.lr / bc1), n, s_);
  };
  run_ref(
      r,
      [&] {
        unfused_seq();
        return std::max({norm_err(up, pc), norm_err(um, mc), norm_err(uv, vc)});
      },
      unfused_seq);
  Tensor p = p0.clone(), m = m0.clone(), v = v0.clone();
  auto ours = [&] { kernels::adam_update(p, g, m, v, ap); };
  run_ours(
      r,
      [&] {
        ours();
        return std::max({norm_err(p, pc), norm_err(m, mc), norm_err(v, vc)});
      },
      ours);
  print(r);
  rows.push_back(r);
}

void Bench::adam_ema() {
  const int64_t n = unet_parameters();
  kernels::AdamParams ap;
  ap.lr = 1e-3;
  ap.step = 10;
  ap.ema_decay = 0.995;
  const Tensor p0 = randn({n}, 8, 1, DType::f32, Device::cuda);
  const Tensor g = randn({n}, 8, 2, DType::f32, Device::cuda);
  const Tensor m0 = randn({n}, 8, 3, DType::f32, Device::cuda);
  const Tensor v0 = rand_uniform({n}, 0, 1, 8, 4, DType::f32, Device::cuda);
  const Tensor e0 = randn({n}, 8, 5, DType::f32, Device::cuda);
  Tensor pc = p0.to(Device::cpu), mc = m0.to(Device::cpu), vc = v0.to(Device::cpu), ec = e0.to(Device::cpu);
  kernels::adam_update(pc, g.to(Device::cpu), mc, vc, ap, &ec);
  Row r;
  r.op = "adam_update";
  r.shape = bench_shapes("adam_update").front().label + " " + std::to_string(n) + " + ema";
  r.bytes = 8 * dbl(n) * 4;  // p, g, m, v, ema in; p, m, v, ema out
  r.tol = kTolElementwise;
  r.check_against = "CPU kernel";
  r.ref_kind = RefKind::unfused;
  r.ref_detail = "ours unfused, 2 launches: adam_update, then ema_update";
  Tensor up = p0.clone(), um = m0.clone(), uv = v0.clone(), ue = e0.clone();
  auto unfused_seq = [&] {
    kernels::adam_update(up, g, um, uv, ap);
    kernels::ema_update(ue, up, ap.ema_decay);
  };
  run_ref(
      r,
      [&] {
        unfused_seq();
        return std::max({norm_err(up, pc), norm_err(um, mc), norm_err(uv, vc), norm_err(ue, ec)});
      },
      unfused_seq);
  Tensor p = p0.clone(), m = m0.clone(), v = v0.clone(), e = e0.clone();
  auto ours = [&] { kernels::adam_update(p, g, m, v, ap, &e); };
  run_ours(
      r,
      [&] {
        ours();
        return std::max({norm_err(p, pc), norm_err(m, mc), norm_err(v, vc), norm_err(e, ec)});
      },
      ours);
  print(r);
  rows.push_back(r);
}

void Bench::ema() {
  const int64_t n = unet_parameters();
  const double decay = 0.995;
  const Tensor e0 = randn({n}, 9, 1, DType::f32, Device::cuda);
  const Tensor p = randn({n}, 9, 2, DType::f32, Device::cuda);
  Tensor ec = e0.to(Device::cpu);
  kernels::ema_update(ec, p.to(Device::cpu), decay);
  Row r;
  r.op = "ema_update";
  r.shape = bench_shapes("ema_update").front().label + " " + std::to_string(n);
  r.bytes = 3 * dbl(n) * 4;  // ema, param in; ema out
  r.tol = kTolElementwise;
  r.check_against = "CPU kernel";
  // Unfused: ema.mul_(decay); ema.add_(param, alpha=1-decay).
  r.ref_kind = RefKind::unfused;
  r.ref_detail = "2 launches: mul, add";
  Tensor ue = e0.clone();
  auto unfused_seq = [&] {
    bench::unfused::mul_scalar(ue.data<float>(), ue.data<float>(), static_cast<float>(decay), n, s_);
    bench::unfused::add(ue.data<float>(), ue.data<float>(), p.data<float>(), static_cast<float>(1 - decay), n,
                        s_);
  };
  run_ref(
      r,
      [&] {
        unfused_seq();
        return norm_err(ue, ec);
      },
      unfused_seq);
  Tensor e = e0.clone();
  auto ours = [&] { kernels::ema_update(e, p, decay); };
  run_ours(
      r,
      [&] {
        ours();
        return norm_err(e, ec);
      },
      ours);
  print(r);
  rows.push_back(r);
}

}  // namespace ddpm::bench
