// attention(q, k, v, scale): fused scaled dot-product attention,
// q [B, D, Lq], k [B, D, Lk], v [B, E, Lk] -> [B, E, Lq] (kernels/attention.h).
//
// Gradient check: D != E, several heads, two keys (one would make the q and
// k gradients exactly zero, which a normalised error cannot measure),
// query and key counts past the CPU's 64-query and 128-key blocks (the online
// softmax's rescaling across key blocks, a partial last block), scales that
// sharpen or flatten the softmax and a negative one. Parity: the same
// shapes in float32, the UNet's self-attention shapes (head 32 at 16x16 and
// 8x8; head 64), cross-attention to a few tokens, and large scores (the
// running maximum must keep exp in range).
#include <algorithm>

#include "autograd/functions.h"
#include "tests/ops/common.h"

namespace ddpm::test {

using namespace cases;

namespace {
struct AttnSpec {
  int64_t b, d, e, lq, lk;
  double scale;
  double range = 1;  // inputs uniform in (-range, range)
};

std::string attn_label(const AttnSpec& s) {
  return "q " + shape_str({s.b, s.d, s.lq}) + " k " + shape_str({s.b, s.d, s.lk}) + " v " +
         shape_str({s.b, s.e, s.lk}) + " scale " + std::to_string(s.scale);
}

// The longest float sums: s over D terms, l and o over Lk terms.
int64_t attn_terms(const AttnSpec& s) { return std::max(s.d, s.lk); }
}  // namespace

std::vector<OpCases> attention_op_cases() {
  OpCases c{"attention", {}, {}, {}};
  const AttnSpec grad_specs[] = {{1, 3, 2, 4, 5, 0.7},  {2, 2, 3, 3, 2, 1.0},   {3, 4, 4, 5, 6, -0.5},
                                 {1, 2, 2, 70, 3, 2.0}, {1, 2, 1, 3, 140, 1.5}, {2, 1, 2, 66, 131, 3.0}};
  for (const AttnSpec& s : grad_specs) {
    GradCase g{"attention",
               attn_label(s),
               {{s.b, s.d, s.lq}, {s.b, s.d, s.lk}, {s.b, s.e, s.lk}},
               [scale = s.scale](V in) { return attention(in[0], in[1], in[2], scale); }};
    g.lo = -2;
    g.hi = 2;
    g.parity_tol = fp32_tol(attn_terms(s));
    g.parity_why = fp32_why(attn_terms(s)) + " (and expf within 2 ulp)";
    c.grad.push_back(g);
  }
  const AttnSpec parity_specs[] = {
      {8, 32, 32, 256, 256, 0.17677669529663687},  // 16x16 self-attention, head 32 (1 / sqrt(32))
      {8, 32, 32, 64, 64, 0.17677669529663687},    // 8x8
      {4, 64, 64, 256, 256, 0.125},                // head 64
      {6, 32, 32, 256, 4, 0.17677669529663687},    // cross-attention to 4 tokens
      {3, 5, 7, 97, 161, 0.4},                     // odd sizes, partial tiles everywhere
      {2, 16, 16, 64, 64, 1.0, 8.0},               // scores up to ~1000: the running max matters
  };
  for (const AttnSpec& s : parity_specs) {
    const double range = s.range;
    c.parity.push_back(grad_case(
        "attention", attn_label(s) + (range > 1 ? " large scores" : ""),
        {{{s.b, s.d, s.lq}, -range, range}, {{s.b, s.d, s.lk}, -range, range}, {{s.b, s.e, s.lk}}},
        [scale = s.scale](const Inputs& x) { return attention(x[0], x[1], x[2], scale); },
        fp32_tol(attn_terms(s)), fp32_why(attn_terms(s)) + " (and expf within 2 ulp)"));
  }
  // ddpm-bench (attention_fwd, attention_bwd): the UNet's attention levels,
  // self-attention at 16x16 (C = 128) and 8x8 (C = 256) with heads of 32 and
  // 64 channels, and cross-attention from them to a few tokens; sample =
  // {heads, head dim D = E, Lq, Lk}, so B = batch * heads, scale 1 / sqrt(D).
  // benchmarks/attention_torch.py times PyTorch at the same labels.
  struct AttnBench {
    const char* label;
    int64_t heads, d, lq, lk;
  };
  const AttnBench bench[] = {
      {"self 16x16 4hx32", 4, 32, 256, 256},  {"self 16x16 2hx64", 2, 64, 256, 256},
      {"self 8x8 8hx32", 8, 32, 64, 64},      {"self 8x8 4hx64", 4, 64, 64, 64},
      {"cross 16x16>8 4hx32", 4, 32, 256, 8}, {"cross 8x8>4 4hx64", 4, 64, 64, 4},
  };
  for (const AttnBench& a : bench) {
    BenchShape b;
    b.label = a.label;
    b.sample = {a.heads, a.d, a.lq, a.lk};
    c.bench.push_back(b);
  }
  return {c};
}

}  // namespace ddpm::test
