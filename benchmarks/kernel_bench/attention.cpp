// attention fwd / bwd (kernels/attention.h, the fused flash-attention
// kernels) at the shapes of tests/ops/attention.cpp against the unfused
// sequence of our own ops an eager framework would run, FP32 (MathMode::fp32:
// cuBLAS without TF32), both checked against the CPU kernel:
//
//   forward   s = bmm(q, k, trans_a) [B, Lq, Lk]        cuBLAS strided-batched
//             p = softmax(s, scale)                     one launch
//             o = bmm(v, p, trans_b) [B, E, Lq]         cuBLAS
//   backward  (p saved by the forward, as autograd keeps it)
//             gv, gp = bmm_bwd(v, p, trans_b, go)       2 GEMMs
//             gs = softmax_bwd(p, gp, scale)            one launch
//             gq, gk = bmm_bwd(q, k, trans_a, gs)       2 GEMMs
//
// Ours: attention_fwd writing o and lse, attention_bwd from o and lse (p
// recomputed). TFLOP/s from attention_flops (common.h): the same nominal
// count on both sides.
#include "kernels/attention.h"

#include "benchmarks/kernel_bench/bench.h"
#include "kernels/bmm.h"
#include "kernels/softmax.h"
#include "tensor/rng.h"

namespace ddpm::bench {

void Bench::attention(bool fwd, bool bwd) {
#ifdef DDPM_BENCH_MATH_MODE
  const kernels::MathModeScope mode(kernels::MathMode::fp32);  // the unfused GEMMs without TF32
#endif
  for (const test::BenchShape& bs : bench_shapes("attention"))
    for (int64_t batch : batches_) {
      const AttentionCase a = attention_case(bs, batch);
      const Tensor q = randn({a.b, a.d, a.lq}, 12, 1, DType::f32, Device::cuda);
      const Tensor k = randn({a.b, a.d, a.lk}, 12, 2, DType::f32, Device::cuda);
      const Tensor v = randn({a.b, a.d, a.lk}, 12, 3, DType::f32, Device::cuda);
      const Tensor go = randn({a.b, a.d, a.lq}, 12, 4, DType::f32, Device::cuda);
      // The check reference: the CPU kernel.
      const Tensor qc = q.to(Device::cpu), kc = k.to(Device::cpu), vc = v.to(Device::cpu),
                   goc = go.to(Device::cpu);
      Tensor lse_c;
      const Tensor o_c = kernels::attention_fwd(qc, kc, vc, a.scale, &lse_c);
      const std::vector<float> exact_o = host(o_c), exact_lse = host(lse_c);
      std::vector<float> exact_g[3];
      if (bwd) {
        Tensor g[3];
        kernels::attention_bwd(qc, kc, vc, o_c, lse_c, a.scale, goc, &g[0], &g[1], &g[2]);
        for (int i = 0; i < 3; ++i) exact_g[i] = host(g[i]);
      }
      auto grads_err = [&](const Tensor& gq, const Tensor& gk, const Tensor& gv) {
        return std::max(
            {norm_err(host(gq), exact_g[0]), norm_err(host(gk), exact_g[1]), norm_err(host(gv), exact_g[2])});
      };
      // The unfused forward's p, kept for its backward.
      Tensor p;
      auto ref_fwd = [&] {
        p = kernels::softmax_fwd(kernels::bmm_fwd(q, k, true, false), a.scale, Tensor());
        return kernels::bmm_fwd(v, p, false, true);
      };
      for (int pass = 0; pass < 2; ++pass) {
        if ((pass == 0 && !fwd) || (pass == 1 && !bwd)) continue;
        Row r;
        r.op = pass == 0 ? "attention_fwd" : "attention_bwd";
        r.shape = bs.label;
        r.batch = batch;
        r.flops = attention_flops(a, pass == 1);
        r.tol = kTolAttention;
        r.check_against = "CPU kernel";
        r.ref_kind = RefKind::unfused;
        if (pass == 0) {
          r.ref_detail =
              "3 launches: bmm(q, k, trans_a) (cuBLAS), softmax(scale), bmm(v, p, trans_b) (cuBLAS); "
              "B = batch x heads";
          Tensor ro;
          run_ref(
              r,
              [&] {
                ro = ref_fwd();
                return norm_err(host(ro), exact_o);
              },
              [&] { ro = ref_fwd(); });
          Tensor o, lse;
          auto ours = [&] { o = kernels::attention_fwd(q, k, v, a.scale, &lse); };
          run_ours(
              r,
              [&] {
                ours();
                return std::max(norm_err(host(o), exact_o), norm_err(host(lse), exact_lse));
              },
              ours);
        } else {
          r.ref_detail =
              "5 launches from the forward's saved p: bmm backward (gv, gp: 2 cuBLAS GEMMs), softmax "
              "backward, bmm backward (gq, gk: 2 cuBLAS GEMMs)";
          Tensor rgq, rgk, rgv, rgp;
          auto ref_bwd = [&] {
            kernels::bmm_bwd(v, p, false, true, go, &rgv, &rgp);
            kernels::bmm_bwd(q, k, true, false, kernels::softmax_bwd(p, rgp, a.scale), &rgq, &rgk);
          };
          run_ref(
              r,
              [&] {
                (void)ref_fwd();
                ref_bwd();
                return grads_err(rgq, rgk, rgv);
              },
              ref_bwd);
          Tensor o, lse, gq, gk, gv;
          auto ours = [&] { kernels::attention_bwd(q, k, v, o, lse, a.scale, go, &gq, &gk, &gv); };
          run_ours(
              r,
              [&] {
                o = kernels::attention_fwd(q, k, v, a.scale, &lse);
                ours();
                return grads_err(gq, gk, gv);
              },
              ours);
        }
        print(r);
        rows.push_back(r);
      }
    }
}

}  // namespace ddpm::bench
