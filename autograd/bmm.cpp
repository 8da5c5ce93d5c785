#include "kernels/bmm.h"

#include "autograd/functions.h"
#include "autograd/node.h"

namespace ddpm {

Tensor bmm(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b) {
  Tensor c = kernels::bmm_fwd(a, b, trans_a, trans_b);
  const bool ga = a.requires_grad(), gb = b.requires_grad();
  return autograd::record(
      "bmm", c, {a, b}, [a = a.detach(), b = b.detach(), trans_a, trans_b, ga, gb](const Tensor& g) {
        std::vector<Tensor> grads(2);
        kernels::bmm_bwd(a, b, trans_a, trans_b, g, ga ? &grads[0] : nullptr, gb ? &grads[1] : nullptr);
        return grads;
      });
}

}  // namespace ddpm
