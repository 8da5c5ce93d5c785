// Gradient-check cases for the elementwise ops, reductions and reshape.
#include "autograd/functions.h"
#include "tests/gradcheck.h"

namespace ddpm::test {

std::vector<GradCase> gradcheck_cases_elementwise() {
  using V = const std::vector<Tensor>&;
  std::vector<GradCase> cases;
  // Binary ops: same shape, per-channel broadcast (the time-embedding add),
  // scalar broadcast, and a broadcast of both operands.
  const std::vector<std::pair<Shape, Shape>> pairs = {
      {{3, 5}, {3, 5}}, {{2, 3, 4, 5}, {2, 3, 1, 1}}, {{2, 3, 1, 1}, {2, 3, 4, 5}},
      {{4, 3}, {}}, {{3, 1}, {1, 4}}};
  struct Bin {
    const char* name;
    Tensor (*f)(const Tensor&, const Tensor&);
  };
  for (Bin b : {Bin{"add", add}, Bin{"sub", sub}, Bin{"mul", mul}, Bin{"div", div}}) {
    for (const auto& [sa, sb] : pairs) {
      GradCase c{b.name, shape_str(sa) + " op " + shape_str(sb), {sa, sb},
                 [f = b.f](V in) { return f(in[0], in[1]); }};
      if (std::string(b.name) == "div") {
        c.lo = 0.5;  // keep the divisor away from zero
        c.hi = 2.0;
      }
      cases.push_back(c);
    }
  }
  struct Un {
    const char* name;
    Tensor (*f)(const Tensor&);
    double lo, hi;
  };
  for (Un u : {Un{"neg", neg, -1, 1}, Un{"exp", exp, -1, 1}, Un{"log", log, 0.5, 2},
               Un{"sqrt", sqrt, 0.5, 2}, Un{"sin", sin, -3, 3}, Un{"cos", cos, -3, 3}}) {
    for (const Shape& s : {Shape{7}, Shape{2, 3, 5}}) {
      GradCase c{u.name, shape_str(s), {s}, [f = u.f](V in) { return f(in[0]); }};
      c.lo = u.lo;
      c.hi = u.hi;
      cases.push_back(c);
    }
  }
  for (const Shape& s : {Shape{1}, Shape{3, 7}, Shape{2, 3, 4, 5}}) {
    cases.push_back({"sum", shape_str(s), {s}, [](V in) { return sum(in[0]); }});
    cases.push_back({"mean", shape_str(s), {s}, [](V in) { return mean(in[0]); }});
  }
  cases.push_back({"reshape", "[2,3,4] -> [6,-1] then square", {{2, 3, 4}},
                   [](V in) { Tensor r = reshape(in[0], {6, -1}); return r * r; }});
  return cases;
}

}  // namespace ddpm::test
