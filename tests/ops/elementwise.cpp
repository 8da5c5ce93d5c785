// The elementwise ops: add, sub, mul, div (binary, with broadcasting) and neg,
// exp, log, sqrt, sin, cos (unary).
//
// Gradient checks: same shape, the per-channel broadcast (the time-embedding
// add), a scalar operand, and a broadcast of both operands; unary ops on a
// vector and a 3-d tensor, in a range where the function is smooth.
// Parity: the layouts the CUDA kernels tell apart: odd sizes (3x5x7: the
// scalar tails of the float4 loops), multiples of 4 (the float4 paths), the
// per-channel broadcast [N,C,1,1] + [N,C,H,W], a scalar operand, both operands
// broadcast, broadcast gradients reduced by sum_to in one block, split blocks
// and two passes, and unaligned views (a parameter's view into a flat buffer,
// gradients accumulated in place), which take the scalar variants. Exact for
// same-shape layouts (IEEE operations), 1e-6 wherever a gradient is reduced.
//
// Bench: none (memory-bound one-liners; ddpm-bench times the fused kernels).
#include <tuple>

#include "autograd/functions.h"
#include "tests/ops/common.h"

namespace ddpm::test {

using namespace cases;

namespace {

using BinFn = Tensor (*)(const Tensor&, const Tensor&);
using UnFn = Tensor (*)(const Tensor&);

OpCases binary(const std::string& name, BinFn f) {
  OpCases c{name, {}, {}, {}};
  const bool is_div = name == "div";
  // Gradient checks: div keeps the divisor away from zero.
  const std::vector<std::pair<Shape, Shape>> pairs = {{{3, 5}, {3, 5}},
                                                      {{2, 3, 4, 5}, {2, 3, 1, 1}},
                                                      {{2, 3, 1, 1}, {2, 3, 4, 5}},
                                                      {{4, 3}, {}},
                                                      {{3, 1}, {1, 4}}};
  for (const auto& [sa, sb] : pairs) {
    GradCase g{name, shape_str(sa) + " op " + shape_str(sb), {sa, sb}, [f](V in) { return f(in[0], in[1]); }};
    if (is_div) {
      g.lo = 0.5;
      g.hi = 2.0;
    }
    c.grad.push_back(g);
  }
  // As parity cases: broadcast gradients are reduced (sum_to).
  derive_parity(c.grad, kRounding, kWhyReduction);

  struct Layout {
    std::string label;
    Shape a, b;
    double tol;
    const char* why;
  };
  const std::vector<Layout> layouts = {
      {"same shape [3,5,7] (odd: scalar tail)", {3, 5, 7}, {3, 5, 7}, kExact, kWhyExact},
      {"same shape [4,8,8] (float4)", {4, 8, 8}, {4, 8, 8}, kExact, kWhyExact},
      {"per-channel [2,6,5,7] + [2,6,1,1] (odd rows)", {2, 6, 5, 7}, {2, 6, 1, 1}, kRounding, kWhyReduction},
      {"per-channel [2,4,8,8] + [2,4,1,1] (float4 rows)",
       {2, 4, 8, 8},
       {2, 4, 1, 1},
       kRounding,
       kWhyReduction},
      {"per-channel first [2,4,1,1] + [2,4,8,8]", {2, 4, 1, 1}, {2, 4, 8, 8}, kRounding, kWhyReduction},
      {"scalar [3,5,7] + []", {3, 5, 7}, {}, kRounding, kWhyReduction},
      {"both broadcast [4,1,6] + [1,5,6]", {4, 1, 6}, {1, 5, 6}, kRounding, kWhyReduction},
      {"bias [64,33] + [33] (reduce over rows)", {64, 33}, {33}, kRounding, kWhyReduction},
      {"per-channel [2,3,20,20] + [2,3,1,1] (split-block sum_to)",
       {2, 3, 20, 20},
       {2, 3, 1, 1},
       kRounding,
       kWhyReduction},
      {"scalar [3,41,53] + [] (two-pass sum_to)", {3, 41, 53}, {}, kRounding, kWhyReduction}};
  for (const Layout& l : layouts) {
    // div: keep the divisor away from 0 so the gradients stay moderate.
    In a{l.a}, b{l.b, is_div ? 0.5 : -1.0, is_div ? 2.0 : 1.0};
    c.parity.push_back(grad_case(
        name, l.label, {a, b}, [f](const Inputs& x) { return f(x[0], x[1]); }, l.tol, l.why));
  }
  // Unaligned views with gradients accumulated in place into unaligned views.
  In a{{3, 5, 7}, -1, 1, true, true}, b{{3, 5, 7}, is_div ? 0.5 : -1.0, is_div ? 2.0 : 1.0, true, true};
  c.parity.push_back(grad_case(
      name, "unaligned views [3,5,7], gradients accumulated in place", {a, b},
      [f](const Inputs& x) { return f(x[0], x[1]); }, kExact, kWhyExact));
  return c;
}

// grad_lo/hi: the gradient check's range; parity_lo/hi: the parity cases'
// (wider: more of the function's range, still away from log's and sqrt's 0).
OpCases unary(const std::string& name, UnFn f, double grad_lo, double grad_hi, double parity_lo,
              double parity_hi) {
  OpCases c{name, {}, {}, {}};
  for (const Shape& s : {Shape{7}, Shape{2, 3, 5}}) {
    GradCase g{name, shape_str(s), {s}, [f](V in) { return f(in[0]); }};
    g.lo = grad_lo;
    g.hi = grad_hi;
    c.grad.push_back(g);
  }
  const double tol = name == "neg" ? kExact : kRounding;
  const char* why = name == "neg" ? kWhyExact : kWhyRounding;
  derive_parity(c.grad, tol, why);
  for (const auto& [label, shape, unaligned] :
       std::vector<std::tuple<std::string, Shape, bool>>{{"[3,5,7] (odd)", {3, 5, 7}, false},
                                                         {"[4,8,8] (float4)", {4, 8, 8}, false},
                                                         {"[3,5,7] unaligned view", {3, 5, 7}, true}})
    c.parity.push_back(grad_case(
        name, label, {{shape, parity_lo, parity_hi, true, unaligned}},
        [f](const Inputs& x) { return f(x[0]); }, tol, why));
  return c;
}

}  // namespace

std::vector<OpCases> elementwise_op_cases() {
  return {binary("add", add),
          binary("sub", sub),
          binary("mul", mul),
          binary("div", div),
          unary("neg", neg, -1, 1, -1, 1),
          unary("exp", exp, -1, 1, -3, 3),
          unary("log", log, 0.5, 2, 0.1, 2),
          unary("sqrt", sqrt, 0.5, 2, 0.1, 2),
          unary("sin", sin, -3, 3, -4, 4),
          unary("cos", cos, -3, 3, -4, 4)};
}

}  // namespace ddpm::test
