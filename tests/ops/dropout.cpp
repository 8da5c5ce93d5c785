// dropout(x, p, seed, stream, offset): the keep bit of element i from
// Philox at offset + i, kept ones scaled by 1 / (1 - p); the backward draws
// the same mask again.
//
// Gradient checks: the mask is fixed by (seed, stream, offset), so central
// differences see a linear map: several p (0 included), shapes with odd
// sizes. Parity: exact (the same uniform bits and one IEEE multiply on both
// devices), for those, the UNet's 128x16x16 activations at an offset past
// 2^32 (the counter's high word), and an unaligned view (the scalar path).
// Bench shapes: the UNet's activation shapes.
#include <cstdint>
#include <cstdio>
#include <string>

#include "autograd/functions.h"
#include "tests/ops/common.h"

namespace ddpm::test {

using namespace cases;

namespace {
constexpr uint64_t kSeed = 1234, kStream = 8;  // kStream: diffusion/streams.h kDropout
constexpr const char* kWhyDropout =
    "the same Philox uniform bits decide each keep bit, then one IEEE multiply: the same bits";
}  // namespace

std::vector<OpCases> dropout_op_cases() {
  OpCases c{"dropout", {}, {}, {}};
  struct Spec {
    Shape x;
    double p;
    uint64_t offset;
  };
  for (const Spec& s : {Spec{{3, 5}, 0.3, 0}, Spec{{2, 3, 7}, 0.5, 1000}, Spec{{17}, 0.0, 5},
                        Spec{{4, 9}, 0.9, (uint64_t{1} << 32) - 7}}) {
    char p_text[32];
    std::snprintf(p_text, sizeof p_text, "%g", s.p);
    const std::string label = shape_str(s.x) + " p " + p_text + " offset " + std::to_string(s.offset);
    c.grad.push_back(
        {"dropout", label, {s.x}, [s](V in) { return dropout(in[0], s.p, kSeed, kStream, s.offset); }});
  }
  derive_parity(c.grad, kExact, kWhyDropout);
  for (bool unaligned : {false, true}) {
    In x{{4, 128, 16, 16}};
    x.unaligned = unaligned;
    c.parity.push_back(grad_case(
        "dropout", std::string("[4,128,16,16] p 0.1 offset 2^33 + 3") + (unaligned ? " unaligned view" : ""),
        {x}, [](const Inputs& in) { return dropout(in[0], 0.1, kSeed, kStream, (uint64_t{1} << 33) + 3); },
        kExact, kWhyDropout));
  }
  c.parity.push_back(grad_case(
      "dropout", "[3,5,7] (odd, tail) p 0.25 unaligned view", {In{{3, 5, 7}, -1, 1, true, true}},
      [](const Inputs& in) { return dropout(in[0], 0.25, kSeed, kStream, 77); }, kExact, kWhyDropout));
  // ddpm-bench (dropout_fwd): the ResBlocks' dropout runs on silu(norm2(h)),
  // the UNet's activation shapes (the bench's p is kBenchDropoutP,
  // benchmarks/kernel_bench/common.h).
  c.bench = unet_activation_shapes(0);
  return {c};
}

}  // namespace ddpm::test
