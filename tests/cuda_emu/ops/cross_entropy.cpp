// cross_entropy (forward: the mean over rows; backward): K = 1, K = 10, odd K,
// K above the 128 threads per row, logits ~ 1e4: kernels/cuda/cross_entropy.cu
// on the emulation against kernels/cpu/cross_entropy.cpp
// (tests/cuda_emu/emu_check.h).
// emu-kernels: kernels/cuda/cross_entropy.cu kernels/cpu/cross_entropy.cpp
#include "kernels/cross_entropy.h"

#include <string>
#include <tuple>
#include <vector>

#include "tests/cuda_emu/emu_check.h"

namespace ddpm::emu_check {

using namespace ddpm::kernels;
namespace kc = ddpm::kernels::cuda;  // the launchers under test

void emu_cross_entropy() {
  for (const auto& [n, k, scale] : std::vector<std::tuple<int64_t, int64_t, double>>{
           {3, 1, 1.0}, {4, 10, 3.0}, {5, 7, 1.0}, {2, 300, 2.0}, {3, 10, 1e4}}) {
    const std::string what = std::to_string(n) + "x" + std::to_string(k);
    const auto vz = random_vec(n * k, 50, -scale, scale);
    std::vector<float> vy(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) vy[static_cast<size_t>(i)] = static_cast<float>((7 * i + 3) % k);
    const CrossEntropyDims d{n, k};
    const float g0 = 0.75f;
    Buf z = make(vz, false), y = make(vy, false), g = make({g0}, false), out(1, false), gz(n * k, false);
    kc::cross_entropy_fwd(z.p, y.p, out.p, d);
    expect("cross_entropy fwd " + what, out.vec(),
           {static_cast<float>(cpu::cross_entropy_fwd<float>(vz.data(), vy.data(), d))}, 1e-6);
    std::vector<float> wg(static_cast<size_t>(n * k));
    cpu::cross_entropy_bwd<float>(vz.data(), vy.data(), &g0, wg.data(), d);
    kc::cross_entropy_bwd(z.p, y.p, g.p, gz.p, d);
    expect("cross_entropy bwd " + what, gz.vec(), wg, 1e-6);
  }
}

}  // namespace ddpm::emu_check
