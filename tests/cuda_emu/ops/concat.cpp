// concat (forward; backward into every other piece): kernels/cuda/concat.cu on
// the emulation against kernels/cpu/concat.cpp (tests/cuda_emu/emu_check.h).
// emu-kernels: kernels/cuda/concat.cu kernels/cpu/concat.cpp
#include "kernels/concat.h"

#include <string>
#include <vector>

#include "tests/cuda_emu/emu_check.h"

namespace ddpm::emu_check {

using namespace ddpm::kernels;
namespace kc = ddpm::kernels::cuda;  // the launchers under test

void emu_concat() {
  struct Case {
    std::vector<Shape> shapes;
    int64_t dim;
  };
  std::vector<Case> cases = {{{{2, 3, 4, 5}, {2, 1, 4, 5}}, 1},
                             {{{2, 4, 4, 4}, {2, 8, 4, 4}}, 1},
                             {{{2, 3, 4, 5}, {2, 3, 4, 2}, {2, 3, 4, 1}}, 3},
                             {{{3, 5}, {1, 5}}, 0},
                             {{{2, 3, 2}, {2, 3, 0}, {2, 3, 3}}, 2},
                             {{{2, 2, 2},
                               {2, 2, 2},
                               {2, 2, 2},
                               {2, 2, 2},
                               {2, 2, 2},
                               {2, 2, 2},
                               {2, 2, 2},
                               {2, 2, 2},
                               {2, 2, 2},
                               {2, 1, 2}},
                              1}};
  for (const Case& c : cases)
    for (bool mis : {false, true}) {
      const int64_t d = c.dim;
      ConcatDims cd;
      std::vector<int64_t> sizes;
      for (int64_t i = 0; i < d; ++i) cd.outer *= c.shapes[0][static_cast<size_t>(i)];
      for (size_t i = static_cast<size_t>(d) + 1; i < c.shapes[0].size(); ++i) cd.inner *= c.shapes[0][i];
      for (const Shape& s : c.shapes) {
        sizes.push_back(s[static_cast<size_t>(d)]);
        cd.total += s[static_cast<size_t>(d)];
      }
      std::vector<std::vector<float>> vs;
      std::vector<Buf> bufs;
      std::vector<const float*> host_ptrs, dev_ptrs;
      for (size_t i = 0; i < c.shapes.size(); ++i) vs.push_back(random_vec(shape_numel(c.shapes[i]), 10 + i));
      for (size_t i = 0; i < c.shapes.size(); ++i) bufs.push_back(make(vs[i], mis));
      for (size_t i = 0; i < c.shapes.size(); ++i) {
        host_ptrs.push_back(vs[i].data());
        dev_ptrs.push_back(bufs[i].p);
      }
      const int64_t total = cd.outer * cd.total * cd.inner;
      std::vector<float> want(static_cast<size_t>(total));
      Buf out(total, mis);
      const auto count = static_cast<int64_t>(c.shapes.size());
      cpu::concat_fwd<float>(host_ptrs.data(), sizes.data(), count, want.data(), cd);
      kc::concat_fwd(dev_ptrs.data(), sizes.data(), count, out.p, cd);
      expect("concat fwd dim " + std::to_string(d) + " " + str(c.shapes[0]), out.vec(), want);
      // backward: every other piece needed
      const auto vg = random_vec(total, 30);
      Buf g = make(vg, mis);
      std::vector<std::vector<float>> wg;
      std::vector<Buf> gb;
      std::vector<float*> wptr, gptr;
      for (size_t i = 0; i < c.shapes.size(); ++i) {
        wg.emplace_back(static_cast<size_t>(shape_numel(c.shapes[i])), -7.0f);
        gb.emplace_back(shape_numel(c.shapes[i]), mis);
      }
      for (size_t i = 0; i < c.shapes.size(); ++i) {
        for (int64_t k = 0; k < gb[i].n; ++k) gb[i].p[k] = -7.0f;
        const bool need = i % 2 == 0;
        wptr.push_back(need ? wg[i].data() : nullptr);
        gptr.push_back(need ? gb[i].p : nullptr);
      }
      cpu::concat_bwd<float>(vg.data(), wptr.data(), sizes.data(), count, cd);
      kc::concat_bwd(g.p, gptr.data(), sizes.data(), count, cd);
      for (size_t i = 0; i < c.shapes.size(); ++i)
        expect("concat bwd piece " + std::to_string(i), gb[i].vec(), wg[i]);
    }
}

}  // namespace ddpm::emu_check
