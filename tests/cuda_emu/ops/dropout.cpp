// dropout (the keep mask from Philox and the 1 / (1 - p) scale; the backward
// is the same launcher on the gradient): kernels/cuda/dropout.cu on the
// emulation against kernels/cpu/dropout.cpp, bit for bit, float4 and scalar
// paths, tails, offsets across the counter's high word
// (tests/cuda_emu/emu_check.h).
// emu-kernels: kernels/cuda/dropout.cu kernels/cpu/dropout.cpp
#include "kernels/dropout.h"

#include <cstdint>
#include <string>
#include <vector>

#include "tests/cuda_emu/emu_check.h"

namespace ddpm::emu_check {

using namespace ddpm::kernels;
namespace kc = ddpm::kernels::cuda;  // the launchers under test

void emu_dropout() {
  for (int64_t n : {1, 3, 8, 1003, 4096})
    for (double p : {0.1, 0.5, 0.9})
      for (bool mis : {false, true}) {
        const DropoutDims d{n, p, 21, 8, (uint64_t{1} << 32) - 500};
        const auto vx = random_vec(n, 70);
        std::vector<float> want(static_cast<size_t>(n));
        cpu::dropout_fwd<float>(vx.data(), want.data(), d);
        Buf x = make(vx, mis), y(n, mis);
        kc::dropout_fwd(x.p, y.p, d);
        const std::string name =
            "dropout n " + std::to_string(n) + " p " + std::to_string(p) + (mis ? " misaligned" : "");
        expect(name, y.vec(), want);  // bitwise
        int64_t kept = 0;
        for (float v : want) kept += v != 0.f;
        if (n >= 1003)  // a mask that is neither empty nor full
          expect_true(name + ": keeps some and drops some", kept > 0 && kept < n);
      }
}

}  // namespace ddpm::emu_check
