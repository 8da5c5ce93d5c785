// What the case files share: parity tolerances with their reasons, and the
// helpers that build parity inputs (aligned or as unaligned views) and run a
// function forward and backward for a parity case.
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tests/ops/op_cases.h"

namespace ddpm::test::cases {

using V = const std::vector<Tensor>&;
using Inputs = std::vector<Tensor>;

// Parity tolerances (normalised error ||cuda - cpu|| / ||cpu||), from where
// the two backends may differ:
//   0      add/sub/mul/div/neg, copies (concat, max pooling): IEEE operations
//          on the same operands in the same order give the same bits.
//   1e-6   everything else, one rounding or a few ulp apart per element
//          (float relative precision 6e-8): transcendental functions (CUDA's
//          expf/logf/sinf/cosf within 2 ulp, glibc's within 1), multiply-adds
//          fused differently by nvcc and GCC, sums in another order (double
//          accumulation on the GPU, float or double on the CPU).
//   2^-23  the noise of q_sample / ddpm_step / ddim_step: the same Philox
//          draw and double Box-Muller; the device's double log/cos (within
//          2 ulp of double) can move a value across a float rounding boundary,
//          so each element may differ by at most 1 ulp, |d| <= 2^-23 |x|.
//   fp32_tol(k)  dense ops (conv2d, linear, matmul) in FP32: both devices sum
//          the same terms in FP32 in different orders. For k random-sign terms
//          the rounding error of a sum is ~ sqrt(k/2) * 2^-24 relative (a
//          random walk of per-add roundings of partial sums growing like
//          sqrt(i)); fp32_tol(k) allows 4x that for the longest sum of the
//          case, floored at 1e-6.
constexpr double kExact = 0.0;
constexpr double kRounding = 1e-6;
inline double one_ulp() { return std::ldexp(1.0, -23); }
inline constexpr const char* kWhyExact =
    "IEEE add/sub/mul/div, negation and copies: the same bits on both devices";
inline constexpr const char* kWhyRounding =
    "a few ulp per element: CUDA vs glibc transcendentals, fused multiply-adds, summation order";
// Both devices sum in double (in different orders) and round once: at most
// an ulp apart. (Until 2026-11-26 the CPU summed in float, which drifted to
// 5e-6 on the 6519-term case; the first GPU run caught it.)
inline constexpr const char* kWhyReduction =
    "sum_to in double on both devices, in different orders, rounded once: <= 1 ulp";
inline constexpr const char* kWhyNoise =
    "same Philox draw and double Box-Muller; device double log/cos may flip the float rounding: <= 1 ulp";

double fp32_tol(int64_t k);
std::string fp32_why(int64_t k);

// DDPM_PARITY_SMALL=1 in the environment keeps only the small parity shapes
// (for compute-sanitizer runs, which are orders of magnitude slower).
bool small_only();

// One input of a parity case: shape, value range, whether it requires a
// gradient, and whether it is an unaligned view (a parameter in a flat buffer
// at an odd offset, its gradient accumulated in place into another unaligned
// view).
struct In {
  Shape shape;
  double lo = -1, hi = 1;
  bool grad = true;
  bool unaligned = false;
};

// A view of a fresh buffer of n + extra elements, starting `extra` elements
// in: not 16-byte aligned for extra = 1, 2, 3.
Tensor offset_view(const Shape& shape, Device device, int64_t extra);
Tensor make_input(const In& in, uint64_t stream, Device device);

// y = fn(inputs made from ins, streams 10, 11, ...), backward against
// parity_input(y's shape, stream 99); results y and each gradient.
NamedResults run_with_grads(const std::vector<In>& ins, const std::function<Tensor(const Inputs&)>& fn,
                            Device device);
ParityCase grad_case(const std::string& op, const std::string& label, std::vector<In> ins,
                     std::function<Tensor(const Inputs&)> fn, double tol, const std::string& why);

// The UNet's four activation shapes (after each level's convs: 64x32x32,
// 128x16x16, 256x8x8, 512x4x4), where GroupNorm (groups > 0) and SiLU run.
std::vector<BenchShape> unet_activation_shapes(int64_t groups);

// A result tensor cut from the graph, for the runner.
inline Tensor out(const Tensor& t) { return t.detach(); }

}  // namespace ddpm::test::cases
