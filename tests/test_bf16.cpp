// The bf16 dtype: rounding (against an independent reference), tensors of it
// (creation, conversion, fills, draws), ops refusing it by name, safetensors
// BF16 round trips, and the --precision parsing the programs share.
#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "io/safetensors.h"
#include "kernels/math_mode.h"
#include "kernels/precision.h"
#include "kernels/silu.h"
#include "tensor/bf16.h"
#include "tensor/philox.h"
#include "tensor/rng.h"
#include "tensor/tensor.h"
#include "tests/io_util.h"

using namespace ddpm;

namespace {

// Round to nearest even by exhaustive reasoning in double, independent of
// the bit trick in tensor/bf16.h: the two bf16 neighbours of f (truncation
// and the next value away from zero), the nearer one, ties to the even
// mantissa; values past the largest finite bf16's halfway point become inf.
uint16_t reference_round(float f) {
  const uint32_t u = std::bit_cast<uint32_t>(f);
  const uint16_t lo = static_cast<uint16_t>(u >> 16);  // towards zero
  const uint16_t hi = static_cast<uint16_t>(lo + 1);   // away from zero (may reach inf)
  const double x = std::fabs(static_cast<double>(f));
  const double a = std::fabs(static_cast<double>(bf16_bits_to_float(lo)));
  // The upper neighbour's magnitude; for lo = the largest finite, the
  // would-be next value 2^128 (hi's bits are then inf's).
  const double b = (lo & 0x7fffu) == 0x7f7fu ? std::ldexp(1.0, 128)
                                             : std::fabs(static_cast<double>(bf16_bits_to_float(hi)));
  if (x - a < b - x) return lo;
  if (x - a > b - x) return hi;
  return (lo & 1u) == 0 ? lo : hi;
}

}  // namespace

TEST_CASE("tensor: bf16 rounds to nearest even like an independent reference") {
  // Hand-picked: exact values, ties both ways, signs, the overflow edge, tiny
  // and subnormal values.
  const float ulp1 = std::ldexp(1.0f, -7);  // bf16's ulp at 1
  CHECK(float_to_bf16_bits(1.0f) == 0x3f80);
  CHECK(float_to_bf16_bits(1.0f + ulp1 / 2) == 0x3f80);                          // tie, to even (down)
  CHECK(float_to_bf16_bits(1.0f + 3 * ulp1 / 2) == 0x3f82);                      // tie, to even (up)
  CHECK(float_to_bf16_bits(1.0f + ulp1 / 2 + std::ldexp(1.0f, -20)) == 0x3f81);  // past the tie
  CHECK(float_to_bf16_bits(-1.0f - ulp1 / 2) == 0xbf80);
  CHECK(float_to_bf16_bits(std::numeric_limits<float>::max()) == 0x7f80);  // rounds to +inf
  CHECK(float_to_bf16_bits(-std::numeric_limits<float>::infinity()) == 0xff80);
  CHECK(float_to_bf16_bits(-0.0f) == 0x8000);
  CHECK(float_to_bf16_bits(std::numeric_limits<float>::denorm_min()) == 0x0000);
  // NaNs stay NaNs (never inf), quiet, with their sign.
  for (const uint32_t nan_bits : {0x7f800001u, 0x7fc00000u, 0xff800001u, 0x7fffffffu}) {
    const uint16_t b = float_to_bf16_bits(std::bit_cast<float>(nan_bits));
    CHECK(std::isnan(bf16_bits_to_float(b)));
    CHECK((b & 0x0040u) != 0);
    CHECK((b >> 15) == (nan_bits >> 31));
  }
  // Every bf16 value converts to float and back unchanged.
  for (uint32_t b = 0; b < 0x10000u; ++b) {
    const float f = bf16_bits_to_float(static_cast<uint16_t>(b));
    if (std::isnan(f)) continue;
    REQUIRE(float_to_bf16_bits(f) == b);
  }
  // Random float bit patterns (all exponents) and values near ties.
  uint64_t mismatches = 0;
  for (uint64_t i = 0; i < 2000000; ++i) {
    const uint32_t bits = philox::draw(11, 0, i).w[0];
    const float f = std::bit_cast<float>(bits);
    if (std::isnan(f)) continue;
    if (float_to_bf16_bits(f) != reference_round(f)) ++mismatches;
    const float tie = std::bit_cast<float>((bits & 0xffff0000u) | 0x8000u);  // exactly halfway
    if (!std::isnan(tie) && float_to_bf16_bits(tie) != reference_round(tie)) ++mismatches;
  }
  CHECK(mismatches == 0);
}

TEST_CASE("tensor: bf16 tensors convert, fill, draw and describe themselves") {
  const std::vector<float> v = {0.1f, -2.0f, 3.14159f, 1e-30f, 65504.0f, -0.0f};
  const Tensor f = Tensor::from_vector(v, {2, 3});
  const Tensor b = f.to(DType::bf16);
  CHECK(b.dtype() == DType::bf16);
  CHECK(b.nbytes() == 12);
  CHECK(b.desc() == "Tensor[2, 3] bf16 cpu");
  const bf16* p = b.data<bf16>();
  for (size_t i = 0; i < v.size(); ++i) CHECK(p[i].bits == float_to_bf16_bits(v[i]));
  CHECK_THROWS_AS(b.data<float>(), std::invalid_argument);
  // Back to f32 and f64 exactly; from f64 through float.
  const std::vector<float> back = b.to(DType::f32).to_vector<float>();
  for (size_t i = 0; i < v.size(); ++i) CHECK(back[i] == bf16_bits_to_float(p[i].bits));
  CHECK(b.to(DType::f64).to_vector<double>()[2] == static_cast<double>(back[2]));
  CHECK(b.to_vector<float>() == back);
  const Tensor d =
      Tensor::from_vector(std::vector<double>{1.0 + std::ldexp(1.0, -8) + std::ldexp(1.0, -30)}, {1});
  CHECK(d.to(DType::bf16).data<bf16>()[0].bits == float_to_bf16_bits(static_cast<float>(d.item())));
  // Creation, fills, copies.
  Tensor z = Tensor::full({4}, 2.5, DType::bf16);
  for (float x : z.to_vector<float>()) CHECK(x == 2.5f);
  z.fill_(1.0 / 3.0);
  CHECK(z.to_vector<float>()[3] == doctest::Approx(1.0 / 3.0).epsilon(1.0 / 256));
  CHECK(Tensor::full({1}, -0.75, DType::bf16).item() == -0.75);
  CHECK(z.data<bf16>()[0].bits == float_to_bf16_bits(1.0f / 3.0f));
  Tensor into = Tensor::zeros({2, 3});
  into.copy_(b);
  CHECK(into.to_vector<float>() == back);
  // Draws: the f32 draw rounded once.
  const Tensor rb = randn({257}, 5, 2, DType::bf16);
  const Tensor rf = randn({257}, 5, 2, DType::f32);
  for (int64_t i = 0; i < 257; ++i) CHECK(rb.data<bf16>()[i].bits == float_to_bf16_bits(rf.data<float>()[i]));
}

TEST_CASE("tensor: an op without a bf16 kernel refuses a bf16 tensor by name") {
  const Tensor b = Tensor::ones({2, 4}, DType::bf16);
  const std::string e = test::error_message<std::runtime_error>([&] { (void)kernels::silu_fwd(b); });
  CHECK(e.find("silu") != std::string::npos);
  CHECK(e.find("bf16") != std::string::npos);
  CHECK(e.find(".to(DType::f32)") != std::string::npos);
}

TEST_CASE("io: bf16 tensors round-trip through safetensors as BF16") {
  test::TempDir dir;
  const Tensor f = randn({3, 4}, 7, 1);
  const Tensor b = f.to(DType::bf16);
  const std::string path = dir.file("w.safetensors");
  save_safetensors(path, {safetensors_blob("w", b), safetensors_blob("f", f)}, {});
  const SafetensorsFile file = load_safetensors(path);
  CHECK(file.entry("w").dtype == "BF16");
  CHECK(file.bytes("w").size() == 24);
  const Tensor rb = file.tensor("w");
  REQUIRE(rb.dtype() == DType::bf16);
  for (int64_t i = 0; i < 12; ++i) CHECK(rb.data<bf16>()[i].bits == b.data<bf16>()[i].bits);
  // Read as f32: the bf16 values exactly; an F32 entry read as bf16: rounded.
  CHECK(file.tensor("w", DType::f32).to_vector<float>() == b.to_vector<float>());
  const Tensor fb = file.tensor("f", DType::bf16);
  for (int64_t i = 0; i < 12; ++i) CHECK(fb.data<bf16>()[i].bits == b.data<bf16>()[i].bits);
  CHECK(std::string(safetensors_dtype_name(DType::bf16)) == "BF16");
}

TEST_CASE(
    "tools: --precision names parse, set the math mode; bf16 runs on the CPU and on the GPU's tensor cores") {
  using kernels::Precision;
  const kernels::MathModeScope keep(kernels::MathMode::fp32);
  for (const Precision p : {Precision::fp32, Precision::tf32, Precision::bf16})
    CHECK(kernels::parse_precision(kernels::precision_name(p)) == p);
  const std::string bad =
      test::error_message<std::invalid_argument>([] { (void)kernels::parse_precision("fp16"); });
  CHECK(bad.find("'fp16'") != std::string::npos);
  CHECK(bad.find("bf16") != std::string::npos);
  CHECK(kernels::apply_precision(Precision::tf32, Device::cuda).empty());
  CHECK(kernels::math_mode() == kernels::MathMode::tf32);
  CHECK(kernels::apply_precision(Precision::fp32, Device::cpu).empty());
  CHECK(kernels::math_mode() == kernels::MathMode::fp32);
  CHECK(kernels::apply_precision(Precision::tf32, Device::cpu).find("run") != std::string::npos);
  kernels::set_math_mode(kernels::MathMode::fp32);
  // bf16 on the CPU: the mode, and a note naming what runs in BF16.
  const std::string note = kernels::apply_precision(Precision::bf16, Device::cpu);
  CHECK(kernels::math_mode() == kernels::MathMode::bf16);
  CHECK(note.find("BF16") != std::string::npos);
  CHECK(note.find("FP32") != std::string::npos);
  CHECK(std::string(kernels::math_mode_name(kernels::MathMode::bf16)) == "bf16");
  kernels::set_math_mode(kernels::MathMode::fp32);
  // bf16 on the GPU: the same mode (the BF16 tensor-core convolutions), and
  // a note saying that only the convolutions run in BF16.
  const std::string gpu_note = kernels::apply_precision(Precision::bf16, Device::cuda);
  CHECK(kernels::math_mode() == kernels::MathMode::bf16);
  CHECK(gpu_note.find("tensor cores") != std::string::npos);
  CHECK(gpu_note.find("stay FP32") != std::string::npos);
  kernels::set_math_mode(kernels::MathMode::fp32);
}
