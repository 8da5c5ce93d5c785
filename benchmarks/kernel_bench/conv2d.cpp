// conv2d fwd / bwd-data / bwd-weight against cuDNN (algorithm picked by
// cudnnFindConvolution*AlgorithmEx, given the workspace it asks for) at every
// conv of the base-64 UNet (tests/ops/conv2d.cpp's bench shapes; no bias on
// either side), FP32 with TF32 off (CUDNN_FMA_MATH; ours MathMode::fp32), and
// with --tf32 again with TF32 allowed on both sides (CUDNN_TENSOR_OP_MATH;
// ours MathMode::tf32), and with --precision ...,bf16 on BF16 tensor cores
// (cuDNN: BF16 tensors, FLOAT compute, tensor-op math; ours MathMode::bf16,
// which takes the FP32 tensors and rounds the operands in the kernel).
// Checked against cuDNN in FP32 with a transform-free
// algorithm (or, without cuDNN, the CPU kernel). Ours is Conv2dCudaAlgo::
// automatic (the autotuner's pick, named in the row's "variant"); each
// main-loop variant is then timed forced ("variants_ms").
#include "kernels/conv2d.h"

#include "benchmarks/kernel_bench/bench.h"
#if __has_include("kernels/autotune.h")
#include "kernels/autotune.h"
#endif
#include "tensor/rng.h"

namespace ddpm::bench {

#ifdef DDPM_BENCH_CUDNN
// cuDNN descriptors of one convolution (NCHW float, cross-correlation).
struct CudnnConv {
  cudnnTensorDescriptor_t x{}, y{};
  cudnnFilterDescriptor_t w{};
  cudnnConvolutionDescriptor_t conv{};
  // dt: the tensors' type (FLOAT, or BFLOAT16 for the BF16 rows); the
  // convolution computes in FLOAT either way.
  CudnnConv(const kernels::Conv2dDims& d, cudnnMathType_t math, cudnnDataType_t dt = CUDNN_DATA_FLOAT) {
    check_cudnn(cudnnCreateTensorDescriptor(&x), "cudnnCreateTensorDescriptor");
    check_cudnn(cudnnCreateTensorDescriptor(&y), "cudnnCreateTensorDescriptor");
    check_cudnn(cudnnCreateFilterDescriptor(&w), "cudnnCreateFilterDescriptor");
    check_cudnn(cudnnCreateConvolutionDescriptor(&conv), "cudnnCreateConvolutionDescriptor");
    auto i = [](int64_t v) { return static_cast<int>(v); };
    check_cudnn(cudnnSetTensor4dDescriptor(x, CUDNN_TENSOR_NCHW, dt, i(d.N), i(d.Cin), i(d.H), i(d.W)),
                "cudnnSetTensor4dDescriptor");
    check_cudnn(cudnnSetTensor4dDescriptor(y, CUDNN_TENSOR_NCHW, dt, i(d.N), i(d.Cout), i(d.Hout), i(d.Wout)),
                "cudnnSetTensor4dDescriptor");
    check_cudnn(cudnnSetFilter4dDescriptor(w, dt, CUDNN_TENSOR_NCHW, i(d.Cout), i(d.Cin), i(d.K), i(d.K)),
                "cudnnSetFilter4dDescriptor");
    check_cudnn(cudnnSetConvolution2dDescriptor(conv, i(d.pad), i(d.pad), i(d.stride), i(d.stride), 1, 1,
                                                CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
                "cudnnSetConvolution2dDescriptor");
    check_cudnn(cudnnSetConvolutionMathType(conv, math), "cudnnSetConvolutionMathType");
  }
  ~CudnnConv() {
    cudnnDestroyTensorDescriptor(x);
    cudnnDestroyTensorDescriptor(y);
    cudnnDestroyFilterDescriptor(w);
    cudnnDestroyConvolutionDescriptor(conv);
  }
  CudnnConv(const CudnnConv&) = delete;
  CudnnConv& operator=(const CudnnConv&) = delete;
};

// The fastest successful result of a cudnnFind*: with TF32 off, results that
// would use tensor-op math are skipped (the descriptor forbids them anyway).
template <class Perf>
const Perf* best_perf(const Perf* p, int n, bool allow_tensor_ops) {
  for (int i = 0; i < n; ++i) {
    if (p[i].status != CUDNN_STATUS_SUCCESS) continue;
    const bool tensor_op =
        p[i].mathType == CUDNN_TENSOR_OP_MATH || p[i].mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION;
    if (tensor_op && !allow_tensor_ops) continue;
    return &p[i];
  }
  return nullptr;
}
#endif

void Bench::conv(const std::vector<std::string>& passes) {
  std::vector<std::string> precisions = {"fp32"};
  if (tf32_) precisions.emplace_back("tf32");
  if (bf16_) precisions.emplace_back("bf16");
  for (const test::BenchShape& cs : bench_shapes("conv2d"))
    for (int64_t B : batches_) {
      const int64_t cin = cs.sample[0], hw = cs.sample[1], pad = cs.k / 2;
      const Tensor x = randn({B, cin, hw, hw}, 1, 1, DType::f32, Device::cuda);
      const Tensor w = randn({cs.cout, cin, cs.k, cs.k}, 1, 2, DType::f32, Device::cuda);
      const Tensor gy = randn({B, cs.cout, hw, hw}, 1, 3, DType::f32, Device::cuda);
      const kernels::Conv2dDims d = kernels::conv2d_dims(x, w, Tensor(), 1, pad);
      const double flops =
          2.0 * dbl(d.N) * dbl(d.Cout) * dbl(d.Hout) * dbl(d.Wout) * dbl(d.Cin) * dbl(d.K * d.K);
      // The check reference per pass: cuDNN's FP32 result (or the CPU's).
      std::vector<std::vector<float>> exact(passes.size());
      // BF16 rows: cuDNN reads BF16 copies of the inputs and writes BF16
      // (ours takes the FP32 tensors and rounds inside the kernel).
      Tensor xb, wb, gyb;
      for (const std::string& prec : precisions) {
        const bool tf32 = prec == "tf32", bf16 = prec == "bf16";
        if (bf16 && !xb.defined()) {
          xb = x.to(DType::bf16);
          wb = w.to(DType::bf16);
          gyb = gy.to(DType::bf16);
        }
        // cuDNN's inputs for this row.
        [[maybe_unused]] const void* xp = bf16 ? xb.raw_data() : x.raw_data();
        [[maybe_unused]] const void* wp = bf16 ? wb.raw_data() : w.raw_data();
        [[maybe_unused]] const void* gyp = bf16 ? gyb.raw_data() : gy.raw_data();
        [[maybe_unused]] const bool tensor_ops = tf32 || bf16;
#ifdef DDPM_BENCH_CUDNN
        CudnnConv desc(d, tensor_ops ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH,
                       bf16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT);
#endif
        for (size_t pi = 0; pi < passes.size(); ++pi) {
          const std::string& pass = passes[pi];
          Row r;
          r.op = pass;
          r.shape = cs.label;
          r.batch = B;
          r.precision = prec;
          r.flops = flops;
          r.tol = tf32 ? kTolConvTf32 : bf16 ? kTolConvBf16 : kTolConvFp32;
          Tensor ref_out;
#ifdef DDPM_BENCH_CUDNN
          r.ref_kind = RefKind::cudnn;
          r.check_against = "cuDNN FP32, transform-free algorithm (implicit GEMM / ALGO_1), FMA math";
          try {
            const bool fwd = pass == "conv2d_fwd", bdata = pass == "conv2d_bwd_data";
            ref_out = Tensor::empty(fwd ? gy.shape() : (bdata ? x.shape() : w.shape()),
                                    bf16 ? DType::bf16 : DType::f32, Device::cuda);
            void* refp = ref_out.raw_data();
            const float one = 1.0f, zero = 0.0f;
            auto set_math = [&](cudnnMathType_t m) {
              check_cudnn(cudnnSetConvolutionMathType(desc.conv, m), "cudnnSetConvolutionMathType");
            };
            // Runs this pass with cuDNN algorithm `algo` (of this pass's enum) into ref_out.
            auto run_algo = [&](int algo, size_t ws) {
              if (fwd)
                check_cudnn(cudnnConvolutionForward(cudnn_, &one, desc.x, xp, desc.w, wp, desc.conv,
                                                    static_cast<cudnnConvolutionFwdAlgo_t>(algo), find_ws_,
                                                    ws, &zero, desc.y, refp),
                            "cudnnConvolutionForward");
              else if (bdata)
                check_cudnn(cudnnConvolutionBackwardData(cudnn_, &one, desc.w, wp, desc.y, gyp, desc.conv,
                                                         static_cast<cudnnConvolutionBwdDataAlgo_t>(algo),
                                                         find_ws_, ws, &zero, desc.x, refp),
                            "cudnnConvolutionBackwardData");
              else
                check_cudnn(cudnnConvolutionBackwardFilter(cudnn_, &one, desc.x, xp, desc.y, gyp, desc.conv,
                                                           static_cast<cudnnConvolutionBwdFilterAlgo_t>(algo),
                                                           find_ws_, ws, &zero, desc.w, refp),
                            "cudnnConvolutionBackwardFilter");
            };
            // The check reference, once per pass: an algorithm that sums the
            // products directly (no Winograd or FFT transform, whose own
            // rounding error would blur the comparison), TF32 off.
            if (exact[pi].empty()) {
              if (bf16) throw std::runtime_error("no FP32 check reference (its row failed)");
              set_math(CUDNN_FMA_MATH);
              const int direct = fwd ? static_cast<int>(CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM)
                                     : (bdata ? static_cast<int>(CUDNN_CONVOLUTION_BWD_DATA_ALGO_1)
                                              : static_cast<int>(CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1));
              size_t ws = 0;
              if (fwd)
                check_cudnn(
                    cudnnGetConvolutionForwardWorkspaceSize(cudnn_, desc.x, desc.w, desc.conv, desc.y,
                                                            CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, &ws),
                    "cudnnGetConvolutionForwardWorkspaceSize");
              else if (bdata)
                check_cudnn(
                    cudnnGetConvolutionBackwardDataWorkspaceSize(cudnn_, desc.w, desc.y, desc.conv, desc.x,
                                                                 CUDNN_CONVOLUTION_BWD_DATA_ALGO_1, &ws),
                    "cudnnGetConvolutionBackwardDataWorkspaceSize");
              else
                check_cudnn(
                    cudnnGetConvolutionBackwardFilterWorkspaceSize(cudnn_, desc.x, desc.y, desc.conv, desc.w,
                                                                   CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1, &ws),
                    "cudnnGetConvolutionBackwardFilterWorkspaceSize");
              if (ws > kFindWorkspace)
                throw std::runtime_error("the check algorithm wants " + std::to_string(ws) + " B");
              run_algo(direct, ws);
              exact[pi] = host(ref_out);
            }
            // The timed reference: the fastest algorithm cudnnFind*Ex reports
            // at the requested math (tensor-op results skipped with TF32 off).
            set_math(tensor_ops ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH);
            int algo = -1, n = 0;
            size_t ws = 0;
            cudnnMathType_t found = CUDNN_FMA_MATH;
            auto pick = [&](const auto* perf, int count) {
              const auto* p = best_perf(perf, count, tensor_ops);
              if (!p) throw std::runtime_error("no cuDNN algorithm ran for " + pass);
              algo = static_cast<int>(p->algo);
              ws = p->memory;
              found = p->mathType;
            };
            if (fwd) {
              cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
              check_cudnn(cudnnFindConvolutionForwardAlgorithmEx(
                              cudnn_, desc.x, xp, desc.w, wp, desc.conv, desc.y, refp,
                              CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n, perf, find_ws_, kFindWorkspace),
                          "cudnnFindConvolutionForwardAlgorithmEx");
              pick(perf, n);
            } else if (bdata) {
              cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
              check_cudnn(cudnnFindConvolutionBackwardDataAlgorithmEx(
                              cudnn_, desc.w, wp, desc.y, gyp, desc.conv, desc.x, refp,
                              CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n, perf, find_ws_, kFindWorkspace),
                          "cudnnFindConvolutionBackwardDataAlgorithmEx");
              pick(perf, n);
            } else {
              cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
              check_cudnn(cudnnFindConvolutionBackwardFilterAlgorithmEx(
                              cudnn_, desc.x, xp, desc.y, gyp, desc.conv, desc.w, refp,
                              CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &n, perf, find_ws_, kFindWorkspace),
                          "cudnnFindConvolutionBackwardFilterAlgorithmEx");
              pick(perf, n);
            }
            // With TF32 allowed the algorithm runs with the math type Find
            // timed it with; with TF32 off the descriptor stays at FMA math.
            if (tensor_ops) set_math(found);
            r.ref_detail = "cuDNN algo " + std::to_string(algo) + ", workspace " + std::to_string(ws) + " B" +
                           (found == CUDNN_TENSOR_OP_MATH || found == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION
                                ? ", tensor-op math"
                                : "");
            auto run = [&, algo, ws] { run_algo(algo, ws); };
            run_ref(
                r,
                [&] {
                  run();
                  return norm_err(host(bf16 ? ref_out.to(DType::f32) : ref_out), exact[pi]);
                },
                run);
          } catch (const std::exception& e) {
            r.error = std::string("reference: ") + e.what();
          }
#else
          r.check_against = "CPU kernel";
          if (exact[pi].empty()) {
            const Tensor xc = x.to(Device::cpu), wc = w.to(Device::cpu), gc = gy.to(Device::cpu);
            if (pass == "conv2d_fwd")
              exact[pi] = host(kernels::conv2d_fwd(xc, wc, Tensor(), 1, pad));
            else if (pass == "conv2d_bwd_data")
              exact[pi] = host(kernels::conv2d_bwd_data(gc, wc, x.shape(), 1, pad));
            else
              exact[pi] = host(kernels::conv2d_bwd_weight(xc, gc, w.shape(), 1, pad));
          }
#endif
          Tensor out;
          auto ours = [&] {
#ifdef DDPM_BENCH_MATH_MODE
            kernels::MathModeScope mode(tf32   ? kernels::MathMode::tf32
                                        : bf16 ? kernels::MathMode::bf16
                                               : kernels::MathMode::fp32);
#endif
            if (pass == "conv2d_fwd")
              out = kernels::conv2d_fwd(x, w, Tensor(), 1, pad);
            else if (pass == "conv2d_bwd_data")
              out = kernels::conv2d_bwd_data(gy, w, x.shape(), 1, pad);
            else
              out = kernels::conv2d_bwd_weight(x, gy, w.shape(), 1, pad);
          };
          run_ours(
              r,
              [&] {
                ours();
                return exact[pi].empty() ? NAN : norm_err(host(out), exact[pi]);
              },
              ours);
#if __has_include("kernels/autotune.h")
          // Which variant the autotuner picked for `ours`, and each variant forced.
          const std::string tpass = pass == "conv2d_fwd"        ? "fwd"
                                    : pass == "conv2d_bwd_data" ? "bwd-data"
                                                                : "bwd-weight";
          const std::string key = kernels::conv2d_autotune_key(tpass, d, prec);
          for (const kernels::Autotuner::Choice& c : kernels::conv2d_autotuner().choices())
            if (c.key == key) r.variant = c.variant;
          const std::vector<kernels::Conv2dCudaAlgo> family =
              kernels::cuda::conv2d_candidates(d, tf32   ? kernels::MathMode::tf32
                                                  : bf16 ? kernels::MathMode::bf16
                                                         : kernels::MathMode::fp32);
          for (const kernels::Conv2dCudaAlgo a : family) {
            try {
              kernels::Conv2dCudaAlgoScope use(a);
              r.variants.emplace_back(kernels::conv2d_cuda_algo_name(a), timer_.time(ours));
            } catch (const std::exception& e) {
              r.error += std::string(r.error.empty() ? "" : "; ") + kernels::conv2d_cuda_algo_name(a) + ": " +
                         e.what();
            }
          }
#endif
          print(r);
          rows.push_back(r);
        }
      }
    }
}

}  // namespace ddpm::bench
