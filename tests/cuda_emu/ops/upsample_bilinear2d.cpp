// upsample_bilinear2d (forward and backward, scales 1 to 4):
// kernels/cuda/upsample_bilinear2d.cu on the emulation against
// kernels/cpu/upsample_bilinear2d.cpp (tests/cuda_emu/emu_check.h).
// emu-kernels: kernels/cuda/upsample_bilinear2d.cu kernels/cpu/upsample_bilinear2d.cpp
#include "kernels/upsample_bilinear2d.h"

#include <string>
#include <utility>
#include <vector>

#include "tests/cuda_emu/emu_check.h"

namespace ddpm::emu_check {

using namespace ddpm::kernels;
namespace kc = ddpm::kernels::cuda;  // the launchers under test

void emu_upsample_bilinear2d() {
  for (const auto& [shape, s] : std::vector<std::pair<Shape, int64_t>>{{{2, 3, 5, 7}, 2},
                                                                       {{1, 2, 4, 4}, 2},
                                                                       {{1, 1, 1, 4}, 2},
                                                                       {{1, 1, 3, 1}, 3},
                                                                       {{1, 2, 16, 16}, 2},
                                                                       {{1, 1, 5, 6}, 4},
                                                                       {{2, 2, 3, 3}, 1},
                                                                       {{1, 1, 1, 1}, 1},
                                                                       {{1, 1, 33, 7}, 3}}) {
    UpsampleBilinear2dDims d;
    d.planes = shape[0] * shape[1];
    d.h = shape[2];
    d.w = shape[3];
    d.oh = d.h * s;
    d.ow = d.w * s;
    const int64_t no = d.planes * d.oh * d.ow;
    const auto vx = random_vec(shape_numel(shape), 50), vg = random_vec(no, 51);
    std::vector<float> wy(static_cast<size_t>(no)), wg(vx.size());
    cpu::upsample_bilinear2d_fwd<float>(vx.data(), wy.data(), d);
    cpu::upsample_bilinear2d_bwd<float>(vg.data(), wg.data(), d);
    Buf x = make(vx, false), y(no, false), g = make(vg, false), gx(shape_numel(shape), false);
    kc::upsample_bilinear2d_fwd(x.p, y.p, d);
    kc::upsample_bilinear2d_bwd(g.p, gx.p, d);
    expect("upsample fwd " + str(shape) + " x" + std::to_string(s), y.vec(), wy);
    expect("upsample bwd " + str(shape) + " x" + std::to_string(s), gx.vec(), wg);
  }
}

}  // namespace ddpm::emu_check
