#include "kernels/matmul.h"

#include "autograd/functions.h"
#include "autograd/node.h"

namespace ddpm {

Tensor matmul(const Tensor& a, const Tensor& b) {
  Tensor c = kernels::matmul_fwd(a, b);
  const bool ga = a.requires_grad(), gb = b.requires_grad();
  return autograd::record("matmul", c, {a, b}, [a = a.detach(), b = b.detach(), ga, gb](const Tensor& g) {
    std::vector<Tensor> grads(2);
    kernels::matmul_bwd(a, b, g, ga ? &grads[0] : nullptr, gb ? &grads[1] : nullptr);
    return grads;
  });
}

}  // namespace ddpm
