// max_pool2d (forward and backward; ties and a NaN): kernels/cuda/max_pool2d.cu
// on the emulation against kernels/cpu/max_pool2d.cpp
// (tests/cuda_emu/emu_check.h).
// emu-kernels: kernels/cuda/max_pool2d.cu kernels/cpu/max_pool2d.cpp
#include "kernels/max_pool2d.h"

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "tests/cuda_emu/emu_check.h"

namespace ddpm::emu_check {

using namespace ddpm::kernels;
namespace kc = ddpm::kernels::cuda;  // the launchers under test

void emu_max_pool2d() {
  for (const auto& [shape, k] : std::vector<std::pair<Shape, int64_t>>{
           {{2, 3, 7, 9}, 2}, {{1, 2, 8, 8}, 2}, {{2, 1, 7, 8}, 3}, {{1, 1, 2, 2}, 2}, {{3, 2, 5, 4}, 1}}) {
    MaxPool2dDims d;
    d.planes = shape[0] * shape[1];
    d.h = shape[2];
    d.w = shape[3];
    d.k = k;
    d.oh = d.h / k;
    d.ow = d.w / k;
    // small integers: many ties, so the first-maximum rule is exercised; one NaN
    auto vx = random_vec(shape_numel(shape), 40, 0, 3);
    for (float& v : vx) v = std::floor(v);
    vx[vx.size() / 2] = NAN;
    const int64_t no = d.planes * d.oh * d.ow;
    const auto vg = random_vec(no, 41);
    std::vector<float> wy(static_cast<size_t>(no)), wg(vx.size());
    cpu::max_pool2d_fwd<float>(vx.data(), wy.data(), d);
    cpu::max_pool2d_bwd<float>(vx.data(), vg.data(), wg.data(), d);
    Buf x = make(vx, false), y(no, false), g = make(vg, false), gx(shape_numel(shape), false);
    kc::max_pool2d_fwd(x.p, y.p, d);
    kc::max_pool2d_bwd(x.p, g.p, gx.p, d);
    expect("max_pool2d fwd " + str(shape) + " k" + std::to_string(k), y.vec(), wy);
    expect("max_pool2d bwd " + str(shape) + " k" + std::to_string(k), gx.vec(), wg);
  }
}

}  // namespace ddpm::emu_check
