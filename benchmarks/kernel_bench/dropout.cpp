// dropout (kernels/dropout.h: Philox keep bits, kept values scaled by
// 1 / (1 - p)) at the UNet's activation shapes (tests/ops/dropout.cpp), p =
// kBenchDropoutP, against the memory roofline (x read, y written once; the
// keep bits are computed, not read), checked bit for bit against the CPU
// kernel: the same Philox stream gives the same mask, and one IEEE multiply
// the same values. dropout_bwd is the same kernel applied to the upstream
// gradient, so it has no row of its own.
#include "kernels/dropout.h"

#include "benchmarks/kernel_bench/bench.h"
#include "tensor/rng.h"

namespace ddpm::bench {

void Bench::dropout() {
  for (const test::BenchShape& bs : bench_shapes("dropout"))
    for (int64_t B : batches_) {
      Shape s = bs.sample;
      s.insert(s.begin(), B);
      const Tensor x = randn(s, 15, 1, DType::f32, Device::cuda);
      const uint64_t offset = kBenchDropoutOffset;
      const std::vector<float> exact = host(kernels::dropout_fwd(
          x.to(Device::cpu), kBenchDropoutP, kBenchDropoutSeed, kBenchDropoutStream, offset));
      Row r;
      r.op = "dropout_fwd";
      r.shape = bs.label;
      r.batch = B;
      r.bytes = 2 * dbl(x.numel()) * 4;
      r.tol = 0;
      r.check_against = "CPU kernel, bit for bit (err: the fraction of elements whose bits differ)";
      r.ref_kind = RefKind::roofline;
      r.ref_detail =
          "memory roofline; p " + fmt("%g", kBenchDropoutP) + ", Philox keep bits computed in the kernel";
      Tensor out;
      auto ours = [&] {
        out = kernels::dropout_fwd(x, kBenchDropoutP, kBenchDropoutSeed, kBenchDropoutStream, offset);
      };
      run_ours(
          r,
          [&] {
            ours();
            return bits_err(host(out), exact);
          },
          ours);
      print(r);
      rows.push_back(r);
    }
}

}  // namespace ddpm::bench
