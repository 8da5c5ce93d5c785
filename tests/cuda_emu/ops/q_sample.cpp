// q_sample (x_t, the Philox noise and the v target, per-sample coefficients):
// kernels/cuda/q_sample.cu on the emulation against kernels/cpu/q_sample.cpp
// (tests/cuda_emu/emu_check.h).
// emu-kernels: kernels/cuda/q_sample.cu kernels/cpu/q_sample.cpp
#include "kernels/q_sample.h"

#include <string>
#include <vector>

#include "tests/cuda_emu/emu_check.h"

namespace ddpm::emu_check {

using namespace ddpm::kernels;
namespace kc = ddpm::kernels::cuda;  // the launchers under test

void emu_q_sample() {
  for (int64_t per : {35, 32, 1})
    for (bool v : {false, true})
      for (bool mis : {false, true}) {
        const int64_t batch = 3, n = batch * per;
        const auto vx = random_vec(n, 60), va = random_vec(batch, 61, 0.1, 1),
                   vb = random_vec(batch, 62, 0.1, 1);
        QSampleDims d{batch, per, 11, 2, 12345, v};
        std::vector<float> wx(static_cast<size_t>(n)), wn(wx.size()), wt(wx.size());
        cpu::q_sample<float>(vx.data(), va.data(), vb.data(), wx.data(), wn.data(), v ? wt.data() : wn.data(),
                             d);
        Buf x = make(vx, mis), a = make(va, false), b = make(vb, false), xt(n, mis), noise(n, mis),
            tg(n, mis);
        kc::q_sample(x.p, a.p, b.p, xt.p, noise.p, v ? tg.p : noise.p, d);
        const std::string name =
            "q_sample per " + std::to_string(per) + (v ? " v" : " eps") + (mis ? " mis" : "");
        expect(name + " x_t", xt.vec(), wx);
        expect(name + " noise", noise.vec(), wn);
        if (v) expect(name + " target", tg.vec(), wt);
      }
}

}  // namespace ddpm::emu_check
