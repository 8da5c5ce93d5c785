// group_norm fwd / bwd at the UNet's activation shapes with 8 groups
// (tests/ops/group_norm.cpp) against the memory roofline only: cuDNN's legacy
// API has no GroupNorm. Checked against the CPU kernel.
//
// With --op group_norm_silu_fwd / group_norm_silu_bwd (or --op group_norm,
// a prefix of all four), the fused group_norm_silu (kernels/group_norm_silu.h) at its bench shapes
// (tests/ops/group_norm_silu.cpp) against the unfused sequence of our own
// ops that autograd runs without the fusion, both checked against the CPU
// kernel of the fused op:
//   forward   z = group_norm_fwd(x) (3 launches), y = silu_fwd(z) (1)
//   backward  (z saved by the forward, as autograd keeps it)
//             gz = silu_bwd(z, g) (1), group_norm_bwd(x, gz) (4)
// Ours: group_norm_silu_fwd writing y, mean and rstd (1 launch);
// group_norm_silu_bwd from x, mean and rstd (2 launches). Bytes: the fused
// op's minimum traffic (each input read once, each output written once).
#include "kernels/group_norm.h"

#include "benchmarks/kernel_bench/bench.h"
#include "kernels/group_norm_silu.h"
#include "kernels/silu.h"
#include "tensor/rng.h"

namespace ddpm::bench {

void Bench::group_norm(bool fwd, bool bwd, bool silu_fwd, bool silu_bwd) {
  for (const test::BenchShape& a : bench_shapes("group_norm"))
    for (int64_t B : batches_) {
      const int64_t G = a.groups;
      const Shape s = {B, a.sample[0], a.sample[1], a.sample[1]};
      const Tensor x = randn(s, 3, 1, DType::f32, Device::cuda);
      const Tensor g = randn(s, 3, 2, DType::f32, Device::cuda);
      const Tensor gamma = randn({a.sample[0]}, 3, 3, DType::f32, Device::cuda);
      const Tensor beta = randn({a.sample[0]}, 3, 4, DType::f32, Device::cuda);
      const double n = dbl(x.numel()), c = dbl(a.sample[0]), stats = dbl(B * G);
      const Tensor xc = x.to(Device::cpu), gc = g.to(Device::cpu), gmc = gamma.to(Device::cpu),
                   btc = beta.to(Device::cpu);
      const kernels::GroupNormForward cf = kernels::group_norm_fwd(xc, G, gmc, btc, 1e-5);
      for (int pass = 0; pass < 2; ++pass) {
        if ((pass == 0 && !fwd) || (pass == 1 && !bwd)) continue;
        Row r;
        r.op = pass == 0 ? "group_norm_fwd" : "group_norm_bwd";
        r.shape = a.label;
        r.batch = B;
        // fwd: x in, y out, gamma/beta in, mean/rstd out; bwd: x, g in, gx
        // out, mean/rstd/gamma in, ggamma/gbeta out.
        r.bytes = pass == 0 ? (2 * n + 2 * c + 2 * stats) * 4 : (3 * n + 2 * stats + 3 * c) * 4;
        r.tol = kTolGroupNorm;
        r.ref_kind = RefKind::roofline;
        r.ref_detail = "cuDNN's legacy API has no GroupNorm";
        r.check_against = "CPU kernel";
        if (pass == 0) {
          kernels::GroupNormForward out;
          auto ours = [&] { out = kernels::group_norm_fwd(x, G, gamma, beta, 1e-5); };
          run_ours(
              r,
              [&] {
                ours();
                return std::max(
                    {norm_err(out.y, cf.y), norm_err(out.mean, cf.mean), norm_err(out.rstd, cf.rstd)});
              },
              ours);
        } else {
          const kernels::GroupNormGrads cb =
              kernels::group_norm_bwd(xc, cf.mean, cf.rstd, gmc, gc, G, true, true);
          Tensor mean, rstd;
          kernels::GroupNormGrads out;
          auto ours = [&] { out = kernels::group_norm_bwd(x, mean, rstd, gamma, g, G, true, true); };
          run_ours(
              r,
              [&] {
                const kernels::GroupNormForward f = kernels::group_norm_fwd(x, G, gamma, beta, 1e-5);
                mean = f.mean;
                rstd = f.rstd;
                ours();
                return std::max({norm_err(out.gx, cb.gx), norm_err(out.ggamma, cb.ggamma),
                                 norm_err(out.gbeta, cb.gbeta)});
              },
              ours);
        }
        print(r);
        rows.push_back(r);
      }
    }
  for (const test::BenchShape& a : bench_shapes("group_norm_silu"))
    for (int64_t B : batches_) {
      const int64_t G = a.groups;
      const Shape s = {B, a.sample[0], a.sample[1], a.sample[1]};
      const Tensor x = randn(s, 5, 1, DType::f32, Device::cuda);
      const Tensor g = randn(s, 5, 2, DType::f32, Device::cuda);
      const Tensor gamma = randn({a.sample[0]}, 5, 3, DType::f32, Device::cuda);
      const Tensor beta = randn({a.sample[0]}, 5, 4, DType::f32, Device::cuda);
      const double n = dbl(x.numel()), c = dbl(a.sample[0]), stats = dbl(B * G);
      const Tensor xc = x.to(Device::cpu), gc = g.to(Device::cpu), gmc = gamma.to(Device::cpu),
                   btc = beta.to(Device::cpu);
      const kernels::GroupNormForward cf = kernels::group_norm_silu_fwd(xc, G, gmc, btc, 1e-5);
      for (int pass = 0; pass < 2; ++pass) {
        if ((pass == 0 && !silu_fwd) || (pass == 1 && !silu_bwd)) continue;
        Row r;
        r.op = pass == 0 ? "group_norm_silu_fwd" : "group_norm_silu_bwd";
        r.shape = a.label;
        r.batch = B;
        // fwd: x in, y out, gamma/beta in, mean/rstd out; bwd: x, g in, gx
        // out, mean/rstd in, gamma/beta in, ggamma/gbeta out.
        r.bytes = pass == 0 ? (2 * n + 2 * c + 2 * stats) * 4 : (3 * n + 2 * stats + 4 * c) * 4;
        r.tol = kTolGroupNorm;
        r.ref_kind = RefKind::unfused;
        r.check_against = "CPU kernel (fused)";
        if (pass == 0) {
          r.ref_detail = "4 launches: group_norm_fwd (3), silu_fwd";
          kernels::GroupNormForward z;
          Tensor ry;
          auto unfused = [&] {
            z = kernels::group_norm_fwd(x, G, gamma, beta, 1e-5);
            ry = kernels::silu_fwd(z.y);
          };
          run_ref(
              r,
              [&] {
                unfused();
                return std::max({norm_err(ry, cf.y), norm_err(z.mean, cf.mean), norm_err(z.rstd, cf.rstd)});
              },
              unfused);
          kernels::GroupNormForward out;
          auto ours = [&] { out = kernels::group_norm_silu_fwd(x, G, gamma, beta, 1e-5); };
          run_ours(
              r,
              [&] {
                ours();
                return std::max(
                    {norm_err(out.y, cf.y), norm_err(out.mean, cf.mean), norm_err(out.rstd, cf.rstd)});
              },
              ours);
        } else {
          r.ref_detail = "5 launches: silu_bwd, group_norm_bwd (4); z saved by the forward";
          const kernels::GroupNormGrads cb =
              kernels::group_norm_silu_bwd(xc, cf.mean, cf.rstd, gmc, btc, gc, G, true, true);
          // The unfused backward from the unfused forward's saved z, mean and rstd.
          const kernels::GroupNormForward z = kernels::group_norm_fwd(x, G, gamma, beta, 1e-5);
          kernels::GroupNormGrads rg;
          auto unfused = [&] {
            const Tensor gz = kernels::silu_bwd(z.y, g);
            rg = kernels::group_norm_bwd(x, z.mean, z.rstd, gamma, gz, G, true, true);
          };
          run_ref(
              r,
              [&] {
                unfused();
                return std::max(
                    {norm_err(rg.gx, cb.gx), norm_err(rg.ggamma, cb.ggamma), norm_err(rg.gbeta, cb.gbeta)});
              },
              unfused);
          Tensor mean, rstd;
          kernels::GroupNormGrads out;
          auto ours = [&] {
            out = kernels::group_norm_silu_bwd(x, mean, rstd, gamma, beta, g, G, true, true);
          };
          run_ours(
              r,
              [&] {
                const kernels::GroupNormForward f = kernels::group_norm_silu_fwd(x, G, gamma, beta, 1e-5);
                mean = f.mean;
                rstd = f.rstd;
                ours();
                return std::max({norm_err(out.gx, cb.gx), norm_err(out.ggamma, cb.ggamma),
                                 norm_err(out.gbeta, cb.gbeta)});
              },
              ours);
        }
        print(r);
        rows.push_back(r);
      }
    }
}

}  // namespace ddpm::bench
