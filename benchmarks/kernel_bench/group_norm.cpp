// group_norm fwd / bwd at the UNet's activation shapes with 8 groups
// (tests/ops/group_norm.cpp) against the memory roofline only: cuDNN's legacy
// API has no GroupNorm. Checked against the CPU kernel.
#include "kernels/group_norm.h"

#include "benchmarks/kernel_bench/bench.h"
#include "tensor/rng.h"

namespace ddpm::bench {

void Bench::group_norm(bool fwd, bool bwd) {
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
}

}  // namespace ddpm::bench
