// The device fill (float32, float64 and bf16; -0.0 keeps its sign):
// tensor/cuda/fill.cu on the emulation (tests/cuda_emu/emu_check.h).
// emu-kernels: tensor/cuda/fill.cu
#include <cmath>
#include <vector>

#include "tensor/bf16.h"
#include "tensor/cuda_backend.h"
#include "tests/cuda_emu/emu_check.h"

namespace ddpm::emu_check {

namespace dc = ddpm::cuda;  // the device fills

void emu_fill() {
  for (int64_t n : {1, 5, 1000}) {
    Buf b(n, true);
    dc::fill(b.p, n, DType::f32, 2.5);
    expect("fill 2.5", b.vec(), std::vector<float>(static_cast<size_t>(n), 2.5f));
    dc::fill(b.p, n, DType::f32, 0.0);
    expect("fill 0", b.vec(), std::vector<float>(static_cast<size_t>(n), 0.0f));
    dc::fill(b.p, n, DType::f32, -0.0);
    expect_true("fill -0.0 lost its sign", std::signbit(b.p[0]));
    std::vector<double> d(static_cast<size_t>(n));
    dc::fill(d.data(), n, DType::f64, 1.25);
    expect_true("fill f64", d.front() == 1.25 && d.back() == 1.25);
    // bf16: 1/3 rounded to nearest even through float, as on the CPU.
    std::vector<bf16> h(static_cast<size_t>(n));
    dc::fill(h.data(), n, DType::bf16, 1.0 / 3.0);
    const uint16_t want = float_to_bf16_bits(1.0f / 3.0f);
    expect_true("fill bf16", h.front().bits == want && h.back().bits == want);
  }
}

}  // namespace ddpm::emu_check
