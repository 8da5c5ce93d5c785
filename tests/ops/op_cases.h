// One case list per op (in the spirit of ggml's test-backend-ops).
//
// Every op of kernels/ops.h declares its cases once, in tests/ops/<op>.cpp
// (or the file of its family: elementwise.cpp, reduce.cpp, diffusion_ops.cpp,
// optimizer.cpp): an OpCases holding
//   grad    gradient-check cases, run in float64 against central differences
//           by `ddpm_tests -tc='gradcheck: <op>'` (tests/test_gradcheck.cpp);
//           each case whose parity_tol is set also runs as a CUDA-vs-CPU
//           parity case in float32 (the same function, shapes and value range;
//           tests/gpu/test_parity.cpp), so a shape is written once;
//   parity  the hand-written parity cases (CUDA-only variants: TF32, the
//           direct conv kernels, unaligned views, the UNet's real shapes, the
//           saved statistics, ops without a backward), each with its
//           tolerance and a one-line reason;
//   bench   the shapes ddpm-bench times the op at (benchmarks/kernel_bench/,
//           `ddpm-bench --op <op>`, CUDA or `--device cpu`).
// The three runners iterate all_op_cases(), so a new case is gradient-checked,
// parity-checked and benchmarked everywhere at once, and the completeness tests
// fail for an op of kernels/ops.h without a gradient-check case (when
// differentiable) or a parity case.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "tests/gpu/parity.h"
#include "tests/gradcheck.h"

namespace ddpm::test {

// A shape ddpm-bench times an op at; the batch sizes come from --batch.
struct BenchShape {
  std::string label;  // ddpm-bench's "shape" column (benchmarks/report.py keys rows by it)
  // One sample's input, without the batch: conv2d x [Cin, H, W]; group_norm
  // and silu [C, H, W]; q_sample, ddpm_step, ddim_step [1, 32, 32]; attention
  // {heads, head dim, Lq, Lk}; empty for adam_update and ema_update (they run
  // over the UNet's flat parameters).
  Shape sample;
  int64_t cout = 0, k = 0;  // conv2d: output channels, square kernel (stride 1, pad k / 2)
  int64_t groups = 0;       // group_norm
  int64_t uses = 1;         // conv2d: how many convs of the base-64 UNet have this shape
  std::string name;         // conv2d: the layer name of the CPU table (docs/conv2d_cpu.md, conv2d_torch.py)
};

struct OpCases {
  std::string op;  // name in kernels/ops.h
  std::vector<GradCase> grad;
  std::vector<ParityCase> parity;
  std::vector<BenchShape> bench;
};

// Every op's cases, in the order of kernels/ops.h (tests/ops/registry.cpp).
const std::vector<OpCases>& all_op_cases();
// The cases of one op; nullptr when it has none.
const OpCases* find_op_cases(std::string_view op);

// The parity cases of an op: its hand-written ones, then one per
// gradient-check case with parity_tol >= 0 (parity_from_grad).
std::vector<ParityCase> parity_cases(const OpCases& c);

// A gradient-check case run as a parity case: inputs from parity_input (f32,
// the case's range, streams 10, 11, ...), y = fn(inputs) under MathMode::fp32,
// backward against parity_input(y's shape, stream 99); results y and every
// input gradient. Tolerance and reason from the case's parity_tol/parity_why.
ParityCase parity_from_grad(const GradCase& g);

// Sets parity_tol and parity_why on every case of a list (an op whose
// gradient-check cases all share one parity tolerance).
void derive_parity(std::vector<GradCase>& cases, double tol, const std::string& why);

// Each family file contributes its ops (tests/ops/*.cpp).
std::vector<OpCases> elementwise_op_cases();        // add sub mul div neg exp log sqrt sin cos
std::vector<OpCases> reshape_op_cases();            // reshape
std::vector<OpCases> reduce_op_cases();             // sum mean
std::vector<OpCases> silu_op_cases();               // silu
std::vector<OpCases> mse_loss_op_cases();           // mse_loss
std::vector<OpCases> matmul_op_cases();             // matmul
std::vector<OpCases> linear_op_cases();             // linear
std::vector<OpCases> bmm_op_cases();                // bmm
std::vector<OpCases> attention_op_cases();          // attention
std::vector<OpCases> conv2d_op_cases();             // conv2d
std::vector<OpCases> group_norm_op_cases();         // group_norm
std::vector<OpCases> group_norm_silu_op_cases();    // group_norm_silu
std::vector<OpCases> max_pool2d_op_cases();         // max_pool2d
std::vector<OpCases> upsample_op_cases();           // upsample_bilinear2d
std::vector<OpCases> concat_op_cases();             // concat
std::vector<OpCases> global_avg_pool2d_op_cases();  // global_avg_pool2d
std::vector<OpCases> cross_entropy_op_cases();      // cross_entropy
std::vector<OpCases> softmax_op_cases();            // softmax (scale, mask; and log_softmax, forward only)
std::vector<OpCases> dropout_op_cases();            // dropout
std::vector<OpCases> diffusion_op_cases();          // q_sample ddpm_step ddim_step
std::vector<OpCases> optimizer_op_cases();          // adam_update ema_update

}  // namespace ddpm::test
