// Gradient-check cases for the layer ops: silu, group_norm, max_pool2d,
// upsample_bilinear2d, concat, mse_loss. Shapes are small (the harness runs
// two forward passes per input element) but cover odd sizes and batch > 1.
#include "autograd/functions.h"
#include "tests/gradcheck.h"

namespace ddpm::test {

std::vector<GradCase> gradcheck_cases_layers() {
  using V = const std::vector<Tensor>&;
  std::vector<GradCase> cases;

  // silu: (-4, 4) reaches both tails of the sigmoid and both branches of the
  // stable evaluation (x >= 0 and x < 0).
  for (const Shape& s : {Shape{7}, Shape{2, 3, 5}}) {
    GradCase c{"silu", shape_str(s), {s}, [](V in) { return silu(in[0]); }};
    c.lo = -4;
    c.hi = 4;
    cases.push_back(c);
  }

  // group_norm: inputs x, gamma, beta (affine) or x alone. Groups of one
  // channel (G = C), of all channels (G = 1) and in between; odd H x W; a
  // [N, C] input.
  struct Gn {
    Shape x;
    int64_t groups;
  };
  for (Gn g : {Gn{{2, 4, 3, 5}, 1}, Gn{{2, 4, 3, 5}, 4}, Gn{{2, 4, 3, 5}, 2}, Gn{{3, 6}, 2},
               Gn{{2, 6, 1, 3}, 3}}) {
    const Shape c{g.x[1]};
    const std::string label = shape_str(g.x) + " G=" + std::to_string(g.groups);
    cases.push_back({"group_norm", label + " affine", {g.x, c, c},
                     [groups = g.groups](V in) { return group_norm(in[0], groups, in[1], in[2]); }});
    cases.push_back({"group_norm", label + " no affine", {g.x},
                     [groups = g.groups](V in) { return group_norm(in[0], groups, Tensor(), Tensor()); }});
  }

  // max_pool2d: uniform inputs make ties (and near-ties closer than the
  // finite-difference step) vanishingly unlikely; odd sizes drop the last
  // row/column.
  for (const auto& [s, k] : {std::pair<Shape, int64_t>{{2, 3, 4, 6}, 2}, {{2, 2, 5, 7}, 2},
                             {{1, 2, 7, 6}, 3}}) {
    cases.push_back({"max_pool2d", shape_str(s) + " k=" + std::to_string(k), {s},
                     [k = k](V in) { return max_pool2d(in[0], k); }});
  }

  // upsample_bilinear2d: 3x4 -> 6x8, a 1x1 input (scale 0 branch), scale 3.
  for (const auto& [s, f] : {std::pair<Shape, int64_t>{{2, 3, 3, 4}, 2}, {{2, 2, 1, 1}, 2},
                             {{1, 2, 2, 3}, 3}}) {
    cases.push_back({"upsample_bilinear2d", shape_str(s) + " x" + std::to_string(f), {s},
                     [f = f](V in) { return upsample_bilinear2d(in[0], f); }});
  }

  // concat: the UNet's dim 1 with two and three inputs of different channel
  // counts, dim 0, and a negative dim.
  cases.push_back({"concat", "dim 1, [2,3,2,3] + [2,5,2,3]", {{2, 3, 2, 3}, {2, 5, 2, 3}},
                   [](V in) { return concat({in[0], in[1]}, 1); }});
  cases.push_back({"concat", "dim 1, three inputs", {{2, 1, 3, 2}, {2, 2, 3, 2}, {2, 3, 3, 2}},
                   [](V in) { return concat({in[0], in[1], in[2]}, 1); }});
  cases.push_back({"concat", "dim 0", {{2, 3, 4}, {1, 3, 4}},
                   [](V in) { return concat({in[0], in[1]}, 0); }});
  cases.push_back({"concat", "dim -1", {{2, 3, 2}, {2, 3, 3}},
                   [](V in) { return concat({in[0], in[1]}, -1); }});

  // mse_loss: gradients to both pred and target.
  for (const Shape& s : {Shape{7}, Shape{2, 3, 4, 5}}) {
    cases.push_back({"mse_loss", shape_str(s), {s, s}, [](V in) { return mse_loss(in[0], in[1]); }});
  }
  return cases;
}

}  // namespace ddpm::test
