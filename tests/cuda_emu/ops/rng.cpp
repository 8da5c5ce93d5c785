// The Philox fills (normal and uniform; float32, float64 and bf16):
// tensor/cuda/rng.cu on the emulation against tensor/philox.h
// (tests/cuda_emu/emu_check.h).
// emu-kernels: tensor/cuda/rng.cu
#include <vector>

#include "tensor/bf16.h"
#include "tensor/cuda_backend.h"
#include "tensor/philox.h"
#include "tests/cuda_emu/emu_check.h"

namespace ddpm::emu_check {

namespace dc = ddpm::cuda;  // the device fills

void emu_rng() {
  for (int64_t n : {1, 5, 1000}) {
    Buf b(n, true);
    std::vector<float> wn(static_cast<size_t>(n)), wu(wn.size());
    for (int64_t i = 0; i < n; ++i) {
      wn[static_cast<size_t>(i)] = static_cast<float>(philox::normal(3, 4, 9 + static_cast<uint64_t>(i)));
      wu[static_cast<size_t>(i)] =
          static_cast<float>(-2.0 + 5.0 * philox::uniform(3, 4, 9 + static_cast<uint64_t>(i)));
    }
    dc::fill_normal(b.p, n, DType::f32, 3, 4, 9);
    expect("fill_normal", b.vec(), wn);
    dc::fill_uniform(b.p, n, DType::f32, -2.0, 3.0, 3, 4, 9);
    expect("fill_uniform", b.vec(), wu);
    std::vector<double> d(static_cast<size_t>(n));
    dc::fill_normal(d.data(), n, DType::f64, 3, 4, 9);
    expect_true("fill_normal f64", d.back() == philox::normal(3, 4, 9 + static_cast<uint64_t>(n - 1)));
    // bf16: the float32 draw rounded once (tensor/rng.cpp's rule).
    std::vector<bf16> h(static_cast<size_t>(n));
    dc::fill_normal(h.data(), n, DType::bf16, 3, 4, 9);
    bool same = true;
    for (int64_t i = 0; i < n; ++i)
      same = same && h[static_cast<size_t>(i)].bits == float_to_bf16_bits(wn[static_cast<size_t>(i)]);
    dc::fill_uniform(h.data(), n, DType::bf16, -2.0, 3.0, 3, 4, 9);
    for (int64_t i = 0; i < n; ++i)
      same = same && h[static_cast<size_t>(i)].bits == float_to_bf16_bits(wu[static_cast<size_t>(i)]);
    expect_true("fill_normal / fill_uniform bf16", same);
  }
}

}  // namespace ddpm::emu_check
