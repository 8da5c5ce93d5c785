// The optimiser ops, without a backward: adam_update (Adam, Adam with L2
// weight decay, AdamW; two steps; and AdamW with the fused EMA of the new
// parameters) and ema_update (two updates), in place on parameter buffers,
// aligned or as unaligned views into a flat buffer.
//
// Parity: 1e-6 (a few float operations per element, fused differently).
// Bench: one update of the base-64 UNet's flat parameter buffer, against the
// unfused launches of PyTorch's single-tensor path and the memory roofline.
#include <string>

#include "kernels/adam_update.h"
#include "kernels/ema_update.h"
#include "tests/ops/common.h"

namespace ddpm::test {

using namespace cases;

std::vector<OpCases> optimizer_op_cases() {
  BenchShape params;
  params.label = "UNet params";  // ddpm-bench appends the count
  OpCases adam{"adam_update", {}, {}, {params}}, ema{"ema_update", {}, {}, {params}};
  std::vector<ParityCase> cases;
  for (int mode = 0; mode < 3; ++mode)
    for (bool unaligned : {false, true}) {
      const std::string label = std::string(mode == 0   ? "Adam"
                                            : mode == 1 ? "Adam + L2 weight decay"
                                                        : "AdamW") +
                                ", 1003 parameters" + (unaligned ? ", unaligned views" : "");
      cases.push_back(ParityCase{"adam_update", label,
                                 [mode, unaligned](Device d) {
                                   const Shape s{1003};
                                   Tensor w = make_input({s, -1, 1, false, unaligned}, 10, d);
                                   const Tensor g = make_input({s, -1, 1, false, unaligned}, 11, d);
                                   Tensor m = make_input({s, -1, 1, false, unaligned}, 12, d);
                                   Tensor v = make_input({s, 0, 1, false, unaligned}, 13, d);
                                   kernels::AdamParams p;
                                   p.lr = 1e-2;
                                   p.weight_decay = mode == 0 ? 0.0 : 0.1;
                                   p.decoupled = mode == 2;
                                   p.step = 3;
                                   kernels::adam_update(w, g, m, v, p);
                                   p.step = 4;
                                   kernels::adam_update(w, g, m, v, p);
                                   return NamedResults{{"param", w}, {"exp_avg", m}, {"exp_avg_sq", v}};
                                 },
                                 kRounding, kWhyRounding});
    }
  for (bool unaligned : {false, true})
    cases.push_back(
        ParityCase{"adam_update",
                   std::string("AdamW + fused EMA, 1003 parameters") + (unaligned ? ", unaligned views" : ""),
                   [unaligned](Device d) {
                     const Shape s{1003};
                     Tensor w = make_input({s, -1, 1, false, unaligned}, 10, d);
                     const Tensor g = make_input({s, -1, 1, false, unaligned}, 11, d);
                     Tensor m = make_input({s, -1, 1, false, unaligned}, 12, d);
                     Tensor v = make_input({s, 0, 1, false, unaligned}, 13, d);
                     Tensor e = make_input({s, -1, 1, false, unaligned}, 14, d);
                     kernels::AdamParams p;
                     p.lr = 1e-2;
                     p.weight_decay = 0.1;
                     p.decoupled = true;
                     p.step = 3;
                     p.ema_decay = 0.9;
                     kernels::adam_update(w, g, m, v, p, &e);
                     p.step = 4;
                     p.ema_decay = 0.995;
                     kernels::adam_update(w, g, m, v, p, &e);
                     return NamedResults{{"param", w}, {"exp_avg", m}, {"exp_avg_sq", v}, {"ema", e}};
                   },
                   kRounding, kWhyRounding});
  for (bool unaligned : {false, true})
    cases.push_back(ParityCase{"ema_update",
                               std::string("1003 elements") + (unaligned ? ", unaligned views" : ""),
                               [unaligned](Device d) {
                                 Tensor e = make_input({{1003}, -1, 1, false, unaligned}, 10, d);
                                 const Tensor p = make_input({{1003}, -1, 1, false, unaligned}, 11, d);
                                 kernels::ema_update(e, p, 0.995);
                                 kernels::ema_update(e, p, 0.9);
                                 return NamedResults{{"ema", e}};
                               },
                               kRounding, kWhyRounding});
  for (const ParityCase& p : cases) (p.op == "adam_update" ? adam : ema).parity.push_back(p);
  return {adam, ema};
}

}  // namespace ddpm::test
