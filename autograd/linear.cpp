#include "kernels/linear.h"

#include "autograd/functions.h"
#include "autograd/node.h"

namespace ddpm {

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  Tensor y = kernels::linear_fwd(x, weight, bias);
  const bool gx = x.requires_grad();
  const bool gb = bias.defined() && bias.requires_grad();
  // The bias gradient comes out of the weight-gradient kernel, which needs x.
  const bool gw = weight.requires_grad() || gb;
  return autograd::record("linear", y, {x, weight, bias},
                          [x = gw ? x.detach() : Tensor(), w = weight.detach(), gx, gw, gb](const Tensor& g) {
                            std::vector<Tensor> grads(3);
                            if (gx) grads[0] = kernels::linear_bwd_data(g, w);
                            if (gw) grads[1] = kernels::linear_bwd_weight(x, g, gb ? &grads[2] : nullptr);
                            return grads;
                          });
}

}  // namespace ddpm
