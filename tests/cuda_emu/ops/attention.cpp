// attention forward and backward: head widths 16/32/64 (the three register
// widths), D != E, one key, partial query and key tiles (lengths not
// multiples of 32 or 64), several blocks of queries, large scores:
// kernels/cuda/attention.cu on the emulation against
// kernels/cpu/attention.cpp (tests/cuda_emu/emu_check.h). Sums run in other
// orders (and expf against the CPU's polynomial exp): a tolerance.
// emu-kernels: kernels/cuda/attention.cu kernels/cpu/attention.cpp
#include "kernels/attention.h"

#include <string>
#include <vector>

#include "tests/cuda_emu/emu_check.h"

namespace ddpm::emu_check {

using namespace ddpm::kernels;
namespace kc = ddpm::kernels::cuda;  // the launchers under test

void emu_attention() {
  struct Spec {
    int64_t b, d, e, lq, lk;
    double scale, range;
  };
  for (const Spec& s : std::vector<Spec>{{2, 3, 5, 7, 1, 0.6, 1.0},
                                         {1, 16, 16, 70, 45, 0.25, 1.0},
                                         {2, 32, 20, 33, 97, 0.18, 1.0},
                                         {1, 64, 64, 65, 40, 0.125, 1.0},
                                         {1, 8, 8, 40, 40, 1.0, 6.0}}) {
    const AttentionDims d{s.b, s.d, s.e, s.lq, s.lk, s.scale};
    const std::string what = "B" + std::to_string(s.b) + " D" + std::to_string(s.d) + " E" +
                             std::to_string(s.e) + " Lq" + std::to_string(s.lq) + " Lk" +
                             std::to_string(s.lk);
    const auto vq = random_vec(s.b * s.d * s.lq, 61, -s.range, s.range);
    const auto vk = random_vec(s.b * s.d * s.lk, 62, -s.range, s.range);
    const auto vv = random_vec(s.b * s.e * s.lk, 63);
    const auto vg = random_vec(s.b * s.e * s.lq, 64);
    // CPU reference
    std::vector<float> wo(vg.size()), wl(static_cast<size_t>(s.b * s.lq)), wdl(wl.size());
    std::vector<float> wgq(vq.size()), wgk(vk.size()), wgv(vv.size());
    cpu::attention_fwd<float>(vq.data(), vk.data(), vv.data(), wo.data(), wl.data(), d);
    cpu::attention_bwd<float>(vq.data(), vk.data(), vv.data(), wo.data(), wl.data(), vg.data(), wdl.data(),
                              wgq.data(), wgk.data(), wgv.data(), d);
    // Emulated CUDA; the backward takes the CPU's o and lse so each kernel is
    // checked on its own.
    Buf q = make(vq, false), k = make(vk, false), v = make(vv, false), g = make(vg, false);
    Buf o(s.b * s.e * s.lq, false), l(s.b * s.lq, false);
    kc::attention_fwd(q.p, k.p, v.p, o.p, l.p, d);
    expect("attention o " + what, o.vec(), wo, 2e-5);
    expect("attention lse " + what, l.vec(), wl, 2e-5);
    Buf wob = make(wo, false), wlb = make(wl, false);
    Buf dl(s.b * s.lq, false), gq(s.b * s.d * s.lq, false), gk(s.b * s.d * s.lk, false),
        gv(s.b * s.e * s.lk, false);
    kc::attention_bwd(q.p, k.p, v.p, wob.p, wlb.p, g.p, dl.p, gq.p, gk.p, gv.p, d);
    expect("attention delta " + what, dl.vec(), wdl, 2e-5);
    expect("attention grad q " + what, gq.vec(), wgq, 2e-4);
    expect("attention grad k " + what, gk.vec(), wgk, 2e-4);
    expect("attention grad v " + what, gv.vec(), wgv, 2e-5);
  }
}

}  // namespace ddpm::emu_check
