// softmax over the last dim with scale and mask (autograd softmax,
// kernels::softmax_fwd / softmax_bwd), and the forward-only softmax /
// log_softmax of [N, K] (evaluation).
//
// Gradient checks: scale 1 and not (negative too), leading dims, odd K,
// K > the CUDA kernel's 128 threads per row, a mask row [K] and mask rows
// [Rm, K] cycling over the rows, a fully masked row (zeros, zero gradient).
// Parity: those at 1e-6 (double exp/log/sums on both devices, rounded once),
// the attention shape of the UNet's 16x16 level with a causal mask, and the
// forward-only modes: K = 1, K = 10, K > 128, large logits. Bench shapes:
// the UNet's self-attention weights at 16x16 and 8x8.
#include "kernels/softmax.h"

#include <cmath>
#include <functional>
#include <string>
#include <tuple>
#include <vector>

#include "autograd/functions.h"
#include "tests/ops/common.h"

namespace ddpm::test {

using namespace cases;

namespace {

// A mask of x's dtype and device: 1 where keep(r, j), else 0.
Tensor make_mask(const Tensor& x, const Shape& shape, const std::function<bool(int64_t, int64_t)>& keep) {
  const int64_t rows = shape.size() == 1 ? 1 : shape[0], k = shape.back();
  std::vector<double> v(static_cast<size_t>(rows * k));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < k; ++j) v[static_cast<size_t>(r * k + j)] = keep(r, j) ? 1.0 : 0.0;
  return Tensor::from_vector(v, shape).to(x.dtype()).to(x.device());
}

struct SoftmaxSpec {
  std::string label;
  Shape x;
  double scale;
  Shape mask;  // empty: no mask
  std::function<bool(int64_t, int64_t)> keep;
};

Tensor run_spec(const SoftmaxSpec& s, const Tensor& x) {
  return softmax(x, s.scale, s.mask.empty() ? Tensor() : make_mask(x, s.mask, s.keep));
}

}  // namespace

std::vector<OpCases> softmax_op_cases() {
  OpCases c{"softmax", {}, {}, {}};
  auto some = [](int64_t r, int64_t j) { return (r + 2 * j) % 3 != 0; };
  auto causal = [](int64_t r, int64_t j) { return j <= r; };
  // Mask rows [3, 5]: row 1 fully masked.
  auto with_empty_row = [](int64_t r, int64_t j) { return r != 1 && (r + j) % 2 == 0; };
  const std::vector<SoftmaxSpec> specs = {
      {"[3,5]", {3, 5}, 1.0, {}, {}},
      {"[2,3,7] scale 0.37", {2, 3, 7}, 0.37, {}, {}},
      {"[4,6] scale -1.5", {4, 6}, -1.5, {}, {}},
      {"[1,1] (K = 1) scale 2", {1, 1}, 2.0, {}, {}},
      {"[2,3,5] mask [5]", {2, 3, 5}, 1.0, {5}, some},
      {"[2,4,4] causal mask [4,4] scale 0.5", {2, 4, 4}, 0.5, {4, 4}, causal},
      {"[2,3,5] mask [3,5] with a fully masked row, scale 1.7", {2, 3, 5}, 1.7, {3, 5}, with_empty_row},
      {"[2,131] (K > 128 threads) mask [2,131] scale 0.3", {2, 131}, 0.3, {2, 131}, some}};
  for (const SoftmaxSpec& s : specs) {
    GradCase g{"softmax", s.label, {s.x}, [s](V in) { return run_spec(s, in[0]); }};
    g.lo = -3;
    g.hi = 3;
    c.grad.push_back(g);
  }
  derive_parity(c.grad, kRounding, kWhyRounding);

  // Attention weights at the UNet's 16x16 level: 2 images x 4 heads, 256 x 256
  // scores, scale 1/sqrt(32), a causal mask [256, 256] over the 8 heads.
  if (!small_only())
    c.parity.push_back(grad_case(
        "softmax", "[8,256,256] scale 1/sqrt(32), causal mask [256,256]", {In{{8, 256, 256}, -8, 8}},
        [causal](const Inputs& in) {
          return softmax(in[0], 1 / std::sqrt(32.0), make_mask(in[0], {256, 256}, causal));
        },
        kRounding, kWhyRounding));

  for (const auto& [label, shape, lo, hi] : std::vector<std::tuple<std::string, Shape, double, double>>{
           {"[3,1] (K = 1)", {3, 1}, -1, 1},
           {"[64,10]", {64, 10}, -4, 4},
           {"[5,7] (odd)", {5, 7}, -1, 1},
           {"[3,1000] (K > 128 threads per row)", {3, 1000}, -2, 2},
           {"[8,10] in (-1e4, 1e4)", {8, 10}, -1e4, 1e4}})
    for (bool log : {false, true})
      c.parity.push_back(ParityCase{"softmax",
                                    label + (log ? " log_softmax" : " softmax") + " (forward only)",
                                    [shape = shape, lo = lo, hi = hi, log](Device d) {
                                      const Tensor x = parity_input(shape, 10, d, lo, hi);
                                      return NamedResults{{"y", kernels::softmax_fwd(x, log)}};
                                    },
                                    kRounding, kWhyRounding});
  // ddpm-bench (softmax_fwd, softmax_bwd): the attention weights of the
  // UNet's self-attention, heads of 32 channels, at 16x16 (4 heads, 256 x 256
  // scores) and 8x8 (8 heads, 64 x 64), scale 1 / sqrt(32), no mask (the
  // UNet's self-attention has none). sample = {heads, head dim D, Lq, Lk} as
  // tests/ops/attention.cpp's, so x is [batch * heads, Lq, Lk] and the scale
  // 1 / sqrt(D). benchmarks/bench_layers_torch.py times PyTorch at the same labels.
  for (const auto& [label, heads, l] : std::vector<std::tuple<std::string, int64_t, int64_t>>{
           {"self 16x16 4hx32", 4, 256}, {"self 8x8 8hx32", 8, 64}}) {
    BenchShape b;
    b.label = label;
    b.sample = {heads, 32, l, l};
    c.bench.push_back(b);
  }
  return {c};
}

}  // namespace ddpm::test
