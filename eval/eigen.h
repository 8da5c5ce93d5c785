// Eigen for the eval layer's .cpp files (never included by a public eval
// header, so callers of eval/ need no Eigen). Include it first: it brings
// tensor/gcc12_intrinsics.h before Eigen.
#pragma once

// clang-format off
#include "tensor/gcc12_intrinsics.h"  // first: before any AVX-512 header
// clang-format on

#include <Eigen/Core>
#include <Eigen/Eigenvalues>

namespace ddpm::eval {

using RowMatrixD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

}  // namespace ddpm::eval
