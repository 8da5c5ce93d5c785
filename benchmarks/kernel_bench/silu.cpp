// silu fwd / bwd against cuDNN's CUDNN_ACTIVATION_SWISH at the UNet's
// activation shapes (tests/ops/silu.cpp), checked against the CPU kernel.
#include "kernels/silu.h"

#include "benchmarks/kernel_bench/bench.h"
#include "tensor/rng.h"

namespace ddpm::bench {

void Bench::silu(bool fwd, bool bwd) {
  for (const test::BenchShape& a : bench_shapes("silu"))
    for (int64_t B : batches_) {
      const Shape s = {B, a.sample[0], a.sample[1], a.sample[1]};
      const Tensor x = randn(s, 2, 1, DType::f32, Device::cuda);
      const Tensor g = randn(s, 2, 2, DType::f32, Device::cuda);
      const double n = dbl(x.numel());
#ifdef DDPM_BENCH_CUDNN
      cudnnTensorDescriptor_t td{};
      cudnnActivationDescriptor_t act{};
      check_cudnn(cudnnCreateTensorDescriptor(&td), "cudnnCreateTensorDescriptor");
      check_cudnn(cudnnSetTensor4dDescriptor(td, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, static_cast<int>(B),
                                             static_cast<int>(a.sample[0]), static_cast<int>(a.sample[1]),
                                             static_cast<int>(a.sample[1])),
                  "cudnnSetTensor4dDescriptor");
      check_cudnn(cudnnCreateActivationDescriptor(&act), "cudnnCreateActivationDescriptor");
      check_cudnn(cudnnSetActivationDescriptor(act, CUDNN_ACTIVATION_SWISH, CUDNN_NOT_PROPAGATE_NAN, 0.0),
                  "cudnnSetActivationDescriptor");
      check_cudnn(cudnnSetActivationDescriptorSwishBeta(act, 1.0), "cudnnSetActivationDescriptorSwishBeta");
      const float one = 1.0f, zero = 0.0f;
      Tensor ry = Tensor::empty(s, DType::f32, Device::cuda),
             rgx = Tensor::empty(s, DType::f32, Device::cuda);
      auto ref_fwd = [&] {
        check_cudnn(
            cudnnActivationForward(cudnn_, act, &one, td, x.data<float>(), &zero, td, ry.data<float>()),
            "cudnnActivationForward (swish)");
      };
      auto ref_bwd = [&] {
        check_cudnn(cudnnActivationBackward(cudnn_, act, &one, td, ry.data<float>(), td, g.data<float>(), td,
                                            x.data<float>(), &zero, td, rgx.data<float>()),
                    "cudnnActivationBackward (swish)");
      };
#endif
      // The check reference: the CPU kernel (cuDNN is checked against it too).
      const Tensor xc = x.to(Device::cpu), gc = g.to(Device::cpu);
      for (int pass = 0; pass < 2; ++pass) {
        if ((pass == 0 && !fwd) || (pass == 1 && !bwd)) continue;
        Row r;
        r.op = pass == 0 ? "silu_fwd" : "silu_bwd";
        r.shape = a.label;
        r.batch = B;
        r.bytes = (pass == 0 ? 2 : 3) * n * 4;
        r.tol = kTolElementwise;
        r.check_against = "CPU kernel";
        const std::vector<float> exact = host(pass == 0 ? kernels::silu_fwd(xc) : kernels::silu_bwd(xc, gc));
#ifdef DDPM_BENCH_CUDNN
        r.ref_kind = RefKind::cudnn;
        r.ref_detail = "cudnnActivation" + std::string(pass == 0 ? "Forward" : "Backward") + " SWISH";
        if (pass == 0)
          run_ref(
              r,
              [&] {
                ref_fwd();
                return norm_err(host(ry), exact);
              },
              ref_fwd);
        else
          run_ref(
              r,
              [&] {
                ref_fwd();
                ref_bwd();
                return norm_err(host(rgx), exact);
              },
              ref_bwd);
#else
        r.ref_kind = RefKind::roofline;
#endif
        Tensor out;
        auto ours = [&] { out = pass == 0 ? kernels::silu_fwd(x) : kernels::silu_bwd(x, g); };
        run_ours(
            r,
            [&] {
              ours();
              return norm_err(host(out), exact);
            },
            ours);
        print(r);
        rows.push_back(r);
      }
#ifdef DDPM_BENCH_CUDNN
      cudnnDestroyActivationDescriptor(act);
      cudnnDestroyTensorDescriptor(td);
#endif
    }
}

}  // namespace ddpm::bench
