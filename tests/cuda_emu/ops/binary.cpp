// binary (add, sub, mul, div; in place) and sum_to, the reduction over
// broadcast dimensions that binary's backward uses: kernels/cuda/binary.cu
// on the emulation against kernels/cpu/binary.cpp (tests/cuda_emu/emu_check.h).
// emu-kernels: kernels/cuda/binary.cu kernels/cpu/binary.cpp
#include "kernels/binary.h"

#include <string>
#include <utility>
#include <vector>

#include "tests/cuda_emu/emu_check.h"

namespace ddpm::emu_check {

namespace {

using namespace ddpm::kernels;
namespace kc = ddpm::kernels::cuda;  // the launchers under test

void check_binary_fwd() {
  const std::vector<std::pair<Shape, Shape>> pairs = {{{3, 5, 7}, {3, 5, 7}},
                                                      {{3, 5, 7}, {}},
                                                      {{}, {3, 5, 7}},
                                                      {{2, 3, 4, 4}, {2, 3, 1, 1}},
                                                      {{2, 3, 5, 7}, {2, 3, 1, 1}},
                                                      {{4, 6}, {6}},
                                                      {{4, 6}, {4, 1}},
                                                      {{2, 3, 4}, {2, 1, 4}},
                                                      {{3, 1, 5}, {1, 4, 5}},
                                                      {{16, 8}, {16, 8}},
                                                      {{1001}, {1001}},
                                                      {{1, 1}, {1}},
                                                      {{2, 1, 3, 1, 5}, {1, 4, 1, 6, 1}},
                                                      {{2, 8, 4}, {2, 8, 1}},
                                                      {{3}, {2, 1}},
                                                      {{2, 3, 8}, {3, 8}}};
  for (const auto& [sa, sb] : pairs)
    for (bool mis : {false, true})
      for (BinaryOp op : {BinaryOp::add, BinaryOp::sub, BinaryOp::mul, BinaryOp::div}) {
        const Shape so = broadcast_shapes(sa, sb, "test");
        const BroadcastPlan plan = make_broadcast_plan(so, sa, sb);
        const auto va = random_vec(shape_numel(sa), 1), vb = random_vec(shape_numel(sb), 2, 0.5, 2);
        Buf a = make(va, mis), b = make(vb, mis), out(shape_numel(so), mis);
        std::vector<float> want(static_cast<size_t>(shape_numel(so)));
        cpu::binary_fwd<float>(op, va.data(), vb.data(), want.data(), plan);
        kc::binary_fwd(op, a.p, b.p, out.p, plan);
        const std::string name = std::string("binary ") + binary_op_name(op) + " " + str(sa) + str(sb) +
                                 (mis ? " misaligned" : "");
        expect(name, out.vec(), want);
        if (so == sa) {  // in place
          Buf ai = make(va, mis);
          const BroadcastPlan ip = make_broadcast_plan(sa, sa, sb);
          kc::binary_fwd(op, ai.p, b.p, ai.p, ip);
          expect(name + " in place", ai.vec(), want);
        }
      }
}

void check_sum_to() {
  const std::vector<std::pair<Shape, Shape>> cases = {{{2, 3, 4, 5}, {1, 3, 1, 1}},
                                                      {{2, 3, 4, 5}, {3, 1, 1}},
                                                      {{2, 3, 4, 5}, {2, 3, 1, 1}},
                                                      {{2, 3, 4, 5}, {}},
                                                      {{2, 3, 4, 5}, {1, 1, 4, 5}},
                                                      {{300, 7}, {7}},
                                                      {{5000}, {}},
                                                      {{2, 9000}, {2, 1}},
                                                      {{3, 41, 53}, {1}},
                                                      {{2, 3, 20, 20}, {2, 3, 1, 1}},
                                                      {{2, 5, 3}, {2, 1, 3}},
                                                      {{1, 1}, {}},
                                                      {{4, 300}, {4, 1}},
                                                      {{7, 3, 2}, {7, 1, 2}}};
  for (const auto& [sx, so] : cases)
    for (bool mis : {false, true}) {
      const BroadcastPlan plan = make_broadcast_plan(sx, sx, so);
      const auto vx = random_vec(shape_numel(sx), 3);
      Buf x = make(vx, mis), out(shape_numel(so), mis);
      std::vector<float> want(static_cast<size_t>(shape_numel(so)));
      cpu::sum_to<float>(vx.data(), want.data(), shape_numel(so), plan);
      kc::sum_to(x.p, out.p, shape_numel(so), plan);
      // CPU: float accumulation in order; emulated GPU: double, another order.
      expect("sum_to " + str(sx) + "->" + str(so), out.vec(), want, 2e-4);
    }
}

}  // namespace

void emu_binary() {
  check_binary_fwd();
  check_sum_to();
}

}  // namespace ddpm::emu_check
