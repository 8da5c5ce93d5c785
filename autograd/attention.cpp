#include "kernels/attention.h"

#include "autograd/functions.h"
#include "autograd/node.h"

namespace ddpm {

Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, double scale) {
  Tensor lse;
  Tensor o = kernels::attention_fwd(q, k, v, scale, &lse);
  // The closure keeps the output's data (a detached view, not the output
  // itself: no reference cycle) for delta = sum_e go o.
  return autograd::record(
      "attention", o, {q, k, v},
      [q = q.detach(), k = k.detach(), v = v.detach(), o = o.detach(), lse, scale](const Tensor& g) {
        std::vector<Tensor> grads(3);
        kernels::attention_bwd(q, k, v, o, lse, scale, g, &grads[0], &grads[1], &grads[2]);
        return grads;
      });
}

}  // namespace ddpm
