#include "nn/clip_grad.h"

#include <cmath>

#include "kernels/binary.h"
#include "kernels/sum.h"

namespace ddpm::nn {

double grad_norm(const Tensor& g) {
  const Tensor sq = kernels::binary_fwd(kernels::BinaryOp::mul, g, g);
  return std::sqrt(kernels::sum_fwd(sq).item());
}

double clip_grad_norm(Tensor& g, double max_norm) {
  const double norm = grad_norm(g);
  if (max_norm > 0 && std::isfinite(norm) && norm > max_norm) {
    const Tensor scale = Tensor::full({}, max_norm / (norm + 1e-6), g.dtype(), g.device());
    kernels::binary_inplace(kernels::BinaryOp::mul, g, scale);
  }
  return norm;
}

}  // namespace ddpm::nn
