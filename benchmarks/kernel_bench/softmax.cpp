// softmax fwd / bwd (kernels/softmax.h: over the last dim, of scale * x, no
// mask) at the attention weights of tests/ops/softmax.cpp (x [batch x heads,
// Lq, Lk], scale 1 / sqrt(D)) against cuDNN's accurate softmax over the
// last dim (CUDNN_SOFTMAX_ACCURATE, CUDNN_SOFTMAX_MODE_INSTANCE on an
// [R, K, 1, 1] tensor) and the memory roofline, all checked against the CPU
// kernel.
//
// cuDNN has no scale: its forward runs on the input scaled once beforehand
// (untimed, so cuDNN does one pass less than a framework would); its
// backward takes the scale as alpha (gx = alpha y (g - sum g y), exactly
// ours). Both backwards start from the CPU kernel's y, so each is checked on
// its own.
#include "kernels/softmax.h"

#include "benchmarks/kernel_bench/bench.h"
#include "tensor/rng.h"

namespace ddpm::bench {

void Bench::softmax(bool fwd, bool bwd) {
  for (const test::BenchShape& bs : bench_shapes("softmax"))
    for (int64_t batch : batches_) {
      const AttentionCase a = attention_case(bs, batch);
      const Shape s = {a.b, a.lq, a.lk};
      const std::vector<float> xv = scores(s, a.d, 1);
      const Tensor x = device(xv, s);
      const Tensor g = randn(s, 13, 2, DType::f32, Device::cuda);
      const double n = dbl(x.numel());
      // The check reference: the CPU kernel; y_c also feeds both backwards.
      const Tensor xc = x.to(Device::cpu), gc = g.to(Device::cpu);
      const Tensor y_c = kernels::softmax_fwd(xc, a.scale, Tensor());
      const std::vector<float> exact_y = host(y_c), exact_gx = host(kernels::softmax_bwd(y_c, gc, a.scale));
      const Tensor y = device(exact_y, s);
#ifdef DDPM_BENCH_CUDNN
      std::vector<float> xs_v = xv;
      for (float& v : xs_v) v = static_cast<float>(a.scale) * v;
      const Tensor xs = device(xs_v, s);
      cudnnTensorDescriptor_t td{};
      check_cudnn(cudnnCreateTensorDescriptor(&td), "cudnnCreateTensorDescriptor");
      check_cudnn(cudnnSetTensor4dDescriptor(td, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT,
                                             static_cast<int>(a.b * a.lq), static_cast<int>(a.lk), 1, 1),
                  "cudnnSetTensor4dDescriptor");
      const float one = 1.0f, zero = 0.0f, alpha_bwd = static_cast<float>(a.scale);
      Tensor ry = Tensor::empty(s, DType::f32, Device::cuda),
             rgx = Tensor::empty(s, DType::f32, Device::cuda);
      auto ref_fwd = [&] {
        check_cudnn(cudnnSoftmaxForward(cudnn_, CUDNN_SOFTMAX_ACCURATE, CUDNN_SOFTMAX_MODE_INSTANCE, &one, td,
                                        xs.data<float>(), &zero, td, ry.data<float>()),
                    "cudnnSoftmaxForward (accurate, instance)");
      };
      auto ref_bwd = [&] {
        check_cudnn(
            cudnnSoftmaxBackward(cudnn_, CUDNN_SOFTMAX_ACCURATE, CUDNN_SOFTMAX_MODE_INSTANCE, &alpha_bwd, td,
                                 y.data<float>(), td, g.data<float>(), &zero, td, rgx.data<float>()),
            "cudnnSoftmaxBackward (accurate, instance)");
      };
#endif
      for (int pass = 0; pass < 2; ++pass) {
        if ((pass == 0 && !fwd) || (pass == 1 && !bwd)) continue;
        Row r;
        r.op = pass == 0 ? "softmax_fwd" : "softmax_bwd";
        r.shape = bs.label;
        r.batch = batch;
        r.bytes = (pass == 0 ? 2 : 3) * n * 4;  // x in, y out; y, g in, gx out
        r.tol = kTolSoftmax;
        r.check_against = "CPU kernel";
        const std::vector<float>& exact = pass == 0 ? exact_y : exact_gx;
#ifdef DDPM_BENCH_CUDNN
        r.ref_kind = RefKind::cudnn;
        r.ref_detail = pass == 0
                           ? "cudnnSoftmaxForward ACCURATE, INSTANCE over the last dim, on x pre-scaled "
                             "(untimed: cuDNN has no scale)"
                           : "cudnnSoftmaxBackward ACCURATE, INSTANCE over the last dim, alpha = scale";
        run_ref(
            r,
            [&] {
              (pass == 0 ? std::function<void()>(ref_fwd) : std::function<void()>(ref_bwd))();
              return norm_err(host(pass == 0 ? ry : rgx), exact);
            },
            pass == 0 ? std::function<void()>(ref_fwd) : std::function<void()>(ref_bwd));
#else
        r.ref_kind = RefKind::roofline;
        r.ref_detail = "memory roofline (built without cuDNN)";
#endif
        Tensor out;
        auto ours = [&] {
          out = pass == 0 ? kernels::softmax_fwd(x, a.scale, Tensor()) : kernels::softmax_bwd(y, g, a.scale);
        };
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
      cudnnDestroyTensorDescriptor(td);
#endif
    }
}

}  // namespace ddpm::bench
