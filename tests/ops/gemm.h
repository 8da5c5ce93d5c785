// TF32 tolerance of the cuBLAS GEMMs (linear, matmul): cuBLAS's TF32 kernels
// may truncate the operands (toward zero), which biases every product by up
// to 2^-10 in the same direction relative to it: ~1e-3 coherent plus the
// random part: 4e-3.
#pragma once

namespace ddpm::test::cases {

constexpr double kCublasTf32Tol = 4e-3;
inline constexpr const char* kCublasTf32Why =
    "cuBLAS TF32 may truncate operands: up to 2^-10 coherent bias per product, ~1e-3";

}  // namespace ddpm::test::cases
