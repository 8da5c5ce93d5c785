// bmm(a, b, trans_a, trans_b): batched [M, K] x [K, N] with transpose flags
// on cuBLAS strided-batched (CUDA) or Eigen (CPU).
//
// Gradient checks: every transpose combination, batch 1 and > 1, odd sizes.
// Parity in FP32 (fp32_tol of the longest sum of the case) and, for one
// attention shape, TF32 (tests/ops/gemm.h); the attention products of the
// UNet's 16x16 level in the channels-first layout: S = Q^T K
// (trans_a) and O = V P^T (trans_b). Bench shapes: those products at 16x16
// and 8x8.
#include <algorithm>
#include <string>

#include "autograd/functions.h"
#include "kernels/math_mode.h"
#include "tests/ops/common.h"
#include "tests/ops/gemm.h"

namespace ddpm::test {

using namespace cases;

namespace {

struct BmmSpec {
  int64_t batch, m, k, n;
  bool ta, tb;
};

Shape a_shape(const BmmSpec& s) { return s.ta ? Shape{s.batch, s.k, s.m} : Shape{s.batch, s.m, s.k}; }
Shape b_shape(const BmmSpec& s) { return s.tb ? Shape{s.batch, s.n, s.k} : Shape{s.batch, s.k, s.n}; }

std::string label(const BmmSpec& s) {
  return shape_str(a_shape(s)) + (s.ta ? "^T" : "") + " x " + shape_str(b_shape(s)) + (s.tb ? "^T" : "");
}

// The longest sum of the forward and both gradients: K, N and M terms.
int64_t longest(const BmmSpec& s) { return std::max({s.m, s.k, s.n}); }

ParityCase bmm_case(const BmmSpec& s, bool tf32, const std::string& what) {
  ParityCase c;
  c.op = "bmm";
  c.label = what + label(s) + (tf32 ? " tf32" : " fp32");
  c.tol = tf32 ? kCublasTf32Tol : fp32_tol(longest(s));
  c.why = tf32 ? kCublasTf32Why : fp32_why(longest(s));
  c.run = [s, tf32](Device dev) {
    kernels::MathModeScope mode(tf32 ? kernels::MathMode::tf32 : kernels::MathMode::fp32);
    Tensor a = parity_input(a_shape(s), 31, dev, -1, 1, true);
    Tensor b = parity_input(b_shape(s), 32, dev, -1, 1, true);
    Tensor y = bmm(a, b, s.ta, s.tb);
    autograd::backward(y, parity_input({s.batch, s.m, s.n}, 33, dev));
    return NamedResults{{"y", out(y)}, {"grad a", a.grad()}, {"grad b", b.grad()}};
  };
  return c;
}

}  // namespace

std::vector<OpCases> bmm_op_cases() {
  OpCases c{"bmm", {}, {}, {}};
  const BmmSpec grad_specs[] = {{2, 3, 4, 5, false, false}, {3, 2, 5, 3, true, false},
                                {2, 4, 3, 2, false, true},  {2, 3, 2, 5, true, true},
                                {1, 1, 7, 2, false, false}, {3, 5, 1, 3, true, true}};
  for (const BmmSpec& s : grad_specs) {
    GradCase g{
        "bmm", label(s), {a_shape(s), b_shape(s)}, [s](V in) { return bmm(in[0], in[1], s.ta, s.tb); }};
    g.parity_tol = fp32_tol(longest(s));
    g.parity_why = fp32_why(longest(s));
    c.grad.push_back(g);
  }
  for (bool ta : {false, true})
    for (bool tb : {false, true}) c.parity.push_back(bmm_case({5, 65, 129, 33, ta, tb}, false, ""));
  // Attention at the UNet's 16x16 level, 128 channels as 4 heads of 32, batch 2:
  // q, k [8, 32, 256] -> S = Q^T K [8, 256, 256]; v [8, 32, 256], P -> O = V P^T [8, 32, 256].
  if (!small_only()) {
    c.parity.push_back(bmm_case({8, 256, 32, 256, true, false}, false, "attention scores Q^T K, "));
    c.parity.push_back(bmm_case({8, 32, 256, 256, false, true}, false, "attention output V P^T, "));
    c.parity.push_back(bmm_case({8, 256, 32, 256, true, false}, true, "attention scores Q^T K, "));
  }
  // ddpm-bench (bmm_fwd, bmm_bwd): the two products of the UNet's
  // self-attention in the engine's channels-first layout, heads of 32
  // channels, at 16x16 (C = 128: 4 heads, L = 256 tokens) and 8x8 (C = 256:
  // 8 heads, L = 64): scores S = Q^T K (q, k [32, L] -> [L, L]) and output
  // O = V P^T (v [32, L], p [L, L] -> [32, L]). sample = {heads, M, K, N,
  // trans_a, trans_b}, so the matrices are batch * heads.
  // benchmarks/bench_layers_torch.py times PyTorch at the same labels.
  struct BmmBench {
    const char* label;
    int64_t heads, l;
    bool scores;
  };
  const BmmBench bench[] = {{"q^T k 16x16 4hx32", 4, 256, true},
                            {"v p^T 16x16 4hx32", 4, 256, false},
                            {"q^T k 8x8 8hx32", 8, 64, true},
                            {"v p^T 8x8 8hx32", 8, 64, false}};
  for (const BmmBench& a : bench) {
    BenchShape b;
    b.label = a.label;
    b.sample = a.scores ? Shape{a.heads, a.l, 32, a.l, 1, 0} : Shape{a.heads, 32, a.l, a.l, 0, 1};
    c.bench.push_back(b);
  }
  return {c};
}

}  // namespace ddpm::test
