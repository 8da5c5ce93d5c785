// group_norm(x, G, gamma, beta, eps): x [N, C, ...] in G groups of C / G
// channels; normalised per (sample, group), then a per-channel affine.
// The worked example of docs/adding-an-op.md.
//
// Gradient check (float64): inputs x, gamma, beta (affine) or x alone; groups
// of one channel (G = C), of all channels (G = 1) and in between; odd H x W;
// a [N, C] input. Each also runs as a parity case (tolerance below).
//
// Parity: statistics and coefficients in double on both devices, rounded to
// float once; the float results then differ by the rounding of
// x*scale + shift (one FMA on the GPU, a multiply and an add on the CPU): half
// an ulp of |x*scale|, at most ~6 |y| here (input mean 5 std), so rms ~1.5e-7
// relative: 1e-6. The cases also compare the saved mean and rstd.
//
// Bench: GroupNorm(8) at the UNet's four activation shapes, forward and
// backward, against the memory roofline (cuDNN's legacy API has none).
#include "kernels/group_norm.h"

#include "autograd/functions.h"
#include "tests/ops/common.h"

namespace ddpm::test {

using namespace cases;

namespace {

constexpr double kGroupNormTol = 1e-6;
const char* kGroupNormWhy =
    "double statistics on both devices; FMA vs multiply-add rounding of x*scale + shift";

struct GroupNormSpec {
  Shape shape;
  int64_t groups;
  bool affine;
  double lo, hi;  // input range; an offset range tests the variance formula
};

ParityCase group_norm_case(const GroupNormSpec& s) {
  ParityCase c;
  c.op = "group_norm";
  c.label = "x " + shape_str(s.shape) + " G=" + std::to_string(s.groups) +
            (s.affine ? " affine" : " no-affine") + " x in (" + std::to_string(s.lo) + ", " +
            std::to_string(s.hi) + ")";
  c.tol = kGroupNormTol;
  c.why = kGroupNormWhy;
  c.run = [s](Device dev) {
    const int64_t ch = s.shape[1];
    Tensor x = parity_input(s.shape, 11, dev, s.lo, s.hi, true);
    Tensor gamma = s.affine ? parity_input({ch}, 12, dev, 0.5, 1.5, true) : Tensor();
    Tensor beta = s.affine ? parity_input({ch}, 13, dev, -1, 1, true) : Tensor();
    Tensor y = group_norm(x, s.groups, gamma, beta, 1e-5);
    autograd::backward(y, parity_input(s.shape, 14, dev));
    // The saved statistics, straight from the kernel.
    kernels::GroupNormForward f =
        kernels::group_norm_fwd(x.detach(), s.groups, s.affine ? gamma.detach() : Tensor(),
                                s.affine ? beta.detach() : Tensor(), 1e-5);
    NamedResults r{{"y", out(y)}, {"mean", f.mean}, {"rstd", f.rstd}, {"grad x", x.grad()}};
    if (s.affine) {
      r.emplace_back("grad gamma", gamma.grad());
      r.emplace_back("grad beta", beta.grad());
    }
    return r;
  };
  return c;
}

}  // namespace

std::vector<OpCases> group_norm_op_cases() {
  OpCases c{"group_norm", {}, {}, {}};
  struct Gn {
    Shape x;
    int64_t groups;
  };
  for (Gn g :
       {Gn{{2, 4, 3, 5}, 1}, Gn{{2, 4, 3, 5}, 4}, Gn{{2, 4, 3, 5}, 2}, Gn{{3, 6}, 2}, Gn{{2, 6, 1, 3}, 3}}) {
    const Shape ch{g.x[1]};
    const std::string label = shape_str(g.x) + " G=" + std::to_string(g.groups);
    c.grad.push_back({"group_norm", label + " affine", {g.x, ch, ch}, [groups = g.groups](V in) {
                        return group_norm(in[0], groups, in[1], in[2]);
                      }});
    c.grad.push_back({"group_norm", label + " no affine", {g.x}, [groups = g.groups](V in) {
                        return group_norm(in[0], groups, Tensor(), Tensor());
                      }});
  }
  derive_parity(c.grad, kGroupNormTol, kGroupNormWhy);

  const GroupNormSpec specs[] = {
      {{1, 512, 4, 4}, 8, true, -1, 1},  // the bottleneck at batch 1
      {{3, 6, 5, 7}, 3, true, -1, 1},    // odd sizes
      {{3, 6, 5, 7}, 3, true, 1, 2},     // mean 1.5 = 5 std: E[x^2] - mean^2, and x*scale + shift cancels
      {{2, 4, 3, 5}, 2, false, -1, 1},   // no affine
      {{4, 12}, 2, true, -1, 1},         // [N, C] input, six elements per group (with two, xhat = +-1
                                         // whatever x is: gx ~ 0 is all rounding noise)
      {{2, 8, 40, 40}, 8, true, -1, 1},  // 1600 elements per row: split rows in the backward
  };
  for (const GroupNormSpec& s : specs) c.parity.push_back(group_norm_case(s));
  // The UNet's enc1 / dec1 activation at batch 2: 8 splits per group forward.
  if (!small_only()) c.parity.push_back(group_norm_case({{2, 64, 32, 32}, 8, true, -1, 1}));

  c.bench = unet_activation_shapes(8);
  return {c};
}

}  // namespace ddpm::test
