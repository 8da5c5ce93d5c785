// softmax and log_softmax over rows (scale, mask rows cycling over the rows,
// a fully masked row), and the softmax backward: K = 1, K = 10, odd K, K above
// the 128 threads per row, logits ~ 1e4: kernels/cuda/softmax.cu on the
// emulation against kernels/cpu/softmax.cpp (tests/cuda_emu/emu_check.h).
// emu-kernels: kernels/cuda/softmax.cu kernels/cpu/softmax.cpp
#include "kernels/softmax.h"

#include <string>
#include <tuple>
#include <vector>

#include "tests/cuda_emu/emu_check.h"

namespace ddpm::emu_check {

using namespace ddpm::kernels;
namespace kc = ddpm::kernels::cuda;  // the launchers under test

void emu_softmax() {
  // n, k, value range, scale, mask rows (0: none)
  for (const auto& [n, k, range, scale, mask_rows] :
       std::vector<std::tuple<int64_t, int64_t, double, double, int64_t>>{{3, 1, 1.0, 1.0, 0},
                                                                          {4, 10, 3.0, 1.0, 0},
                                                                          {5, 7, 1.0, 1.0, 0},
                                                                          {2, 300, 2.0, 1.0, 0},
                                                                          {3, 10, 1e4, 1.0, 0},
                                                                          {6, 7, 3.0, 0.37, 3},
                                                                          {4, 5, 2.0, -1.5, 1},
                                                                          {4, 261, 4.0, 0.125, 2}}) {
    const std::string what = std::to_string(n) + "x" + std::to_string(k) + " scale " + std::to_string(scale) +
                             (mask_rows ? " mask rows " + std::to_string(mask_rows) : "");
    const auto vz = random_vec(n * k, 50, -range, range);
    Buf z = make(vz, false);
    // The mask: about a third excluded, and mask row 1 (when there is one) fully.
    std::vector<float> vm(static_cast<size_t>((mask_rows ? mask_rows : 1) * k));
    for (size_t i = 0; i < vm.size(); ++i)
      vm[i] = (mask_rows > 1 && i / static_cast<size_t>(k) == 1) || i % 3 == 1 ? 0.f : 1.f;
    Buf m = make(vm, false);
    for (bool log : {false, true}) {
      SoftmaxDims sd;
      sd.n = n;
      sd.k = k;
      sd.log = log;
      sd.scale = scale;
      sd.mask_rows = mask_rows;
      Buf p(n * k, false);
      std::vector<float> wp(static_cast<size_t>(n * k));
      cpu::softmax_fwd<float>(vz.data(), mask_rows ? vm.data() : nullptr, wp.data(), sd);
      kc::softmax_fwd(z.p, mask_rows ? m.p : nullptr, p.p, sd);
      expect(std::string(log ? "log_softmax " : "softmax ") + what, p.vec(), wp, 1e-6);
      if (log) continue;
      // The backward from the CPU's y (both kernels read the same y).
      const auto vg = random_vec(n * k, 51);
      Buf y = make(wp, false), g = make(vg, false), gx(n * k, false);
      std::vector<float> wgx(static_cast<size_t>(n * k));
      cpu::softmax_bwd<float>(wp.data(), vg.data(), wgx.data(), sd);
      kc::softmax_bwd(y.p, g.p, gx.p, sd);
      expect("softmax backward " + what, gx.vec(), wgx, 1e-6);
    }
  }
}

}  // namespace ddpm::emu_check
