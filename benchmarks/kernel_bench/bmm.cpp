// bmm fwd / bwd (kernels/bmm.h) at the attention products of
// tests/ops/bmm.cpp (scores q^T k and output v p^T of the UNet's
// self-attention; B = batch x heads), FP32 (MathMode::fp32: cuBLAS without
// TF32), checked against the CPU kernel.
//
// Reference: the memory roofline, with TFLOP/s against the nominal FP32
// peak beside it. Our CUDA bmm is cuBLAS's strided-batched SGEMM
// (kernels/cuda/bmm.cu), so there is no other library to race: the row
// measures cuBLAS at these shapes through our Tensor-level call. With a head
// dim of 32 these products do 8-13 FLOP per byte forward and 11-21 backward
// (bmm_flops / bmm_bytes), below or at the FP32 ridge of an H100 (~67
// TFLOP/s over ~3 TB/s, ~22), so the bytes bound matters as much as the FLOP
// bound: the table prints % of the FP32 peak, the JSON also % of the roofline.
#include "kernels/bmm.h"

#include "benchmarks/kernel_bench/bench.h"
#include "tensor/rng.h"

namespace ddpm::bench {

void Bench::bmm(bool fwd, bool bwd) {
#ifdef DDPM_BENCH_MATH_MODE
  const kernels::MathModeScope mode(kernels::MathMode::fp32);
#endif
  for (const test::BenchShape& bs : bench_shapes("bmm"))
    for (int64_t batch : batches_) {
      const BmmCase c = bmm_case(bs, batch);
      const Tensor a = randn(c.a_shape(), 14, 1, DType::f32, Device::cuda);
      const Tensor b = randn(c.b_shape(), 14, 2, DType::f32, Device::cuda);
      const Tensor gc = randn(c.c_shape(), 14, 3, DType::f32, Device::cuda);
      // The check reference: the CPU kernel.
      const Tensor ac = a.to(Device::cpu), bc = b.to(Device::cpu), gcc = gc.to(Device::cpu);
      for (int pass = 0; pass < 2; ++pass) {
        if ((pass == 0 && !fwd) || (pass == 1 && !bwd)) continue;
        Row r;
        r.op = pass == 0 ? "bmm_fwd" : "bmm_bwd";
        r.shape = bs.label;
        r.batch = batch;
        r.flops = bmm_flops(c, pass == 1);
        r.bytes = bmm_bytes(c, pass == 1);
        r.tol = kTolBmm;
        r.check_against = "CPU kernel";
        r.ref_kind = RefKind::roofline;
        r.ref_detail =
            "memory roofline; ours is cuBLAS strided-batched SGEMM (TF32 off), so no other library is raced"
            "; B = batch x heads" +
            std::string(pass == 0 ? "" : "; 2 GEMMs (gA, gB)");
        if (pass == 0) {
          const std::vector<float> exact = host(kernels::bmm_fwd(ac, bc, c.trans_a, c.trans_b));
          Tensor out;
          auto ours = [&] { out = kernels::bmm_fwd(a, b, c.trans_a, c.trans_b); };
          run_ours(
              r,
              [&] {
                ours();
                return norm_err(host(out), exact);
              },
              ours);
        } else {
          Tensor ga_c, gb_c;
          kernels::bmm_bwd(ac, bc, c.trans_a, c.trans_b, gcc, &ga_c, &gb_c);
          const std::vector<float> exact_a = host(ga_c), exact_b = host(gb_c);
          Tensor ga, gb;
          auto ours = [&] { kernels::bmm_bwd(a, b, c.trans_a, c.trans_b, gc, &ga, &gb); };
          run_ours(
              r,
              [&] {
                ours();
                return std::max(norm_err(host(ga), exact_a), norm_err(host(gb), exact_b));
              },
              ours);
        }
        print(r);
        rows.push_back(r);
      }
    }
}

}  // namespace ddpm::bench
