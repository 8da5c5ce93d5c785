// unary (neg, exp, log, sqrt, sin, cos; forward and backward):
// kernels/cuda/unary.cu on the emulation against kernels/cpu/unary.cpp
// (tests/cuda_emu/emu_check.h).
// emu-kernels: kernels/cuda/unary.cu kernels/cpu/unary.cpp
#include "kernels/unary.h"

#include <string>
#include <vector>

#include "tests/cuda_emu/emu_check.h"

namespace ddpm::emu_check {

using namespace ddpm::kernels;
namespace kc = ddpm::kernels::cuda;  // the launchers under test

void emu_unary() {
  for (UnaryOp op : {UnaryOp::neg, UnaryOp::exp, UnaryOp::log, UnaryOp::sqrt, UnaryOp::sin, UnaryOp::cos})
    for (int64_t n : {1, 3, 4, 7, 1001})
      for (bool mis : {false, true}) {
        const bool positive = op == UnaryOp::log || op == UnaryOp::sqrt;
        const auto vx = random_vec(n, 4, positive ? 0.1 : -3, 3), vg = random_vec(n, 5);
        std::vector<float> wy(static_cast<size_t>(n)), wg(static_cast<size_t>(n));
        cpu::unary_fwd<float>(op, vx.data(), wy.data(), n);
        cpu::unary_bwd<float>(op, vx.data(), wy.data(), vg.data(), wg.data(), n);
        Buf x = make(vx, mis), y(n, mis), g = make(vg, mis), gx(n, mis);
        kc::unary_fwd(op, x.p, y.p, n);
        kc::unary_bwd(op, x.p, y.p, g.p, gx.p, n);
        const std::string name =
            std::string(unary_op_name(op)) + " n=" + std::to_string(n) + (mis ? " mis" : "");
        expect(name + " fwd", y.vec(), wy);
        expect(name + " bwd", gx.vec(), wg);
      }
}

}  // namespace ddpm::emu_check
