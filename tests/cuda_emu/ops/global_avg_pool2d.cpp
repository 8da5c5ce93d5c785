// global_avg_pool2d (forward: a reduction per plane; backward):
// kernels/cuda/global_avg_pool2d.cu on the emulation against
// kernels/cpu/global_avg_pool2d.cpp (tests/cuda_emu/emu_check.h).
// emu-kernels: kernels/cuda/global_avg_pool2d.cu kernels/cpu/global_avg_pool2d.cpp
#include "kernels/global_avg_pool2d.h"

#include <string>
#include <vector>

#include "tests/cuda_emu/emu_check.h"

namespace ddpm::emu_check {

using namespace ddpm::kernels;
namespace kc = ddpm::kernels::cuda;  // the launchers under test

void emu_global_avg_pool2d() {
  for (const Shape& shape : std::vector<Shape>{{2, 3, 5, 7}, {1, 1, 1, 1}, {2, 2, 17, 19}, {3, 4, 4, 4}}) {
    const GlobalAvgPool2dDims d{shape[0] * shape[1], shape[2] * shape[3]};
    const auto vx = random_vec(shape_numel(shape), 51);
    const auto vg = random_vec(d.planes, 52);
    std::vector<float> wy(static_cast<size_t>(d.planes)), wg(vx.size());
    cpu::global_avg_pool2d_fwd<float>(vx.data(), wy.data(), d);
    cpu::global_avg_pool2d_bwd<float>(vg.data(), wg.data(), d);
    Buf x = make(vx, false), yb(d.planes, false), g = make(vg, false), gx(shape_numel(shape), false);
    kc::global_avg_pool2d_fwd(x.p, yb.p, d);
    kc::global_avg_pool2d_bwd(g.p, gx.p, d);
    expect("global_avg_pool2d fwd " + str(shape), yb.vec(), wy, 1e-6);
    expect("global_avg_pool2d bwd " + str(shape), gx.vec(), wg);
  }
}

}  // namespace ddpm::emu_check
