// Eigen for the eval layer's .cpp files (never included by a public eval
// header, so callers of eval/ need no Eigen). Include it first: GCC 12's
// AVX-512 intrinsic headers trip -Wmaybe-uninitialized where Eigen's packet
// code is inlined (GCC bug 105593), and the pragma must precede their first
// inclusion (the same note as kernels/cpu/gemm.h).
#pragma once

#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ == 12
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

#include <Eigen/Core>
#include <Eigen/Eigenvalues>

namespace ddpm::eval {

using RowMatrixD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

}  // namespace ddpm::eval
