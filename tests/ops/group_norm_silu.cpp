// group_norm_silu(x, G, gamma, beta, eps) = silu(group_norm(x, G, gamma, beta, eps)),
// one op (kernels/group_norm_silu.h).
//
// Gradient check (float64): the GroupNorm cases (affine, no affine, G = 1,
// G = C, [N, C], odd H x W), inputs x, gamma, beta. Each also runs as a
// parity case.
//
// Parity: GroupNorm's tolerance (double statistics on both devices, FMA vs
// multiply-add rounding of z = x*scale + shift) plus SiLU's (expf on the GPU,
// the polynomial exp on the CPU, about an ulp each): 2e-6 relative. The cases
// also compare the saved mean and rstd. The float cases include the UNet's
// shapes at 4x4, 8x8 and 32x32 (what the fused CUDA kernels tile
// differently) and an odd H x W (no float4 path).
//
// Bench: the UNet's four activation shapes with GroupNorm(8), fused against
// group_norm followed by silu.
#include "kernels/group_norm_silu.h"

#include "autograd/functions.h"
#include "tests/ops/common.h"

namespace ddpm::test {

using namespace cases;

namespace {

constexpr double kGroupNormSiluTol = 2e-6;
const char* kGroupNormSiluWhy =
    "double statistics on both devices; FMA rounding of x*scale + shift; expf vs the CPU's polynomial exp";

struct Spec {
  Shape shape;
  int64_t groups;
  bool affine;
  double lo, hi;  // input range
};

ParityCase parity_case(const Spec& s) {
  ParityCase c;
  c.op = "group_norm_silu";
  c.label = "x " + shape_str(s.shape) + " G=" + std::to_string(s.groups) +
            (s.affine ? " affine" : " no-affine") + " x in (" + std::to_string(s.lo) + ", " +
            std::to_string(s.hi) + ")";
  c.tol = kGroupNormSiluTol;
  c.why = kGroupNormSiluWhy;
  c.run = [s](Device dev) {
    const int64_t ch = s.shape[1];
    Tensor x = parity_input(s.shape, 21, dev, s.lo, s.hi, true);
    Tensor gamma = s.affine ? parity_input({ch}, 22, dev, 0.5, 1.5, true) : Tensor();
    Tensor beta = s.affine ? parity_input({ch}, 23, dev, -1, 1, true) : Tensor();
    Tensor y = group_norm_silu(x, s.groups, gamma, beta, 1e-5);
    autograd::backward(y, parity_input(s.shape, 24, dev));
    kernels::GroupNormForward f =
        kernels::group_norm_silu_fwd(x.detach(), s.groups, s.affine ? gamma.detach() : Tensor(),
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

std::vector<OpCases> group_norm_silu_op_cases() {
  OpCases c{"group_norm_silu", {}, {}, {}};
  struct Gn {
    Shape x;
    int64_t groups;
  };
  for (Gn g :
       {Gn{{2, 4, 3, 5}, 1}, Gn{{2, 4, 3, 5}, 4}, Gn{{2, 4, 3, 5}, 2}, Gn{{3, 6}, 2}, Gn{{2, 6, 1, 3}, 3}}) {
    const Shape ch{g.x[1]};
    const std::string label = shape_str(g.x) + " G=" + std::to_string(g.groups);
    c.grad.push_back({"group_norm_silu", label + " affine", {g.x, ch, ch}, [groups = g.groups](V in) {
                        return group_norm_silu(in[0], groups, in[1], in[2]);
                      }});
    c.grad.push_back({"group_norm_silu", label + " no affine", {g.x}, [groups = g.groups](V in) {
                        return group_norm_silu(in[0], groups, Tensor(), Tensor());
                      }});
  }
  derive_parity(c.grad, kGroupNormSiluTol, kGroupNormSiluWhy);

  const Spec specs[] = {
      {{1, 512, 4, 4}, 8, true, -1, 1},  // the bottleneck at batch 1
      {{4, 256, 8, 8}, 8, true, -1, 1},  // the 8x8 level
      {{3, 6, 5, 7}, 3, true, -1, 1},    // odd sizes
      {{3, 6, 5, 7}, 3, true, 1, 2},     // mean 1.5 = 5 std
      {{2, 4, 3, 5}, 2, false, -1, 1},   // no affine
      {{4, 12}, 2, true, -1, 1},         // [N, C] input
      {{2, 8, 40, 40}, 8, true, -1, 1},  // 1600 elements per row
  };
  for (const Spec& s : specs) c.parity.push_back(parity_case(s));
  // The UNet's enc1 / dec1 activation at batch 2.
  if (!small_only()) c.parity.push_back(parity_case({{2, 64, 32, 32}, 8, true, -1, 1}));

  c.bench = unet_activation_shapes(8);
  return {c};
}

}  // namespace ddpm::test
