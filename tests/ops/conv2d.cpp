// conv2d(x, w, b, stride, pad): NCHW, square kernels.
//
// Gradient check (float64): small shapes that cover what the CPU kernels
// branch on: odd sizes, batch > 1, bias or none, the im2col path (padding,
// stride 2, kernels 1, 2, 3, 5), the 1x1 direct (no im2col) path, and batches
// where several images share one GEMM. Each also runs as an FP32 parity case.
//
// Parity: the CUDA variants: the FP32 SIMT implicit GEMM (the default), the
// TF32 and BF16 tensor-core GEMMs (math mode tf32, bf16), each as the
// autotuner picks and in each main loop forced (register-staged, cp.async
// pipelined), and the direct reference kernels; on small odd shapes (sizes
// that are not multiples of any tile: 64 x 128 block tiles, k-tiles of 8) and
// the seed UNet's real layers at batch 2.
//   FP32: fp32_tol(k) of the longest sum of the case (tests/ops/common.h).
//   TF32: each operand is rounded (cvt.rna) to 11 significant bits, a relative
//     error uniform in +-2^-11, so a product is off by ~2^-11 sqrt(2/3) ~ 4e-4
//     rms, and a sum of random-sign products by the same relative amount: 2e-3.
//   BF16: 8 significant bits, rounding errors up to 2^-8 relative: ~2e-3 rms
//     per product and per sum; 1e-2 (the CPU side runs FP32).
//
// Bench: every conv of the base-64 UNet (3x3 pad 1 unless 1x1), in forward
// order, with how often the UNet uses each shape; against cuDNN on the GPU.
#include "kernels/conv2d.h"

#include <algorithm>
#include <sstream>

#include "autograd/functions.h"
#include "kernels/math_mode.h"
#include "tests/ops/common.h"

namespace ddpm::test {

using namespace cases;

namespace {

using kernels::Conv2dCudaAlgo;
using kernels::MathMode;

constexpr double kTf32Tol = 2e-3;
const char* kTf32Why = "TF32 operands (11 significant bits): ~4e-4 rms relative per product and per sum";
// BF16 operands (8 significant bits): each rounded by at most 2^-8 relative,
// ~2e-3 rms per product and per sum of random-sign products; against the
// CPU's FP32 (the CPU side of a BF16 case runs FP32).
constexpr double kBf16Tol = 1e-2;
// Winograd with TF32 GEMMs: the transformed operands (sums of up to 4 inputs
// or 9 weights) are rounded to TF32, which lifts the error above the direct
// TF32 path's; the dense emulation (TF32-rounding GEMM stand-in) measures it.
constexpr double kWinogradTf32Tol = 5e-3;
const char* kWinogradTf32Why = "Winograd F(2x2,3x3) with TF32 GEMMs: TF32-rounded transforms";
const char* kBf16Why = "BF16 operands (8 significant bits): ~2e-3 rms relative per product and per sum";

// The longest sum of a conv's three passes: Cin*K*K (fwd), Cout*K*K
// (bwd-data), N*Hout*Wout (bwd-weight).
int64_t longest_sum(int64_t n, int64_t cin, int64_t cout, int64_t k, int64_t hout, int64_t wout) {
  return std::max({cin * k * k, cout * k * k, n * hout * wout});
}

struct ConvSpec {
  int64_t n, cin, cout, h, w, k, stride, pad;
  bool bias;
};

std::string conv_label(const ConvSpec& s, const char* variant) {
  return "x [" + std::to_string(s.n) + ", " + std::to_string(s.cin) + ", " + std::to_string(s.h) + ", " +
         std::to_string(s.w) + "] -> " + std::to_string(s.cout) + " k" + std::to_string(s.k) + " s" +
         std::to_string(s.stride) + " p" + std::to_string(s.pad) + (s.bias ? " bias " : " no-bias ") +
         variant;
}

// variant: "fp32" (automatic, FP32 math: the SIMT GEMM in the main loop the
// autotuner picks), "tf32" / "bf16" (automatic, TF32 / BF16 math: the
// tensor-core GEMMs), each main loop forced ("fp32-registers",
// "fp32-pipelined", "tf32-registers", "tf32-pipelined", "bf16-registers",
// "bf16-pipelined"), each wide tile forced ("fp32-wide", "tf32-wide",
// "bf16-wide": 128 x 128 x 16, cp.async, ldmatrix for TF32 / BF16), "winograd-fp32" (Winograd F(2x2,3x3) on
// cuBLAS for 3x3 stride-1 convs, the FP32 GEMM elsewhere), "winograd-tf32" (the same on TF32 tensor cores,
// the TF32 GEMM elsewhere), "direct" (the reference kernels).
Conv2dCudaAlgo variant_algo(const std::string& variant) {
  if (variant == "direct") return Conv2dCudaAlgo::direct;
  if (variant == "fp32-registers") return Conv2dCudaAlgo::implicit_gemm_fp32;
  if (variant == "fp32-pipelined") return Conv2dCudaAlgo::implicit_gemm_fp32_pipelined;
  if (variant == "tf32-registers") return Conv2dCudaAlgo::implicit_gemm_tf32;
  if (variant == "tf32-pipelined") return Conv2dCudaAlgo::implicit_gemm_tf32_pipelined;
  if (variant == "bf16-registers") return Conv2dCudaAlgo::implicit_gemm_bf16;
  if (variant == "bf16-pipelined") return Conv2dCudaAlgo::implicit_gemm_bf16_pipelined;
  if (variant == "fp32-wide") return Conv2dCudaAlgo::implicit_gemm_fp32_wide;
  if (variant == "tf32-wide") return Conv2dCudaAlgo::implicit_gemm_tf32_wide;
  if (variant == "bf16-wide") return Conv2dCudaAlgo::implicit_gemm_bf16_wide;
  if (variant == "winograd-fp32") return Conv2dCudaAlgo::winograd_fp32;
  if (variant == "winograd-tf32") return Conv2dCudaAlgo::winograd_tf32;
  return Conv2dCudaAlgo::automatic;
}

ParityCase conv_case(const ConvSpec& s, const std::string& variant) {
  const int64_t hout = (s.h + 2 * s.pad - s.k) / s.stride + 1, wout = (s.w + 2 * s.pad - s.k) / s.stride + 1;
  const int64_t longest = longest_sum(s.n, s.cin, s.cout, s.k, hout, wout);
  const bool wino_tf32 = variant == "winograd-tf32";
  const bool tf32 = variant.rfind("tf32", 0) == 0 || wino_tf32, bf16 = variant.rfind("bf16", 0) == 0;
  const Conv2dCudaAlgo algo = variant_algo(variant);
  ParityCase c;
  c.op = "conv2d";
  c.label = conv_label(s, variant.c_str());
  // Winograd: the direct sum's kind of bound with up to 11 more roundings per
  // term from the transforms: twice the FP32 tolerance.
  const bool wino = variant == "winograd-fp32";
  c.tol = wino_tf32 ? kWinogradTf32Tol
          : tf32    ? kTf32Tol
          : bf16    ? kBf16Tol
                    : (wino ? 2.0 : 1.0) * fp32_tol(longest);
  c.why = wino_tf32 ? kWinogradTf32Why
          : tf32    ? kTf32Why
          : bf16    ? kBf16Why
                    : (wino ? "Winograd F(2x2,3x3), 2x: " : "") + fp32_why(longest);
  c.run = [s, hout, wout, tf32, bf16, algo](Device dev) {
    // BF16 math on the GPU only: the CPU side is the FP32 reference.
    const MathMode m =
        tf32 ? MathMode::tf32 : (bf16 && dev == Device::cuda ? MathMode::bf16 : MathMode::fp32);
    kernels::MathModeScope mode(m);
    kernels::Conv2dCudaAlgoScope use(algo);
    Tensor x = parity_input({s.n, s.cin, s.h, s.w}, 1, dev, -1, 1, true);
    Tensor w = parity_input({s.cout, s.cin, s.k, s.k}, 2, dev, -1, 1, true);
    Tensor b = s.bias ? parity_input({s.cout}, 3, dev, -1, 1, true) : Tensor();
    Tensor y = conv2d(x, w, b, s.stride, s.pad);
    autograd::backward(y, parity_input({s.n, s.cout, hout, wout}, 4, dev));
    NamedResults r{{"y", out(y)}, {"grad x", x.grad()}, {"grad w", w.grad()}};
    if (s.bias) r.emplace_back("grad b", b.grad());
    return r;
  };
  return c;
}

void add_grad_cases(OpCases& c) {
  struct Conv {
    Shape x;
    int64_t cout, k, stride, pad;
    bool bias;
  };
  const std::vector<Conv> convs = {
      {{2, 3, 5, 7}, 4, 3, 1, 1, true},   // the UNet's 3x3 pad 1, odd H/W
      {{2, 3, 5, 7}, 4, 3, 1, 1, false},  // same, no bias
      {{2, 3, 5, 6}, 2, 1, 1, 0, true},   // 1x1: the direct (no im2col) path
      {{2, 3, 7, 5}, 4, 3, 2, 1, true},   // stride 2
      {{2, 2, 6, 7}, 3, 3, 2, 1, false},  // stride 2, even H: the same Hout as H = 5
      {{2, 3, 6, 7}, 2, 5, 1, 0, true},   // 5x5, no padding
      {{1, 2, 5, 4}, 3, 2, 1, 0, false},  // 2x2, no padding, batch 1
      {{3, 2, 3, 3}, 3, 3, 1, 1, true},   // 3x3 spatial: several images per GEMM
      {{2, 2, 4, 5}, 3, 3, 1, 2, true},   // padding wider than needed (zero border rows)
      {{2, 2, 3, 4}, 3, 1, 1, 1, false},  // 1x1 padded: bwd-data cannot be a flipped forward conv
      {{1, 2, 4, 4}, 16, 3, 1, 1, true},  // 16 output channels: bwd-weight's packed GEMM path
  };
  for (const Conv& cv : convs) {
    const Shape w{cv.cout, cv.x[1], cv.k, cv.k};
    std::ostringstream label;
    label << "x" << shape_str(cv.x) << " w" << shape_str(w) << " stride " << cv.stride << " pad " << cv.pad
          << (cv.bias ? " bias" : " no bias");
    std::vector<Shape> inputs = {cv.x, w};
    if (cv.bias) inputs.push_back({cv.cout});
    GradCase g{"conv2d", label.str(), inputs,
               [cv](V in) { return conv2d(in[0], in[1], cv.bias ? in[2] : Tensor(), cv.stride, cv.pad); }};
    // As a parity case: FP32, the default (automatic) CUDA algorithm.
    const int64_t hout = (cv.x[2] + 2 * cv.pad - cv.k) / cv.stride + 1,
                  wout = (cv.x[3] + 2 * cv.pad - cv.k) / cv.stride + 1;
    const int64_t longest = longest_sum(cv.x[0], cv.x[1], cv.cout, cv.k, hout, wout);
    g.parity_tol = fp32_tol(longest);
    g.parity_why = fp32_why(longest);
    c.grad.push_back(g);
  }
  // The fused per-plane add (the residual block's time embedding): its
  // gradient is the per-plane sum of the output gradient. As a parity case it
  // checks the CUDA epilogue (unsplit 3x3, and the split reduce of a long
  // reduction on few tiles) against the CPU's add after the convolution.
  struct AddConv {
    Shape x;
    int64_t cout, k, pad;
  };
  for (const AddConv& cv : {AddConv{{2, 3, 5, 7}, 4, 3, 1}, AddConv{{1, 40, 4, 4}, 6, 3, 1}}) {
    const Shape w{cv.cout, cv.x[1], cv.k, cv.k};
    std::ostringstream label;
    label << "x" << shape_str(cv.x) << " w" << shape_str(w) << " pad " << cv.pad << " bias, per-plane add";
    GradCase g{"conv2d", label.str(), {cv.x, w, {cv.cout}, {cv.x[0], cv.cout}}, [cv](V in) {
                 return conv2d(in[0], in[1], in[2], 1, cv.pad, in[3]);
               }};
    const int64_t longest = longest_sum(cv.x[0], cv.x[1], cv.cout, cv.k, cv.x[2], cv.x[3]);
    g.parity_tol = fp32_tol(longest);
    g.parity_why = fp32_why(longest);
    c.grad.push_back(g);
  }
}

void add_parity_cases(OpCases& c) {
  const ConvSpec small[] = {
      {2, 3, 5, 7, 9, 3, 1, 1, true},     // odd everything, 3x3 same padding
      {2, 3, 5, 7, 9, 3, 1, 1, false},    // without bias
      {2, 3, 5, 7, 9, 1, 1, 0, true},     // 1x1
      {2, 3, 5, 7, 9, 3, 2, 1, true},     // stride 2: 4 x 5 out
      {2, 3, 5, 8, 9, 3, 2, 0, false},    // stride 2, no padding: 3 x 4 out
      {2, 3, 4, 7, 9, 5, 1, 2, true},     // 5x5: K*K = 25 walks the (kh, kw) wrap
      {1, 2, 3, 6, 6, 2, 2, 0, true},     // even kernel, stride = kernel
      {3, 67, 70, 11, 13, 3, 1, 1, true}  // two row tiles (70 > 64), 429 pixels, Cin*K*K = 603
  };
  const ConvSpec unet[] = {
      {2, 1, 64, 32, 32, 3, 1, 1, true},    // enc1 conv1 (Cin*K*K = 9)
      {2, 64, 64, 32, 32, 3, 1, 1, true},   // enc1 conv2
      {2, 128, 256, 8, 8, 3, 1, 1, true},   // enc3 conv1
      {2, 768, 256, 8, 8, 3, 1, 1, true},   // dec3 conv1 (512 + 256 in)
      {2, 192, 64, 32, 32, 3, 1, 1, true},  // dec1 conv1 (128 + 64 in)
      {2, 64, 1, 32, 32, 1, 1, 0, true},    // final 1x1
  };
  const bool big = !small_only();
  for (const char* variant : {"fp32", "tf32", "bf16", "fp32-registers", "fp32-pipelined", "tf32-registers",
                              "tf32-pipelined", "bf16-registers", "bf16-pipelined", "fp32-wide", "tf32-wide",
                              "bf16-wide", "winograd-fp32", "winograd-tf32", "direct"}) {
    for (const ConvSpec& s : small) c.parity.push_back(conv_case(s, variant));
    if (big && std::string(variant) != "direct")
      for (const ConvSpec& s : unet) c.parity.push_back(conv_case(s, variant));
  }
  if (big) c.parity.push_back(conv_case(unet[1], "direct"));
}

// Every conv of the base-64 UNet (3x3 pad 1 unless 1x1), in forward order:
// ddpm-bench's label, the CPU table's name, Cin, Cout, H = W, K, uses.
void add_bench_shapes(OpCases& c) {
  struct S {
    const char* label;
    const char* name;
    int64_t cin, cout, hw, k, uses;
  };
  const S shapes[] = {
      {"1->64 3x3 @32", "enc1a 1->64 @32", 1, 64, 32, 3, 1},
      {"64->64 3x3 @32", "64->64 @32", 64, 64, 32, 3, 2},
      {"64->128 3x3 @16", "enc2a 64->128 @16", 64, 128, 16, 3, 1},
      {"128->128 3x3 @16", "128->128 @16", 128, 128, 16, 3, 2},
      {"128->256 3x3 @8", "enc3a 128->256 @8", 128, 256, 8, 3, 1},
      {"256->256 3x3 @8", "256->256 @8", 256, 256, 8, 3, 2},
      {"256->512 3x3 @4", "bota 256->512 @4", 256, 512, 4, 3, 1},
      {"512->512 3x3 @4", "botb 512->512 @4", 512, 512, 4, 3, 1},
      {"768->256 3x3 @8", "dec3a 768->256 @8", 768, 256, 8, 3, 1},
      {"384->128 3x3 @16", "dec2a 384->128 @16", 384, 128, 16, 3, 1},
      {"192->64 3x3 @32", "dec1a 192->64 @32", 192, 64, 32, 3, 1},
      {"64->1 1x1 @32", "final 64->1 1x1 @32", 64, 1, 32, 1, 1},
  };
  for (const S& s : shapes) {
    BenchShape b;
    b.label = s.label;
    b.name = s.name;
    b.sample = {s.cin, s.hw, s.hw};
    b.cout = s.cout;
    b.k = s.k;
    b.uses = s.uses;
    c.bench.push_back(b);
  }
}

}  // namespace

std::vector<OpCases> conv2d_op_cases() {
  OpCases c{"conv2d", {}, {}, {}};
  add_grad_cases(c);
  add_parity_cases(c);
  add_bench_shapes(c);
  return {c};
}

}  // namespace ddpm::test
