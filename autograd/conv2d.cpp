#include "kernels/conv2d.h"

#include "autograd/functions.h"
#include "autograd/node.h"

namespace ddpm {

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride, int64_t padding) {
  Tensor y = kernels::conv2d_fwd(x, weight, bias, stride, padding);
  const bool gx = x.requires_grad();
  const bool gb = bias.defined() && bias.requires_grad();
  // The bias gradient comes out of the weight-gradient kernel, which needs x.
  const bool gw = weight.requires_grad() || gb;
  return autograd::record("conv2d", y, {x, weight, bias},
                          [x = gw ? x.detach() : Tensor(), x_shape = x.shape(), w = weight.detach(), stride,
                           padding, gx, gw, gb](const Tensor& g) {
                            std::vector<Tensor> grads(3);
                            if (gx) grads[0] = kernels::conv2d_bwd_data(g, w, x_shape, stride, padding);
                            if (gw)
                              grads[1] = kernels::conv2d_bwd_weight(x, g, w.shape(), stride, padding,
                                                                    gb ? &grads[2] : nullptr);
                            return grads;
                          });
}

}  // namespace ddpm
